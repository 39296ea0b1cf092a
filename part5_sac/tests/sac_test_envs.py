"""Small envs and an agent factory shared by this part's tests."""
import gymnasium as gym
import numpy as np

from agent import Agent
from train import get_config
from wrappers import RescaleAction


class CounterEnv(gym.Env):
    """obs = [t, t, t] after t steps; ends by termination at `terminate_at` steps (0 = never).

    The action space has asymmetric bounds, and every action the env receives is recorded, so tests can
    check what the agent's wrapper sends. A TimeLimit around it ends episodes by truncation.
    """

    def __init__(self, terminate_at=0):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Box(np.array([0.0, -3.0], np.float32), np.array([1.0, 5.0], np.float32))
        self.terminate_at, self.t, self.received, self.steps_taken = terminate_at, 0, [], 0

    def obs(self):
        return np.full(3, float(self.t), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.obs(), {}

    def step(self, action):
        self.received.append(np.array(action, dtype=np.float64))
        self.t += 1
        self.steps_taken += 1
        return self.obs(), 1.0, self.terminate_at > 0 and self.t >= self.terminate_at, False, {}


def counter_env(time_limit=3, terminate_at=0):
    """CounterEnv truncated after `time_limit` steps, actions rescaled as train.py does."""
    inner = CounterEnv(terminate_at)
    return RescaleAction(gym.wrappers.TimeLimit(inner, time_limit)), inner


def tiny_agent(*flags, obs_dim=3, action_dim=2):
    config = get_config(["--hidden", "16", "16", "--batch-size", "8", "--buffer-size", "64", "--learning-starts", "0",
                         *map(str, flags)])
    return Agent(config, obs_dim, action_dim)

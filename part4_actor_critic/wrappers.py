"""Environments for actor-critic: the checked single env, the vector env, and running normalisation.

Actor-critic learns from short rollouts of many copies of an env stepped together: a gymnasium vector env.
Each call `envs.step(actions)` steps every copy once and returns arrays with one row per copy.

The autoreset mode matters. When a sub-env's episode ends, gymnasium 1.x resets it by itself; we use the
default mode, NEXT_STEP, and say so explicitly:
- the step that ends an episode returns the episode's real final observation (in `obs`, not in `info`);
- the NEXT call to `step` ignores that sub-env's action, resets it, and returns the new episode's first
  observation with reward 0 and terminated = truncated = False. That call is not a transition of any
  episode: the collection loop marks it invalid so it never enters the loss (see Agent.collect_rollouts).
Why NEXT_STEP and not SAME_STEP: with NEXT_STEP, the observation after step t is always the observation
stored at step t + 1, so V(next state) is just the next row of the values we compute anyway, also at a
time-limit truncation (where we must bootstrap from V(real final observation)). SAME_STEP would hide the
final observation in `info["final_obs"]`, an object array to unpack and value separately at every episode
end. The price of NEXT_STEP is one wasted slot per episode (1 in 500 on a solved CartPole).
"""
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from plumbing import UserError

AUTORESET_MODE = AutoresetMode.NEXT_STEP


def check_spaces(env_id, observation_space, action_space):
    """Actor-critic here needs a flat Box observation and Discrete or Box actions; anything else is a UserError."""
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        shape = getattr(observation_space, "shape", None)
        if shape is not None and len(shape) == 3:
            raise UserError(f"{env_id!r} has image observations {shape}: this part's networks take flat vectors "
                            "(Part 2 learns from pixels)")
        raise UserError(f"{env_id!r} has observations {observation_space}; this network needs a flat Box")
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) != 1:
        raise UserError(f"{env_id!r} has actions {action_space}; a Box action must be a flat vector")
    if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise UserError(f"{env_id!r} has actions {action_space}; actor-critic here handles Discrete or Box actions")


def make_env(env_id, max_episode_steps=0, render_mode=None):
    """One env (greedy evaluation, test.py), checked. max_episode_steps 0 = the env's own time limit."""
    try:
        env = gym.make(env_id, render_mode=render_mode, max_episode_steps=max_episode_steps or None)
    except gym.error.DependencyNotInstalled as e:
        raise UserError(f"{env_id!r} needs an extra package: {e}") from None
    except gym.error.Error as e:
        raise UserError(f"cannot create {env_id!r}: {e}") from None
    check_spaces(env_id, env.observation_space, env.action_space)
    return env


def make_vector_env(env_id, num_envs, max_episode_steps=0, asynchronous=False):
    """`num_envs` copies of `env_id` stepped together: in this process (SyncVectorEnv, the default), or in
    one worker process each (AsyncVectorEnv), which pays only when one env step costs far more than the
    messages between processes (not CartPole's 10 microseconds; maybe a physics simulator's milliseconds)."""
    make_env(env_id, max_episode_steps).close()  # the same checks, with one-line errors
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="async" if asynchronous else "sync",
                        vector_kwargs={"autoreset_mode": AUTORESET_MODE},
                        max_episode_steps=max_episode_steps or None)


class RunningMeanStd:
    """Mean and variance of everything seen so far, updated a batch at a time (Chan et al.'s parallel formula).

    shape () for a scalar (the return, for reward scaling), (n_obs,) for observations.
    """

    def __init__(self, shape=()):
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4  # a tiny prior count: no division by zero before the first batch

    def update(self, batch):
        """batch: (k, *shape)."""
        batch_mean, batch_var, k = batch.mean(0), batch.var(0), batch.shape[0]
        delta, total = batch_mean - self.mean, self.count + k
        self.mean = self.mean + delta * k / total
        self.var = (self.var * self.count + batch_var * k + delta**2 * self.count * k / total) / total
        self.count = total

    def state_dict(self):
        """Plain lists and floats: the checkpoint stays loadable with weights_only=True."""
        return dict(mean=np.asarray(self.mean).tolist(), var=np.asarray(self.var).tolist(), count=float(self.count))

    def load_state_dict(self, state):
        self.mean, self.var = np.array(state["mean"], dtype=np.float64), np.array(state["var"], dtype=np.float64)
        self.count = state["count"]


class ObservationNormalizer:
    """(obs - running mean) / running std, clipped to [-clip, clip]: inputs of order 1 whatever the env's units.

    Only training updates the statistics; evaluation and test.py use them frozen (`update=False`).
    """

    def __init__(self, n_obs, clip=10.0):
        self.stats, self.clip = RunningMeanStd((n_obs,)), clip

    def __call__(self, obs, update=False):
        """obs (batch, n_obs) -> float32 (batch, n_obs)."""
        if update:
            self.stats.update(obs)
        normalized = (obs - self.stats.mean) / np.sqrt(self.stats.var + 1e-8)
        return np.clip(normalized, -self.clip, self.clip).astype(np.float32)


class RewardScaler:
    """Divide rewards by the running std of the discounted return (what SB3's VecNormalize does).

    Rewards keep their sign and their mean (no shift, which would change what the best policy is); only
    their scale becomes about 1, so the critic's targets and one learning rate suit any env.
    """

    def __init__(self, num_envs, gamma, clip=10.0):
        self.stats, self.gamma, self.clip = RunningMeanStd(()), gamma, clip
        self.returns = np.zeros(num_envs)

    def __call__(self, rewards, done):
        """rewards, done: (num_envs,). Returns the scaled float32 rewards."""
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        self.returns[done] = 0.0
        return np.clip(rewards / np.sqrt(self.stats.var + 1e-8), -self.clip, self.clip).astype(np.float32)

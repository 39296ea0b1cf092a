"""Seeded learning tests: they fail when Q-learning breaks. Seeds 0 and 1 only (never the suite's 101-103)."""
import gymnasium as gym
import numpy as np
import pytest

from agent import QLearningAgent
from linear_q import LinearQAgent
from wrappers import make_env


def one_hot(env):
    """FrozenLake with one-hot feature vectors as observations: linear Q over them is a table."""
    space = gym.spaces.Box(0.0, 1.0, (16,), np.float64)
    return gym.wrappers.TransformObservation(env, lambda state: np.eye(16)[state], space)


@pytest.mark.parametrize("agent_class", [QLearningAgent, LinearQAgent])
def test_non_slippery_frozenlake_is_solved(agent_class):
    wrap = one_hot if agent_class is LinearQAgent else (lambda env: env)
    env, eval_env = wrap(make_env("FrozenLake-v1", slippery=False)), wrap(make_env("FrozenLake-v1", slippery=False))
    agent = agent_class(16, 4, alpha=0.5, gamma=0.95, epsilon=1.0, epsilon_min=0.05, epsilon_decay=0.999, seed=0)
    agent.train(env, total_steps=20_000, seed=0)
    mean, _, success = agent.evaluate(eval_env, episodes=20, seed=1)
    assert success == 1.0 and mean == 1.0
    assert agent.epsilon == 0.05

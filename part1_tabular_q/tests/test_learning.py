"""Seeded learning test: fails when Q-learning breaks."""
from agent import QLearningAgent
from wrappers import make_env


def test_non_slippery_frozenlake_is_solved():
    env, eval_env = make_env("FrozenLake-v1", slippery=False), make_env("FrozenLake-v1", slippery=False)
    agent = QLearningAgent(16, 4, alpha=0.5, gamma=0.95, epsilon=1.0, epsilon_min=0.05, epsilon_decay=0.999, seed=0)
    agent.train(env, total_steps=20_000, seed=0)
    mean, _, success = agent.evaluate(eval_env, episodes=20, seed=1)
    assert success == 1.0 and mean == 1.0
    assert agent.epsilon == 0.05

"""Seeded learning test: fails when DQN learning breaks."""
import torch

from agent import Agent
from train import get_config, make_env


def test_cartpole_learns():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = get_config(["--env-id", "CartPole-v1", "--total-steps", "15000", "--seed", "0", "--hidden", "64", "64",
                         "--train-freq", "4", "--gradient-steps", "1", "--learning-rate", "1e-3",
                         "--target-update-interval", "1", "--tau", "0.01", "--double", "--batch-size", "64",
                         "--exploration-fraction", "0.2", "--learning-starts", "500", "--eval-every", "2500"])
    env, eval_env = make_env(config), make_env(config)
    agent = Agent(config, env.observation_space.shape, int(env.action_space.n))
    best = []
    agent.train(env, on_eval=lambda step, seconds: best.append(agent.evaluate(eval_env, 5, seed=step)[0]))
    assert max(best) >= 195, best

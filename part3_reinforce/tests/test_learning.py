"""Seeded learning test: fails when REINFORCE breaks."""
import torch

from agent import Agent
from train import get_config, make_env, make_envs


def test_cartpole_learns():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = get_config(["--total-steps", "40000", "--seed", "0", "--eval-every", "10000"])
    envs, eval_env = make_envs(config), make_env(config)
    agent = Agent(config, eval_env.observation_space, eval_env.action_space)
    evaluations = []
    agent.train(envs, on_eval=lambda step, seconds: evaluations.append(agent.evaluate(eval_env, 5, seed=step)[0]))
    assert max(evaluations) >= 195, evaluations

"""Seeded learning test: fails when DQN learning breaks."""
import torch

from train import build, get_config


def test_cartpole_learns():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = get_config(["--env-id", "CartPole-v1", "--total-steps", "15000", "--seed", "0", "--hidden", "64", "64",
                         "--train-freq", "4", "--gradient-steps", "1", "--learning-rate", "1e-3",
                         "--target-update-interval", "1", "--tau", "0.01", "--double", "--batch-size", "64",
                         "--exploration-fraction", "0.2", "--learning-starts", "500", "--eval-every", "2500"])
    env, eval_env, agent = build(config)  # FastAgent: tests/test_fast.py ties it to the textbook Agent
    best = []
    agent.train(env, on_eval=lambda step, seconds: best.append(agent.evaluate(eval_env, 5, seed=step)[0]))
    assert max(best) >= 195, best

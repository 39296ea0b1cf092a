"""Seeded learning tests: fail when A2C or PPO stops learning CartPole."""
import pytest

from train import build, get_config


@pytest.mark.parametrize("algo,seed,steps", [("a2c", 3, 20_000), ("ppo", 1, 20_480)])
def test_cartpole_learns(algo, seed, steps):
    config = get_config(["--algo", algo, "--total-steps", str(steps), "--eval-every", str(steps // 4), "--seed", str(seed)])
    envs, eval_env, agent = build(config)
    evaluations = []
    agent.train(envs, on_eval=lambda step, seconds: evaluations.append(agent.evaluate(eval_env, 5)[0]))
    assert max(evaluations) >= 195, evaluations  # a random policy scores about 20

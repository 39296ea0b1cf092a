"""Seeded learning test: fails when SAC learning breaks."""
from train import build, get_config


def test_pendulum_learns_to_swing_up():
    # small networks so the test stays short; 4000 steps is about where a swing-up appears
    config = get_config(["--seed", "5", "--total-steps", "4000", "--eval-every", "4000", "--hidden", "64", "64",
                         "--batch-size", "128", "--learning-starts", "500"])
    env, eval_env, agent = build(config)
    scores = []
    agent.train(env, on_eval=lambda step, seconds: scores.append(agent.evaluate(eval_env, 5)[0]))
    # a random policy scores about -1200 on Pendulum, and this run's policy still did at 2000 steps
    assert scores == [scores[-1]] and scores[-1] >= -400, scores

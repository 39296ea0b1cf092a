"""What fast.py buys: the textbook Agent and FastAgent training side by side, taking turns in one process.

    python part4_actor_critic/speed.py                      # A2C on CartPole-v1, the preset
    python part4_actor_critic/speed.py --algo ppo --rounds 5

Each agent trains on its own copy of the preset's vector env; they take turns of `--updates` rollouts and
updates each, timed in CPU seconds of this process (time.process_time), so that other programs on a
shared machine drop out and both sides see the same machine. Prints env steps per CPU second of each, per
round, and the median ratio.
"""
import argparse
import time

import numpy as np

import train
from utils import run_main


def measure(argv, rounds, updates):
    """{"textbook": [steps/s per round], "fast": [...]} for the config `argv` (train.py flags)."""
    sides = {}
    for name, flag in (("textbook", "--no-fast"), ("fast", "--fast")):
        envs, _, agent = train.build(train.get_config([*argv, flag]))
        agent.start(envs, seed=agent.config.seed)
        sides[name] = (envs, agent, [])
    for _ in range(rounds + 1):  # the first round warms up both and is not counted
        for envs, agent, speeds in sides.values():
            started, steps = time.process_time(), agent.steps
            for _ in range(updates):
                agent.collect_rollouts(envs)
                agent.learn()
            speeds.append((agent.steps - steps) / (time.process_time() - started))
    return {name: speeds[1:] for name, (_, _, speeds) in sides.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", default="a2c")
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--updates", type=int, default=100, help="rollouts and updates per turn")
    args = parser.parse_args()
    speeds = measure(["--env-id", args.env_id, "--algo", args.algo], args.rounds, args.updates)
    for name, values in speeds.items():
        print(f"{name:>8}: median {np.median(values):,.0f} env steps per CPU second "
              f"({', '.join(f'{v:,.0f}' for v in values)})")
    ratios = np.array(speeds["fast"]) / np.array(speeds["textbook"])
    print(f"fast / textbook, round by round: median {np.median(ratios):.2f}x (range {ratios.min():.2f}-{ratios.max():.2f})")


if __name__ == "__main__":
    run_main(main)  # Ctrl-C, SIGTERM: one line, exit 130

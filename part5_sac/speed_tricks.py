"""Measure what fast.py buys: the textbook Agent and FastAgent taking turns in one process, one torch thread.

    python part5_sac/speed_tricks.py                  # Pendulum preset (64-64, batch 256), 10 rounds
    python part5_sac/speed_tricks.py --hidden 256 256 # SB3's networks (the preset's before 64-64)
    python part5_sac/speed_tricks.py --rounds 4 --steps 100

Both agents start from the same seed with the same replay memory (2,000 Pendulum steps). Each round, each
agent does `--steps` gradient steps (the textbook first on even rounds, FastAgent first on odd ones); the
ratio textbook time / fast time per round is printed, then the median and range. Absolute times depend on
the machine and its load; the ratios, measured turn by turn, much less.
"""
import argparse
import time

import numpy as np
import torch

import train
from agent import Agent
from fast import FastAgent
from utils import run_main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200, help="gradient steps per agent per round")
    parser.add_argument("--hidden", type=int, nargs="+", help="hidden layer sizes (default: the Pendulum preset's)")
    args = parser.parse_args()
    config = train.get_config(["--total-steps", "3000"] + (["--hidden", *map(str, args.hidden)] if args.hidden else []))
    torch.set_num_threads(1)
    agents = {}
    for name, agent_class in (("textbook", Agent), ("fast", FastAgent)):
        env = train.make_env(config)
        torch.manual_seed(0)
        agents[name] = agent_class(config, env.observation_space.shape[0], env.action_space.shape[0])
        agents[name].collect_rollouts(env, 2000)
        agents[name].learn(5)  # warm-up: first calls allocate
    ratios, per_step = [], {"textbook": [], "fast": []}
    for r in range(args.rounds):
        seconds = {}
        for name in (("textbook", "fast") if r % 2 == 0 else ("fast", "textbook")):
            start = time.perf_counter()
            agents[name].learn(args.steps)
            seconds[name] = time.perf_counter() - start
            per_step[name].append(seconds[name] / args.steps * 1e3)
        ratios.append(seconds["textbook"] / seconds["fast"])
        print(f"round {r + 1}: textbook {per_step['textbook'][-1]:.2f} ms, fast {per_step['fast'][-1]:.2f} ms "
              f"per gradient step: {ratios[-1]:.2f}x", flush=True)
    print(f"FastAgent / textbook speed per gradient step: median {np.median(ratios):.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}) over {args.rounds} rounds; median ms per step: "
          f"textbook {np.median(per_step['textbook']):.2f}, fast {np.median(per_step['fast']):.2f}")


if __name__ == "__main__":
    run_main(main)  # Ctrl-C, SIGTERM: one line, exit 130

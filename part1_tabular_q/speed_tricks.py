"""What each speed trick of agent.py buys: the training loop with and without it, in one process, taking turns.

    python part1_tabular_q/speed_tricks.py                 # FrozenLake, 5 rounds of 100k steps per variant
    python part1_tabular_q/speed_tricks.py --env-id Pendulum-v1 --steps 50000

The variants replace one trick each by its plain numpy version; the env, the steps and the seed are the
same. Taking turns in one process (variant A, B, C, then A, B, C again, ...) exposes every variant to the
same machine load, so the ratios hold even when the absolute speeds swing. Prints the median steps/s of
each variant and its ratio to ours.
"""
import argparse
import statistics
import time

import numpy as np

from agent import QLearningAgent
from plumbing import UserError, run_main
from wrappers import make_env


class NumpyRows(QLearningAgent):
    """Rows read as numpy arrays: np.max / np.flatnonzero instead of `.tolist()` and Python's max."""

    def greedy_action(self, state):
        q = self.q_table[state]
        best = np.flatnonzero(q == q.max())
        return int(best[0]) if len(best) == 1 else int(self.rng.choice(best))

    def update(self, state, action, reward, next_state, terminated):
        target = reward if terminated else reward + self.gamma * self.q_table[next_state].max()
        td_error = target - self.q_table[state, action]
        self.q_table[state, action] += self.alpha * td_error
        return td_error


class NumpyRandom(QLearningAgent):
    """Exploration draws from numpy's Generator instead of Python's random.Random."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.np_rng = np.random.default_rng(0)

    def get_action(self, state, greedy=False):
        if not greedy and self.np_rng.random() < self.epsilon:
            return int(self.np_rng.integers(self.n_actions))
        return self.greedy_action(state)


VARIANTS = {"ours": QLearningAgent, "numpy rows": NumpyRows, "numpy random": NumpyRandom}


def steps_per_second(agent_class, env_id, steps, seed):
    env = make_env(env_id)
    agent = agent_class(env.observation_space.n, env.action_space.n, alpha=0.05, gamma=0.99, epsilon=1.0,
                        epsilon_min=0.05, epsilon_decay=0.99995, seed=seed)
    start = time.perf_counter()
    agent.train(env, steps, seed)
    return steps / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="FrozenLake-v1", help="FrozenLake-v1 or Pendulum-v1")
    parser.add_argument("--steps", type=int, default=100_000, help="training steps per variant and round")
    parser.add_argument("--rounds", type=int, default=5, help="turns each variant takes")
    args = parser.parse_args(argv)
    for name in ("steps", "rounds"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be at least 1, got {getattr(args, name)}")
    rates = {name: [] for name in VARIANTS}
    for round_ in range(args.rounds):
        for name, agent_class in VARIANTS.items():
            rates[name].append(steps_per_second(agent_class, args.env_id, args.steps, seed=round_))
    ours = statistics.median(rates["ours"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{args.env_id} {name:>13}: {median:>9,.0f} steps/s (median of {args.rounds}), ours / this = {ours / median:.2f}")


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")  # Ctrl-C, SIGTERM: one line, exit 130

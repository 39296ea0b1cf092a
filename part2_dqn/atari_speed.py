"""What a Pong gradient step, a greedy action and a raw env step cost on this CPU, and what helps.

    python part2_dqn/atari_speed.py               # a few minutes: both CNNs, channels_last, batch sizes, Agent vs FastAgent, 42x42 frames
    python part2_dqn/atari_speed.py --threads     # also two torch threads (they collapse on a shared machine)
    python part2_dqn/atari_speed.py --learner     # only --actor-learner's learner: its second thread, two torch threads

Every case is built from the `--env-id ALE/Pong-v5` preset (train.build), with its memory filled by 2,000
random steps. Then the cases take turns, `--rounds` times: each runs 10 gradient steps (`agent.learn(1)`:
sampling, stacks rebuilt, the Double 3-step target, Huber loss, the update) and 50 greedy actions. Times
are CPU seconds of this process (`time.process_time`), so other programs on the machine drop out; taking
turns puts every case in the same state of the caches. Prints markdown tables of the medians (and
ranges) over the rounds; the raw rate is of the preprocessed env (AtariPreprocessing + frame stack +
reward clipping) with random actions, what the agent's loop steps. The agents sample from 2,000
transitions (whose frames stay in the CPU's caches), so a minibatch drawn from a full 100k-transition
memory of random frames is timed on its own.
"""
import argparse
import statistics
import time

import numpy as np
import torch

import train
from memory import FrameReplayMemory
from plumbing import run_main

PREFILL = 2_000


def build(flags):
    """A Pong-preset agent and env after PREFILL random steps (learning has not started)."""
    config = train.get_config(["--env-id", "ALE/Pong-v5", "--buffer-size", "5000", *flags])
    env, _, agent = train.build(config)
    agent.epsilon = 1.0
    agent.collect_rollouts(env, PREFILL)
    return config, env, agent


def cpu_ms(fn, n):
    """CPU milliseconds per call of fn, over n calls."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e3


def raw_steps_per_cpu_second(env, n=1_000):
    """Random-action steps of the preprocessed env per CPU second."""
    start = time.process_time()
    for _ in range(n):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return n / (time.process_time() - start)


def full_memory(capacity=100_000, n_steps=3, episode=2_000, seed=0):
    """A FrameReplayMemory of the preset's size, full of random frames in episodes of `episode` steps: the
    prefilled agents above sample from 2,000 transitions, whose frames sit in the CPU's caches; a full
    memory's do not."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (64, 84, 84), dtype=np.uint8)
    memory = FrameReplayMemory(capacity, (4, 84, 84), seed=seed, n_steps=n_steps)
    for t in range(capacity + 500):
        stack = pool[rng.integers(0, len(pool), 4)]
        memory.push(stack, 0, 0.0, stack, False, 0.99, steps=1, episode_over=(t + 1) % episode == 0)
    return memory


def learner_wall_ms(rounds):
    """--actor-learner's learner on a full memory of random frames, wall milliseconds per gradient step (its
    second thread and two torch threads run on the other core, which CPU time would count twice): one step
    after the other, with the prefetching thread, with two torch threads, both; 40 steps a turn."""
    memory = full_memory()
    agents = {}
    for prefetch in (False, True):
        config = train.get_config(["--env-id", "ALE/Pong-v5", "--actor-learner", "--buffer-size", "1000",
                                   *([] if prefetch else ["--no-prefetch"])])
        agents[prefetch] = train.build(config)[2]
        agents[prefetch].memory = memory
    cases = [("one thread, one step after the other (`--no-prefetch`)", False, 1),
             ("the prefetching thread (the default)", True, 1),
             ("two torch threads (`--torch-threads 2 --no-prefetch`)", False, 2), ("both", True, 2)]
    ms = {label: [] for label, *_ in cases}
    for round_ in range(rounds + 1):  # round 0 warms up
        for label, prefetch, threads in cases:
            torch.set_num_threads(threads)
            start = time.perf_counter()
            agents[prefetch].learn(40)
            if round_:
                ms[label].append((time.perf_counter() - start) / 40 * 1e3)
    agents[True].helper.shutdown()
    torch.set_num_threads(1)
    print(f"--actor-learner's learner, Pong preset, batch 32, a full 100k-transition memory of random frames, "
          f"{rounds} rounds taking turns in one process, WALL time (both cores should be otherwise idle), torch "
          f"{torch.__version__}; median (range)\n")
    print("| learner | gradient step, ms |\n|-|-|")
    for label, *_ in cases:
        print(f"| {label} | {cell(ms[label])} |")


def cell(values, digits=1):
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="turns each case takes (after one warm-up turn)")
    parser.add_argument("--threads", action="store_true", help="add the two networks on two torch threads")
    parser.add_argument("--learner", action="store_true",
                        help="only --actor-learner's learner, in wall time: its prefetching thread, two torch threads")
    args = parser.parse_args(argv)
    if args.learner:
        return learner_wall_ms(args.rounds)

    # (label, flags, torch threads, channels_last)
    cases = [("2013 (small), the preset", [], 1, False),
             ("2013 (small), channels_last", [], 1, True),
             ("Nature", ["--convolutions", "nature", "--hidden", "512"], 1, False),
             ("Nature, channels_last", ["--convolutions", "nature", "--hidden", "512"], 1, True),
             ("2013 (small), textbook Agent (--no-fast)", ["--no-fast"], 1, False),
             ("2013 (small), 42x42 frames (--screen-size 42)", ["--screen-size", "42"], 1, False)]
    if args.threads:
        cases += [("2013 (small), two threads", [], 2, False),
                  ("Nature, two threads", ["--convolutions", "nature", "--hidden", "512"], 2, False)]
    batches = [64, 128]  # the same replay ratio: batch 64 every 2 steps is batch 32 after every step

    torch.set_num_threads(1)
    built = {}
    for label, flags, _, channels_last in cases:
        built[label] = build(flags)
        if channels_last:
            for net in (built[label][2].q_network, built[label][2].target_network):
                net.to(memory_format=torch.channels_last)
    for b in batches:
        built[f"batch {b}"] = build(["--batch-size", str(b)])
    obs = {name: env.reset(seed=0)[0] for name, (_, env, _) in built.items()}  # each case's own frame size
    raw_env = train.make_env(built[cases[0][0]][0])
    raw_env.reset(seed=0)
    raw_env.action_space.seed(0)
    memory = full_memory()

    step_ms = {name: [] for name in built}
    action_ms = {name: [] for name in built}
    raw, sample_ms = [], []
    threads = {label: t for label, _, t, _ in cases}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for name, (_, _, agent) in built.items():
            torch.set_num_threads(threads.get(name, 1))
            s, a = cpu_ms(lambda: agent.learn(1), 10), cpu_ms(lambda: agent.greedy_action(obs[name]), 50)
            if round_:
                step_ms[name].append(s)
                action_ms[name].append(a)
        torch.set_num_threads(1)
        r = raw_steps_per_cpu_second(raw_env)
        m = cpu_ms(lambda: memory.gather(memory.sample_indices(32)), 50)
        if round_:
            raw.append(r)
            sample_ms.append(m)

    print(f"ALE/Pong-v5 preset, batch 32 unless stated, {args.rounds} rounds taking turns in one process, "
          f"CPU time, torch {torch.__version__}; median (range)\n")
    print("| network | gradient step, ms | greedy action, ms |\n|-|-|-|")
    for label, *_ in cases:
        print(f"| {label} | {cell(step_ms[label])} | {cell(action_ms[label], 2)} |")
    small = cases[0][0]
    print("\n| batch (same replay ratio) | gradient step, ms | ms per 32 transitions |\n|-|-|-|")
    for name, b in [(small, 32)] + [(f"batch {b}", b) for b in batches]:
        per32 = [m / b * 32 for m in step_ms[name]]
        print(f"| {b} | {cell(step_ms[name])} | {cell(per32)} |")
    print(f"\nsampling 32 transitions from a full 100k-transition memory, stacks rebuilt: {cell(sample_ms, 2)} ms")
    print(f"raw preprocessed env, random actions: {cell(raw, 0)} steps per CPU second")
    preset = built[small][0]
    per_agent_step = (statistics.median(step_ms[small]) * preset.gradient_steps / preset.train_freq
                      + statistics.median(action_ms[small]))
    print(f"the preset's cost per agent step ({preset.gradient_steps} gradient step(s) per {preset.train_freq} "
          f"agent step(s) + a greedy action): "
          f"{per_agent_step:.1f} ms, i.e. at most {1e3 / (per_agent_step + 1e3 / statistics.median(raw)):,.0f} "
          f"agent steps per CPU second with the env")


if __name__ == "__main__":
    run_main(main)

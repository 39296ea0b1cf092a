"""Collection against raw env stepping, side by side in one process: the cost of acting with the policy.

    python benchmarks/collect_speed.py part4_actor_critic train.py --env-id CartPole-v1 --algo a2c [--seconds 10]

Builds the run as the part's train.py does (`train.get_config(argv)`, then `train.build(config, "cpu")` ->
(envs, eval_env, agent)) and a second, identical vector env with the part's own `make_envs(config)`, then takes
turns: the agent collects with its current policy (`agent.collect_rollouts(envs)`, after `agent.start(envs,
seed)` where the agent has one; Part 3's agent names it `collect_episodes(envs)`) for a quarter second, then
the second env steps with random actions (`action_space.sample()`) for a quarter second, and so on for
--seconds. Whatever the shared machine does, both sides meet it within a quarter second of each other, so
their ratio is the code's, not the load's (two separate processes measured 2-5x apart on this machine).

Collection counts the env steps the agent counts (`agent.steps`); raw stepping counts every sub-env of every
vector step. The policy is the freshly built one (nothing learns between turns), so the figure is the cost of
collection itself. Prints one JSON line: {"collect_steps_per_second", "raw_steps_per_second", "ratio",
"rounds", "seconds"}.
"""
import importlib.util
import json
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLICE = 0.25  # seconds of each turn


def collector(agent, envs, seed):
    """A function that collects one batch with the agent's current policy (the part's own collection loop)."""
    if hasattr(agent, "collect_rollouts"):
        if hasattr(agent, "start"):
            agent.start(envs, seed=seed)
        return lambda: agent.collect_rollouts(envs)
    if hasattr(agent, "collect_episodes"):
        first = [True]

        def collect():
            agent.collect_episodes(envs, seed=seed if first[0] else None)
            first[0] = False
        return collect
    raise SystemExit("error: the agent has no collect_rollouts (or collect_episodes) to time")


def take_turns(collect, count, step, seconds, slice_=SLICE, clock=time.perf_counter):
    """Alternate `collect()` (after which `count()` is the agent's step count) and `step()` (one random-action
    vector step, returning the env steps it took) in turns of `slice_` seconds each until `seconds` have passed;
    returns (collected steps, collection seconds, raw steps, raw seconds, rounds)."""
    collected = collect_time = raw = raw_time = 0.0
    rounds, started = 0, clock()
    while rounds < 2 or clock() - started < seconds:
        before, t0 = count(), clock()
        while clock() - t0 < slice_:
            collect()
        collect_time += clock() - t0
        collected += count() - before
        t0 = clock()
        while clock() - t0 < slice_:
            for _ in range(50):  # the clock once per 50 vector steps
                raw += step()
        raw_time += clock() - t0
        rounds += 1
    return collected, collect_time, raw, raw_time, rounds


def measure(part, script, args, seconds):
    sys.path.insert(0, str(REPO / part))  # the script's own imports (agent, networks, ...) come from its part
    spec = importlib.util.spec_from_file_location("collect_speed_script", REPO / part / script)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)  # its run logic sits under `if __name__ == "__main__"`
    config = train.get_config(args)
    import torch

    torch.set_num_threads(getattr(config, "torch_threads", 1))
    envs, _, agent = train.build(config, "cpu")
    raw_envs = train.make_envs(config)
    raw_envs.action_space.seed(config.seed)
    raw_envs.reset(seed=config.seed)  # NEXT_STEP autoreset: the vector env resets its sub-envs itself
    n_envs, sample, env_step = raw_envs.num_envs, raw_envs.action_space.sample, raw_envs.step

    def step():
        env_step(sample())
        return n_envs

    collected, collect_time, raw, raw_time, rounds = take_turns(collector(agent, envs, config.seed),
                                                                lambda: agent.steps, step, seconds)
    collect_rate, raw_rate = collected / collect_time, raw / raw_time
    return dict(collect_steps_per_second=round(collect_rate, 1), raw_steps_per_second=round(raw_rate, 1),
                ratio=round(collect_rate / raw_rate, 3), rounds=rounds, seconds=round(collect_time + raw_time, 1))


def main(argv=None):
    part, script, *args = sys.argv[1:] if argv is None else argv
    seconds = 10.0
    if "--seconds" in args:
        i = args.index("--seconds")
        seconds = float(args[i + 1])
        del args[i:i + 2]
    print(json.dumps(measure(part, script, args, seconds)))


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # run.py passes its own stop on: SIGINT or SIGTERM
    try:
        main()
    except KeyboardInterrupt:  # nothing to save: one line, exit 130
        print("interrupted", file=sys.stderr)
        sys.exit(130)

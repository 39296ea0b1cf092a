"""Raw step rate of the env a training script would build: random actions, no learning.

    python benchmarks/raw_speed.py part1_tabular_q train.py --env-id FrozenLake-v1 [--seconds 5]

Imports the script as a module (its run logic sits under `if __name__ == "__main__"`), builds the env
it trains on with the script's own `get_config` and `make_envs` (vector env) or `make_env`, and steps it with `action_space.sample()`. For a
vector env every call counts `num_envs` steps. Prints one JSON line: {"raw_steps_per_second": ...}.
"""
import importlib.util
import json
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main():
    part, script, *args = sys.argv[1:]
    seconds = 5.0
    if "--seconds" in args:
        i = args.index("--seconds")
        seconds = float(args[i + 1])
        del args[i:i + 2]
    sys.path.insert(0, str(REPO / part))
    spec = importlib.util.spec_from_file_location("script", REPO / part / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(args)
    env = module.make_envs(config) if hasattr(module, "make_envs") else module.make_env(config)  # training env
    n_envs = getattr(env, "num_envs", 1)
    env.action_space.seed(config.seed)
    env.reset(seed=config.seed)
    sample, step = env.action_space.sample, env.step
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):  # check the clock once per 1000 calls
            _, _, terminated, truncated, _ = step(sample())
            if n_envs == 1 and (terminated or truncated):
                env.reset()  # a vector env resets its sub-envs itself
        steps += 1000 * n_envs
    print(json.dumps({"raw_steps_per_second": round(steps / (time.perf_counter() - start), 1)}))


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # run.py passes its own stop on: SIGINT or SIGTERM
    try:
        main()
    except KeyboardInterrupt:  # nothing to save: one line, exit 130
        print("interrupted", file=sys.stderr)
        sys.exit(130)

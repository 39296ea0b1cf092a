"""Our training and Stable-Baselines3's, in one process, taking turns every evaluation.

    ../sb3-env/bin/python benchmarks/side_by_side.py dqn_cartpole                 # seeds 101 102 103, a table
    ../sb3-env/bin/python benchmarks/side_by_side.py dqn_cartpole --seeds 4 --json   # one JSON line per seed
    ../sb3-env/bin/python benchmarks/side_by_side.py --list                       # the pairs

The pairs (`PAIRS`): Part 2's DQN on CartPole-v1, Part 4's A2C on CartPole-v1, Part 5's SAC on Pendulum-v1
(twice: its preset's 64-64 networks, and SB3's 256-256), each against SB3's implementation of the same
algorithm with rl-zoo's settings and what `matched` lists in common. `python benchmarks/run.py
full` runs them as `SideBySideJob`s (benchmarks/suites.py) with the SB3 python and puts the results in the
part's README.

Why: this machine is shared, and absolute speeds swing 2-5x with load, for minutes at a time, so two programs
run one after the other can land in different phases. Here both trainings run in the same process, in two
threads that hand a baton to each other at every evaluation point: ours trains `eval_every` env steps and
evaluates, then SB3 trains its `eval_every` steps and evaluates, and so on to the end of the budget. Whatever
the machine does, both sides meet it within seconds of each other. Each side's clock counts only its own
training (evaluations and waiting excluded), and both use one torch thread.

Our side runs exactly as the part's train.py starts a run, through the interface every part provides:
`train.get_config(argv)`, `train.build(config, device) -> (env, eval_env, agent)`,
`agent.train(env, on_log, on_eval)` (which calls `on_eval(step, train_seconds)` at each scheduled
evaluation and at the last step) and `agent.evaluate(env, episodes) -> (mean, std)`. A part is imported only
when its pair runs, so pairs of parts still being written can be registered.

Needs SB3 and our requirements in one env: `../sb3-env/bin/pip install tensorboard tqdm` after the install
line of `../shared/peers/README.md`.
"""
import argparse
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SB3_ANCHOR = Path(os.environ.get("SB3_ANCHOR", REPO.parent / "shared" / "peers" / "sb3_anchor.py"))
TORCH_THREADS = 1        # both sides: two threads collapse when another process shares the cores
FINAL_EPISODES = 20      # greedy episodes of each side's final policy, after both trainings, one side at a time


class PairError(Exception):
    """Bad input or a pair that cannot run here: one `error:` line, exit code 2."""


@dataclass
class Pair:
    """One comparison: our part's training (driven through its train.py) against one of SB3's algorithms."""
    part: str                   # our part's folder
    env_id: str
    threshold: float            # "reached" = first greedy evaluation at or above this
    sb3_algo: str               # key of sb3_anchor.ALGOS and ZOO: "dqn", "a2c", "sac"
    our_args: list              # our train.get_config argv (besides --seed and --torch-threads)
    matched: dict = field(default_factory=dict)  # our config fields that must equal SB3's settings
    description: str = ""

    def sb3_settings(self, config, zoo):
        """(keyword arguments of SB3's algorithm, number of envs) for a run that matches `config`."""
        settings = dict(zoo[(self.sb3_algo, self.env_id)]["kw"])
        n_envs = 1
        if self.sb3_algo == "a2c":  # same number of envs, rollout length and (separate) networks as ours
            n_envs = our_field(config, "num_envs")
            hidden = list(our_field(config, "hidden"))
            settings.update(n_steps=our_field(config, "n_steps"), policy_kwargs=dict(net_arch=dict(pi=hidden, vf=hidden)))
        return settings, n_envs


def our_field(config, name):
    if not hasattr(config, name):
        raise PairError(f"our config has no field {name!r}, which the pair needs to match SB3's settings")
    return getattr(config, name)


# rl-baselines3-zoo's settings come from ../shared/peers/sb3_anchor.py (ZOO); `matched` lists what our side
# must share with them, checked before the run.
PAIRS = {
    "dqn_cartpole": Pair(
        "part2_dqn", "CartPole-v1", 475.0, "dqn", ["--env-id", "CartPole-v1"],
        matched=dict(hidden=[256, 256], batch_size=64, train_freq=256, gradient_steps=128),
        description="Part 2's DQN preset against SB3's DQN with rl-zoo's CartPole settings (same network, "
                    "batch, train frequency and gradient steps)"),
    "a2c_cartpole": Pair(
        "part4_actor_critic", "CartPole-v1", 500.0, "a2c", ["--env-id", "CartPole-v1", "--algo", "a2c"],
        description="Part 4's A2C preset against SB3's A2C (rl-zoo's CartPole settings) with our number of envs, "
                    "rollout length and network"),
    "sac_pendulum": Pair(
        "part5_sac", "Pendulum-v1", -200.0, "sac", ["--env-id", "Pendulum-v1"],
        matched=dict(batch_size=256),
        description="Part 5's Pendulum preset (64-64 networks, batch 256) against SB3's SAC with rl-zoo's Pendulum "
                    "settings (SB3's default 256-256 networks, batch 256): each side as its user runs it"),
    "sac_pendulum_256": Pair(
        "part5_sac", "Pendulum-v1", -200.0, "sac", ["--env-id", "Pendulum-v1"],
        matched=dict(hidden=[256, 256], batch_size=256),
        description="Part 5's Pendulum preset with SB3's 256-256 networks (checked) against SB3's SAC with "
                    "rl-zoo's Pendulum settings: the ratio at equal arithmetic, reported, not claimed"),
}


def matched_args(pair):
    """The flags that give our side the pair's matched settings (`hidden=[256, 256]` -> `--hidden 256 256`)."""
    args = []
    for name, value in pair.matched.items():
        args += [f"--{name.replace('_', '-')}", *map(str, value if isinstance(value, list) else [value])]
    return args


class Baton:
    """Two players take turns: `wait(me)` blocks until it is `me`'s turn, `pass_to(other)` hands it over.

    `pass_to(None)` ends the game: a player that finished (or failed) frees the other for good.
    """

    def __init__(self, first):
        self.turn, self.condition = first, threading.Condition()

    def wait(self, me):
        with self.condition:
            self.condition.wait_for(lambda: self.turn in (me, None))

    def pass_to(self, other):
        with self.condition:
            self.turn = other
            self.condition.notify_all()


def first_hit(curve, threshold):
    """(step, train seconds) of the first evaluation at or above `threshold`, or None. Rows: [step, mean, seconds]."""
    return next(((step, seconds) for step, mean, seconds in curve if mean >= threshold), None)


def import_part(part):
    """The part's train module (and, through it, the rest of the part), imported only now."""
    if not (REPO / part / "train.py").exists():
        raise PairError(f"{part}/train.py does not exist (yet); this pair cannot run")
    sys.path.insert(0, str(REPO / part))
    return importlib.import_module("train")


def our_config(pair, seed, total_steps=None):
    """Our side's config: the part's preset, the matched settings, the seed, one torch thread; checked.
    SB3 trains the same `config.total_steps` (a shorter budget is for trying the pair out, not for claims)."""
    train = import_part(pair.part)
    argv = [*pair.our_args, *matched_args(pair), "--seed", str(seed), "--torch-threads", str(TORCH_THREADS)]
    if total_steps is not None:
        argv += ["--total-steps", str(total_steps)]
    try:
        config = train.get_config(argv)
    except SystemExit as exc:  # argparse: a flag the part does not have
        raise PairError(f"{pair.part}/train.py refused {' '.join(argv)}") from exc
    except Exception as exc:
        if type(exc).__name__ == "UserError":
            raise PairError(str(exc)) from exc
        raise
    for name, value in pair.matched.items():
        if our_field(config, name) != value:
            raise PairError(f"our {name} is {getattr(config, name)!r}, the pair needs {value!r}")
    return train, config


def run_ours(pair, seed, baton, out, config_and_train):
    train, config = config_and_train
    env, eval_env, agent = train.build(config, "cpu")  # seeded as in train.py; sets our torch threads
    torch_threads(TORCH_THREADS)
    curve = []

    def on_eval(step, train_seconds):
        curve.append([step, agent.evaluate(eval_env, config.eval_episodes)[0], train_seconds])
        baton.pass_to("sb3")
        baton.wait("ours")

    baton.wait("ours")
    train_seconds = agent.train(env, on_eval=on_eval)
    out.update(train_seconds=train_seconds, steps=curve[-1][0], curve=curve, eval_every=config.eval_every,
               eval_episodes=config.eval_episodes, final_test=lambda: agent.evaluate(eval_env, FINAL_EPISODES))


def torch_threads(n):
    """Set torch's thread count for the calling thread (OpenMP's count is per thread)."""
    import torch

    torch.set_num_threads(n)


def load_anchor():
    if not SB3_ANCHOR.exists():
        raise PairError(f"no SB3 peer script at {SB3_ANCHOR} (set SB3_ANCHOR)")
    try:
        import stable_baselines3  # noqa: F401
    except ImportError as exc:
        raise PairError("stable_baselines3 is not installed in this Python; run with ../sb3-env/bin/python "
                        "(see benchmarks/README.md)") from exc
    spec = importlib.util.spec_from_file_location("sb3_anchor", SB3_ANCHOR)
    anchor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchor)
    return anchor


def run_sb3(pair, seed, baton, out, config_and_train):
    import gymnasium as gym
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    _, config = config_and_train
    anchor = load_anchor()
    settings, n_envs = pair.sb3_settings(config, anchor.ZOO)
    eval_env = gym.make(pair.env_id)
    eval_env.reset(seed=seed + 10_000)  # seeds the evaluation episodes' stream, as ours and sb3_anchor.py do
    curve, clock = [], dict(seconds=0.0, start=None, next_eval=config.eval_every)

    def evaluate(model, episodes):
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=episodes, deterministic=True)
        return float(mean), float(std)

    class TakeTurns(BaseCallback):
        """Evaluate every `eval_every` env steps (all envs counted), then let our side train; the clock
        stops meanwhile."""

        def _on_training_start(self):
            clock["start"] = time.perf_counter()

        def _on_step(self):
            if self.num_timesteps >= clock["next_eval"]:
                clock["seconds"] += time.perf_counter() - clock["start"]
                curve.append([self.num_timesteps, evaluate(self.model, config.eval_episodes)[0], clock["seconds"]])
                while clock["next_eval"] <= self.num_timesteps:
                    clock["next_eval"] += config.eval_every
                baton.pass_to("ours")
                baton.wait("sb3")
                clock["start"] = time.perf_counter()
            return True

        def _on_training_end(self):  # the updates after the last evaluation count too
            clock["seconds"] += time.perf_counter() - clock["start"]
            if not curve or curve[-1][0] != self.num_timesteps:  # as ours: the final policy is evaluated too
                curve.append([self.num_timesteps, evaluate(self.model, config.eval_episodes)[0], clock["seconds"]])

    recorded = json.loads(json.dumps(settings))  # SB3 adds its optimizer class to policy_kwargs in place
    torch_threads(TORCH_THREADS)
    baton.wait("sb3")
    model = anchor.ALGOS[pair.sb3_algo]("MlpPolicy", make_vec_env(pair.env_id, n_envs=n_envs, seed=seed), seed=seed,
                                        verbose=0, device="cpu", **settings)
    model.learn(config.total_steps, callback=TakeTurns())
    out.update(train_seconds=clock["seconds"], steps=int(model.num_timesteps), curve=curve, n_envs=n_envs,
               settings=recorded, final_test=lambda: evaluate(model, FINAL_EPISODES))


def side_by_side(pair, seed, total_steps=None, players=None):
    """Both trainings of `pair` for one seed, taking turns; returns {"ours": {...}, "sb3": {...}}.

    `players` replaces (run_ours, run_sb3) in tests.
    """
    run_a, run_b = players or (run_ours, run_sb3)
    if players is None:
        load_anchor()  # no SB3 here: fail before importing anything of ours
    config_and_train = our_config(pair, seed, total_steps) if players is None else (None, None)
    # SB3 warns that the eval env has no Monitor wrapper; gym.make's own wrappers leave the rewards alone
    warnings.filterwarnings("ignore", message="Evaluation environment is not wrapped")
    baton, results, errors = Baton(first="ours"), dict(ours={}, sb3={}), []

    def player(run, out):
        try:
            run(pair, seed, baton, out, config_and_train)
        except BaseException as exc:  # noqa: BLE001  (reported below, once both threads are done)
            errors.append(exc)
        finally:  # finished or failed: either way the other side must not wait for this one any more
            baton.pass_to(None)

    # daemon threads: a Ctrl-C stops the main thread's join, and the process must not then wait for both
    # trainings to finish before it can exit
    threads = [threading.Thread(target=player, args=(run_a, results["ours"]), daemon=True),
               threading.Thread(target=player, args=(run_b, results["sb3"]), daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    for side in results.values():
        side["steps_per_second"] = side["steps"] / side["train_seconds"]
        side["hit"] = first_hit(side["curve"], pair.threshold)
        mean, std = side.pop("final_test")()  # after both trainings, one side at a time: not timed
        side["final"] = dict(mean=mean, std=std, episodes=FINAL_EPISODES)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pair", nargs="?", choices=sorted(PAIRS), help="which comparison to run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--json", action="store_true", help="print one JSON line per seed instead of a table")
    parser.add_argument("--total-steps", type=int, help="a shorter budget for both sides (to try a pair out; "
                        "the claims use the preset's)")
    parser.add_argument("--list", action="store_true", help="list the pairs and exit")
    args = parser.parse_args(argv)
    if args.list or args.pair is None:
        for name, pair in PAIRS.items():
            ready = "ready" if (REPO / pair.part / "train.py").exists() else f"waits for {pair.part}/train.py"
            print(f"{name}: {pair.description} ({ready})")
        return
    pair = PAIRS[args.pair]
    if not args.json:
        print(f"{args.pair}: seed | ours steps/s | SB3 steps/s | ratio | first greedy >= {pair.threshold:g}, ours | SB3")
    for seed in args.seeds:
        r = side_by_side(pair, seed, args.total_steps)
        if args.json:
            print(json.dumps(dict(pair=args.pair, seed=seed, env_id=pair.env_id, threshold=pair.threshold,
                                  eval_every=r["ours"]["eval_every"], total_steps=args.total_steps,
                                  torch_threads=TORCH_THREADS, **r)), flush=True)
            continue

        def hit(side):
            return "not reached" if side["hit"] is None else f"{side['hit'][0]:,} steps, {side['hit'][1]:.1f} s"
        ours, sb3 = r["ours"], r["sb3"]
        print(f"{seed} | {ours['steps_per_second']:,.0f} | {sb3['steps_per_second']:,.0f} | "
              f"{ours['steps_per_second'] / sb3['steps_per_second']:.2f}x | {hit(ours)} | {hit(sb3)}", flush=True)


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def cli(argv=None):
    """main() with the error contract: a PairError is one line and exit 2; Ctrl-C or SIGTERM one line and 130
    (a measurement saves nothing, so nothing is lost but the seed in progress)."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        main(argv)
    except PairError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("stopped: the seeds measured so far are printed above; the seed in progress has no result",
              file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    cli()

"""Our CartPole DQN and Stable-Baselines3's, trained in one process, taking turns every evaluation.

    ../sb3-env/bin/python benchmarks/side_by_side.py            # seeds 1 2 3, a table
    ../sb3-env/bin/python benchmarks/side_by_side.py --seeds 4 --json   # one JSON line per seed

`python benchmarks/run.py full --part part2_dqn` runs it (job `cartpole_side_by_side`) with the SB3 python
and puts the result in the README.

Why: this machine is shared, and its speed changes by a third for minutes at a time, so two programs run
one after the other can land in different phases (`run.py` alternates them, which helps but does not
cure it). Here both trainings run in the same process, in two threads that hand a baton to each other at
every evaluation point (every 2,500 env steps): ours trains 2,500 steps and evaluates, then SB3 trains
its 2,500 and evaluates, and so on to 50k. Whatever the machine does, both sides meet it within seconds
of each other. Each side's clock counts only its own training (evaluations and waiting excluded), as in
`run.py` and `../shared/peers/sb3_anchor.py`, whose SB3 settings (rl-baselines3-zoo's) are used here.

Needs SB3 and our requirements in one env: `../sb3-env/bin/pip install tensorboard tqdm` after the
install line of `../shared/peers/README.md`.
"""
import argparse
import importlib.util
import json
import os
import sys
import threading
import time
import warnings
from pathlib import Path

import gymnasium as gym
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "part2_dqn"))
import train as dqn  # noqa: E402  (part2_dqn/train.py: our config and how a run starts)

ENV_ID, THRESHOLD, EVAL_EVERY, EVAL_EPISODES = "CartPole-v1", 475.0, 2_500, 10
SB3_ANCHOR = Path(os.environ.get("SB3_ANCHOR", REPO.parent / "shared" / "peers" / "sb3_anchor.py"))


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


def first_hit(curve):
    """(step, train seconds) of the first evaluation at or above THRESHOLD, or None."""
    return next(((step, seconds) for step, seconds, mean in curve if mean >= THRESHOLD), None)


def run_ours(seed, baton, out):
    config = dqn.get_config(["--env-id", ENV_ID, "--seed", str(seed)])
    assert config.eval_every == EVAL_EVERY and config.eval_episodes == EVAL_EPISODES
    env, eval_env, agent = dqn.build(config)  # seeded as in train.py
    curve = []

    def on_eval(step, train_seconds):
        curve.append((step, train_seconds, agent.evaluate(eval_env, EVAL_EPISODES)[0]))
        baton.pass_to("sb3")
        baton.wait("ours")

    baton.wait("ours")
    out.update(train_seconds=agent.train(env, on_eval=on_eval), steps=config.total_steps, curve=curve)


def run_sb3(seed, baton, out):
    spec = importlib.util.spec_from_file_location("sb3_anchor", SB3_ANCHOR)
    anchor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchor)
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    settings = anchor.ZOO[("dqn", ENV_ID)]
    eval_env = gym.make(ENV_ID)
    curve, clock = [], dict(seconds=0.0, start=None)

    class TakeTurns(BaseCallback):
        """Evaluate every EVAL_EVERY steps, then let our agent train; the clock stops meanwhile."""

        def _on_training_start(self):
            clock["start"] = time.perf_counter()

        def _on_step(self):
            if self.num_timesteps % EVAL_EVERY == 0:
                clock["seconds"] += time.perf_counter() - clock["start"]
                mean, _ = evaluate_policy(self.model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
                curve.append((self.num_timesteps, clock["seconds"], float(mean)))
                baton.pass_to("ours")
                baton.wait("sb3")
                clock["start"] = time.perf_counter()
            return True

        def _on_training_end(self):  # the updates after the last evaluation count too
            clock["seconds"] += time.perf_counter() - clock["start"]

    # torch's thread count is set per thread: SB3 gets the same as our preset (2, which dqn.build sets on
    # our side; also what sb3_anchor.py ran with here)
    torch.set_num_threads(dqn.PRESETS[ENV_ID]["torch_threads"])
    baton.wait("sb3")
    model = anchor.DQN("MlpPolicy", make_vec_env(ENV_ID, n_envs=1, seed=seed), seed=seed, verbose=0, device="cpu",
                       **settings["kw"])
    model.learn(settings["n"], callback=TakeTurns())
    out.update(train_seconds=clock["seconds"], steps=settings["n"], curve=curve)


def side_by_side(seed):
    """Both trainings for one seed, taking turns; returns {"ours": {...}, "sb3": {...}}."""
    # SB3 warns that the eval env has no Monitor wrapper; gym.make's own wrappers leave the rewards alone
    warnings.filterwarnings("ignore", message="Evaluation environment is not wrapped")
    baton, results = Baton(first="ours"), dict(ours={}, sb3={})

    def player(run, out):
        try:
            run(seed, baton, out)
        finally:  # finished or failed: either way the other side must not wait for this one any more
            baton.pass_to(None)

    threads = [threading.Thread(target=player, args=(run_ours, results["ours"])),
               threading.Thread(target=player, args=(run_sb3, results["sb3"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for side in results.values():
        if "train_seconds" not in side:
            raise SystemExit("error: one side stopped early; see the traceback above")
        side["steps_per_second"] = side["steps"] / side["train_seconds"]
        side["hit"] = first_hit(side["curve"])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--json", action="store_true", help="print one JSON line per seed instead of a table")
    args = parser.parse_args()
    if not args.json:
        print("seed | ours steps/s | SB3 steps/s | ratio | first greedy >= 475, ours | SB3")
    for seed in args.seeds:
        r = side_by_side(seed)
        if args.json:
            print(json.dumps(dict(seed=seed, **r)), flush=True)
            continue

        def hit(side):
            return "not reached" if side["hit"] is None else f"{side['hit'][0]:,} steps, {side['hit'][1]:.1f} s"
        ours, sb3 = r["ours"], r["sb3"]
        print(f"{seed} | {ours['steps_per_second']:,.0f} | {sb3['steps_per_second']:,.0f} | "
              f"{ours['steps_per_second'] / sb3['steps_per_second']:.2f}x | {hit(ours)} | {hit(sb3)}", flush=True)


if __name__ == "__main__":
    main()

"""Train A2C (default) or PPO on CartPole (default), LunarLander, Pendulum or any flat-Box-observation env.

    python part4_actor_critic/train.py                                    # A2C on CartPole-v1, tuned preset
    python part4_actor_critic/train.py --algo ppo                         # PPO on CartPole-v1
    python part4_actor_critic/train.py --shared                           # one trunk for actor and critic
    python part4_actor_critic/train.py --env-id LunarLander-v3 --algo ppo # tuned preset
    python part4_actor_critic/train.py --env-id Pendulum-v1 --algo ppo --help   # the preset's settings
    tensorboard --logdir actor_critic_logs

Reading order: config -> env factory (wrappers.py) -> network (networks.py) -> memory (memory.py) ->
agent (agent.py; fast.py is the same agent with a faster optimizer step, and can be skipped) -> main().
"""
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agent import Agent
from fast import FastAgent
from utils import (PART, REPO, EvalLog, Progress, UserError, arg, check_writable, close_after_interrupt,
                   config_markdown, make_run_dir, parse_config, run_main, save_checkpoint, seed_everything, shown)
from wrappers import make_env as make_single_env
from wrappers import make_vector_env

ALGOS = ("a2c", "ppo")


@dataclass
class Config:
    env_id: str = arg("CartPole-v1", "gymnasium env id with a flat Box observation and Discrete or Box actions")
    algo: str = arg("a2c", "a2c (one gradient step per rollout) or ppo (clipped surrogate, epochs of minibatches)")
    seed: int = arg(1, "seed for python, numpy, torch and the envs")
    total_steps: int = arg(100_000, "environment steps to train for, all envs counted")
    eval_every: int = arg(5_000, "run a greedy evaluation every this many steps")
    eval_episodes: int = arg(20, "episodes per greedy evaluation")
    log_dir: str = arg(str(REPO / "actor_critic_logs"), "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(str(REPO / "models" / PART), "the best model is saved in this folder")
    num_envs: int = arg(8, "copies of the env stepped together (the vector env)")
    n_steps: int = arg(5, "vector steps per rollout: each update learns from n_steps x num_envs steps")
    asynchronous: bool = arg(False, "step the envs in worker processes (AsyncVectorEnv) instead of in this one")
    max_episode_steps: int = arg(0, "episode time limit (0 = the env's own)")
    hidden: list = arg([64, 64], "hidden layer sizes of the actor and of the critic (or of the shared trunk)")
    shared: bool = arg(False, "one trunk with a policy head and a value head, one optimizer (else two networks)")
    optimizer: str = arg("rmsprop", "rmsprop (A2C's) or adam")
    learning_rate: float = arg(7e-4, "learning rate (of both networks)")
    anneal_lr: bool = arg(False, "decay the learning rate linearly to zero over total_steps")
    gamma: float = arg(0.99, "discount factor")
    gae_lambda: float = arg(1.0, "GAE's lambda: 0 = one-step TD advantages, 1 = Monte Carlo within the rollout")
    ent_coef: float = arg(0.0, "weight of the entropy bonus")
    vf_coef: float = arg(0.5, "--shared: weight of the value loss in the one loss")
    max_grad_norm: float = arg(0.5, "gradient norm clipping (per network)")
    normalize_advantages: bool = arg(False, "normalise the advantages of each (mini)batch to zero mean, unit std")
    n_epochs: int = arg(10, "ppo: passes over each rollout")
    minibatch_size: int = arg(64, "ppo: steps per minibatch")
    clip_range: float = arg(0.2, "ppo: the ratio pi_new / pi_old is clipped to [1 - clip_range, 1 + clip_range]")
    clip_range_vf: float = arg(0.0, "ppo: clip the value change to +- this (0 = no value clipping)")
    normalize_obs: bool = arg(False, "normalise observations by running mean and std (kept in the checkpoint)")
    normalize_reward: bool = arg(False, "scale rewards by the running std of the discounted return")
    log_std_init: float = arg(0.0, "Box actions: initial log standard deviation of the Gaussian")
    raw_speed_every: int = arg(50, "time one rollout of random actions on a copy of the vector env every this many "
                                   "updates, to compare collection with (0 = never)")
    torch_threads: int = arg(1, "CPU threads for torch (small networks run fastest on one)")
    fast: bool = arg(True, "run fast.py's FastAgent (the same updates, the optimizer step reorganised for speed); --no-fast: agent.py's textbook Agent")


# Defaults of each algorithm (SB3's, which follow the papers); an env preset and then flags win over them.
ALGO_DEFAULTS = {
    "a2c": {},
    "ppo": dict(n_steps=2048, optimizer="adam", learning_rate=3e-4, gae_lambda=0.95, normalize_advantages=True),
}

# Tuned settings per (env, algo), starting from rl-baselines3-zoo's; a flag on the command line still wins.
PRESETS = {
    # the zoo's (SB3's defaults: 8 envs, 5 steps per rollout, RMSprop) with a larger, decaying learning rate
    # and gamma 0.98 (tuned on seeds 1-6, see NOTES.md: 3e-3 reached 500 by 25k steps on all six; 1e-2 never
    # learned on two of them)
    ("CartPole-v1", "a2c"): dict(learning_rate=3e-3, anneal_lr=True, gamma=0.98),
    ("CartPole-v1", "ppo"): dict(num_envs=8, n_steps=32, minibatch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                                 learning_rate=1e-3, anneal_lr=True),
    ("LunarLander-v3", "a2c"): dict(total_steps=1_000_000, eval_every=25_000, gamma=0.995, learning_rate=8.3e-4,
                                    anneal_lr=True, ent_coef=1e-5),
    # rl-zoo's, with observations and rewards normalised as in its LunarLanderContinuous preset (below): at 500k
    # of the zoo's 1M steps, 257 / 234 / 251 over 100 episodes on seeds 1-3 against 217 on seed 1 without
    ("LunarLander-v3", "ppo"): dict(total_steps=500_000, eval_every=25_000, num_envs=16, n_steps=1024, gamma=0.999,
                                    gae_lambda=0.98, n_epochs=4, ent_coef=0.01, normalize_obs=True,
                                    normalize_reward=True),
    ("LunarLanderContinuous-v3", "ppo"): dict(total_steps=1_000_000, eval_every=25_000, num_envs=16, n_steps=1024,
                                              gamma=0.999, gae_lambda=0.98, n_epochs=4, ent_coef=0.01,
                                              normalize_obs=True, normalize_reward=True),
    # rl-zoo's, with the learning rate decaying over 200k steps and unscaled rewards: with either alone the
    # policy fell apart after about 150k steps (seed 1, see NOTES.md)
    ("Pendulum-v1", "ppo"): dict(total_steps=200_000, eval_every=10_000, num_envs=4, n_steps=1024, gamma=0.9,
                                 n_epochs=10, learning_rate=1e-3, anneal_lr=True, normalize_obs=True),
}


def preset_defaults(env_id, algo):
    """The defaults a run with this --env-id and --algo uses: the algorithm's, then the env's preset."""
    return ALGO_DEFAULTS.get(algo, {}) | PRESETS.get((env_id, algo), {})


def make_env(config, render_mode=None):
    """One env (evaluation, test.py), checked: a flat Box observation and Discrete or Box actions."""
    return make_single_env(config.env_id, config.max_episode_steps, render_mode)


def make_envs(config):
    """The training vector env: num_envs copies, NEXT_STEP autoreset (see wrappers.py)."""
    return make_vector_env(config.env_id, config.num_envs, config.max_episode_steps, config.asynchronous)


def get_config(argv=None):
    """The config from the command line, with the algorithm's and the env's preset defaults applied, checked."""
    config = parse_config(Config, argv, __doc__.split("\n")[0], preset_defaults)
    if config.algo not in ALGOS:
        raise UserError(f"--algo must be a2c or ppo, got {config.algo!r}")
    if config.optimizer not in ("rmsprop", "adam"):
        raise UserError(f"--optimizer must be rmsprop or adam, got {config.optimizer!r}")
    try:
        gym.spec(config.env_id)
    except gym.error.Error as e:
        raise UserError(f"unknown environment {config.env_id!r} ({e})") from None
    if min(config.total_steps, config.eval_every, config.eval_episodes, config.num_envs, config.n_steps,
           config.n_epochs, config.minibatch_size, *config.hidden) < 1:
        raise UserError("step counts, sizes and episode counts must be positive")
    if not 0 <= config.gamma <= 1 or not 0 <= config.gae_lambda <= 1:
        raise UserError("--gamma and --gae-lambda must be in [0, 1]")
    return config


def build(config, device="cpu"):
    """What every run starts from, seeded: (training vector env, a separate evaluation env, agent).

    benchmarks/side_by_side.py starts its runs here too, so they learn exactly as train.py's do.
    """
    if torch.device(device).type != "cpu":
        raise UserError("this part runs on the CPU: its networks are small, and it acts in numpy")
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    envs, eval_env = make_envs(config), make_env(config)
    eval_env.reset(seed=config.seed + 10_000)  # a separate env with its own random stream
    agent = (FastAgent if config.fast else Agent)(config, envs.single_observation_space, envs.single_action_space, device)
    return envs, eval_env, agent


class RawSpeedProbe:
    """The raw step rate of the training vector env with random actions, measured during the run.

    Every `every` updates (the first one included), right after the update, a second copy of the vector env
    takes one rollout's worth of vector steps with random actions: the same env, the same number of steps
    and the same moment as a rollout of collection (straight after a gradient step, whose work has pushed
    the env's code and data out of the CPU caches), minus the policy and the bookkeeping. Timed in CPU
    seconds like Agent.collect_seconds, so other processes' load drops out of the ratio. About 2% extra
    environment steps (every=50); they train nothing and are not counted in the run's steps.
    """

    def __init__(self, config, every):
        self.envs, self.every, self.n_steps = make_envs(config), every, config.n_steps
        self.envs.action_space.seed(config.seed)
        self.envs.reset(seed=config.seed + 20_000)
        self.updates, self.steps, self.seconds = 0, 0, 0.0

    def __call__(self, step):
        self.updates += 1
        if (self.updates - 1) % self.every:
            return
        sample, env_step, started = self.envs.action_space.sample, self.envs.step, time.process_time()
        for _ in range(self.n_steps):
            env_step(sample())
        self.seconds += time.process_time() - started
        self.steps += self.n_steps * self.envs.num_envs

    def rate(self):
        """Env steps per CPU second, all envs counted."""
        return self.steps / self.seconds

    def close(self):
        self.envs.close()


def main(argv=None):
    config = get_config(argv)
    check_writable(config.save_dir)
    envs, eval_env, agent = build(config)
    algo = config.algo + ("_shared" if config.shared else "")
    run_dir = make_run_dir(config.log_dir, config.env_id, algo, config.seed)
    writer = SummaryWriter(run_dir)
    writer.add_text("config", config_markdown(config))
    eval_log = EvalLog(run_dir)
    path = Path(config.save_dir) / f"{config.env_id}__{algo}__{config.seed}.pth"
    best = dict(eval_return=-np.inf, step=0, saved=False)
    recent = [float("nan")]
    probe = RawSpeedProbe(config, config.raw_speed_every) if config.raw_speed_every > 0 else None
    progress = Progress(config.total_steps)
    started = time.perf_counter()

    def on_log(step, stats, episodes):
        for key, value in stats.items():
            writer.add_scalar(key, value, step)
        if episodes:
            returns, lengths = zip(*episodes)
            recent[0] = float(np.mean(returns))
            writer.add_scalar("charts/episodic_return", recent[0], step)
            writer.add_scalar("charts/episodic_length", float(np.mean(lengths)), step)
        writer.add_scalar("charts/learning_rate", agent.optimizers[0].param_groups[0]["lr"], step)
        writer.add_scalar("charts/collect_steps_per_second", agent.steps / max(agent.collect_seconds, 1e-9), step)
        rate = step / (time.perf_counter() - started)
        progress.update(step, f"{rate:,.0f} steps/s | return {shown(recent[0])} | "
                              f"best eval {shown(best['eval_return'])}")

    def on_eval(step, train_seconds):
        mean, std = agent.evaluate(eval_env, config.eval_episodes)
        writer.add_scalar("eval/mean_return", mean, step)
        writer.add_scalar("eval/std_return", std, step)
        writer.add_scalar("charts/steps_per_second", step / train_seconds, step)
        eval_log.add(step, train_seconds, mean, std)
        writer.flush()
        if mean > best["eval_return"]:
            best.update(eval_return=mean, step=step)
            save_checkpoint(path, {"part": PART, "algo": config.algo, **agent.state(),
                                   "config": dataclasses.asdict(config), "eval_return": mean, "eval_std": std,
                                   "step": step})
            best["saved"] = True

    try:
        train_seconds = agent.train(envs, on_log=on_log, on_eval=on_eval, on_update=probe)
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted: the best model so far ({shown(best['eval_return'])} at step {best['step']}) "
              f"is intact at {path}" if best["saved"] else "\ninterrupted before the first evaluation; no model saved",
              file=sys.stderr)
        close_after_interrupt(writer)  # after the message; at most 10 s (see its docstring)
        sys.exit(130)
    progress.close()
    collect_rate = agent.steps / agent.collect_seconds
    summary = dict(steps=agent.steps, train_seconds=round(train_seconds, 3),
                   steps_per_second=round(agent.steps / train_seconds, 1),
                   collect_steps_per_second=round(collect_rate, 1),
                   wall_seconds=round(time.perf_counter() - started, 3), best_eval=best["eval_return"],
                   best_step=best["step"], model=str(path) if best["saved"] else None, run_dir=str(run_dir))
    if probe is not None:  # both in CPU seconds, both right after gradient steps
        raw = probe.rate()
        probe.close()
        summary.update(raw_steps_per_second=round(raw, 1), collect_fraction_of_raw=round(collect_rate / raw, 3))
        writer.add_text("speed", f"collection {collect_rate:,.0f} steps per CPU second = {collect_rate / raw:.0%} "
                                 f"of the raw random-action rate {raw:,.0f} of the same vector env")
    eval_log.finish(**summary)
    writer.close()
    envs.close()
    speed = f"{summary['steps_per_second']:,.0f} steps/s (collection {collect_rate:,.0f}"
    speed += f", {summary['collect_fraction_of_raw']:.0%} of raw random-action stepping)" if probe else ")"
    saved = f"model saved to {path}" if best["saved"] else "no model saved"
    print(f"{config.env_id} ({algo}): best greedy evaluation {shown(best['eval_return'])} at step {best['step']}, "
          f"{speed}; {saved}; logs in {run_dir}")
    return summary


if __name__ == "__main__":
    run_main(main)

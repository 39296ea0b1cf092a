"""Train REINFORCE on CartPole (default), LunarLander, Pendulum or any env with Discrete or Box actions.

    python part3_reinforce/train.py                                  # CartPole-v1, learned value baseline
    python part3_reinforce/train.py --preset vpg                     # vanilla policy gradient, no baseline
    python part3_reinforce/train.py --env-id LunarLander-v3          # tuned preset: baseline + entropy
    python part3_reinforce/train.py --help                           # every setting, generated from Config
    tensorboard --logdir reinforce_logs

Reading order: config -> env factory -> networks (networks.py) -> agent (agent.py) -> main().
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
from utils import (PART, REPO, EvalLog, Progress, UserError, arg, check_writable, close_after_interrupt,
                   config_markdown, make_run_dir, parse_config, pick_device, run_main, save_checkpoint,
                   seed_everything, shown)

ALGO = "reinforce"

# The loss variants by name: (baseline, entropy coefficient). They set the defaults of --baseline and
# --entropy-coef (`--preset vpg --help` shows them); flags given explicitly still win.
LOSS_PRESETS = {
    "vpg": dict(baseline="none", entropy_coef=0.0),     # vanilla causal policy gradient
    "bpg": dict(baseline="batch", entropy_coef=0.0),    # with the batch-mean baseline
    "epg": dict(baseline="none", entropy_coef=0.01),    # with the entropy bonus
    "cpg": dict(baseline="batch", entropy_coef=0.01),   # with both
    "value": dict(baseline="value", entropy_coef=0.0),  # with a learned value baseline
}


@dataclass
class Config:
    env_id: str = arg("CartPole-v1", "gymnasium env id with a flat Box observation and Discrete or Box actions")
    seed: int = arg(1, "seed for python, numpy, torch and the envs")
    total_steps: int = arg(150_000, "environment steps to train for (counting only steps inside episodes)")
    eval_every: int = arg(10_000, "run a greedy evaluation every this many steps")
    eval_episodes: int = arg(20, "episodes per greedy evaluation")
    log_dir: str = arg(str(REPO / "reinforce_logs"), "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(str(REPO / "models" / PART), "the best model is saved here as {env}__{algo}__{seed}.pth")
    preset: str = arg("value", "loss variant: vpg, bpg, epg, cpg (baseline x entropy) or value (learned baseline)")
    baseline: str = arg("value", "none, batch (mean return of the batch) or value (learned V(s)); default from --preset")
    entropy_coef: float = arg(0.0, "weight of the normalized entropy bonus; default from --preset")
    normalize: bool = arg(True, "divide the policy-gradient weights (returns, or advantages) by their batch std")
    episodes_per_batch: int = arg(8, "whole episodes per update, one per sub-env of the vector env")
    max_episode_steps: int = arg(0, "episode time limit (0 = the env's own; REINFORCE needs whole episodes)")
    scale_obs: bool = arg(False, "rescale observations from their (finite) bounds to [-1, 1]")
    hidden: list = arg([64, 64], "hidden layer sizes of the policy and value networks")
    learning_rate: float = arg(3e-3, "Adam learning rate of the policy")
    value_learning_rate: float = arg(3e-3, "Adam learning rate of the value network")
    value_steps: int = arg(10, "gradient steps of the value network per batch (on the whole batch)")
    gamma: float = arg(0.99, "discount factor")
    log_std_init: float = arg(0.0, "continuous actions: initial log standard deviation")
    max_grad_norm: float = arg(1.0, "policy gradient norm clipping")
    device: str = arg("auto", "auto (CUDA if available), cpu or cuda")
    torch_threads: int = arg(1, "CPU threads for torch (small networks run fastest on one)")


PRESETS = {
    # batch-mean baseline + entropy bonus (cpg); 16 whole episodes per update
    "LunarLander-v3": dict(preset="cpg", total_steps=2_000_000, eval_every=50_000, episodes_per_batch=16,
                           learning_rate=3e-3, gamma=0.99, hidden=[128, 128]),
    "Pendulum-v1": dict(total_steps=1_000_000, eval_every=50_000, episodes_per_batch=16, learning_rate=3e-3,
                        value_learning_rate=3e-3, gamma=0.9, log_std_init=-0.5, scale_obs=True),
}


def scale_observation(env):
    """gymnasium's RescaleObservation from the bounds to [-1, 1] (Pendulum's speed spans [-8, 8])."""
    ones = np.ones(env.observation_space.shape, dtype=np.float32)
    return gym.wrappers.RescaleObservation(env, -ones, ones)


def make_env(config, render_mode=None):
    """One env (evaluation, test.py), checked: a flat Box observation and Discrete or Box actions."""
    try:
        env = gym.make(config.env_id, render_mode=render_mode, max_episode_steps=config.max_episode_steps)
    except gym.error.DependencyNotInstalled as e:
        raise UserError(f"{config.env_id!r} needs an extra package: {e}") from None
    except gym.error.Error as e:
        raise UserError(f"cannot create {config.env_id!r}: {e}") from None
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        raise UserError(f"{config.env_id!r} has observations {env.observation_space}; this policy needs a flat Box")
    if not isinstance(env.action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise UserError(f"{config.env_id!r} has actions {env.action_space}; REINFORCE here handles Discrete or Box")
    if config.scale_obs:
        if not np.all(np.isfinite(env.observation_space.high - env.observation_space.low)):
            raise UserError(f"--scale-obs needs finite observation bounds; {config.env_id!r} has {env.observation_space}")
        env = scale_observation(env)
    return env


def make_envs(config):
    """The training vector env: `episodes_per_batch` copies, stepped in one process (gymnasium's SyncVectorEnv).

    For envs that step in microseconds, worker processes would cost more in messaging than they save.
    """
    make_env(config).close()  # the same checks, with one-line errors
    return gym.make_vec(config.env_id, num_envs=config.episodes_per_batch, vectorization_mode="sync",
                        max_episode_steps=config.max_episode_steps,
                        wrappers=[scale_observation] if config.scale_obs else None)


def get_config(argv=None):
    """The config from the command line with the env preset, then the loss preset, as defaults; checked."""
    config = parse_config(Config, argv, __doc__.split("\n")[0],
                          presets=[lambda args: PRESETS.get(args.env_id, {}),
                                   lambda args: LOSS_PRESETS.get(args.preset, {})])
    if config.preset not in LOSS_PRESETS:
        raise UserError(f"--preset must be one of {', '.join(LOSS_PRESETS)}, got {config.preset!r}")
    if config.baseline not in ("none", "batch", "value"):
        raise UserError(f"--baseline must be none, batch or value, got {config.baseline!r}")
    try:
        spec = gym.spec(config.env_id)
    except gym.error.Error as e:
        raise UserError(f"unknown environment {config.env_id!r} ({e})") from None
    config.max_episode_steps = config.max_episode_steps or spec.max_episode_steps or 0
    if config.max_episode_steps <= 0:
        raise UserError(f"{config.env_id!r} has no time limit; pass --max-episode-steps (REINFORCE needs whole episodes)")
    if min(config.total_steps, config.eval_every, config.eval_episodes, config.episodes_per_batch, *config.hidden) < 1:
        raise UserError("step counts, sizes and episode counts must be positive")
    return config


def build(config, device="cpu"):
    """(envs, eval_env, agent), seeded: exactly what main() trains. Evaluation gets its own env."""
    seed_everything(config.seed)
    envs, eval_env = make_envs(config), make_env(config)
    envs.action_space.seed(config.seed)
    eval_env.reset(seed=config.seed + 10_000)
    agent = Agent(config, eval_env.observation_space, eval_env.action_space, device)
    return envs, eval_env, agent


def main(argv=None):
    """Train; returns the summary (with the per-update history, which compare.py plots)."""
    config = get_config(argv)
    torch.set_num_threads(config.torch_threads)
    device = pick_device(config.device)
    envs, eval_env, agent = build(config, device)
    check_writable(config.save_dir)
    algo = f"{ALGO}_{config.preset}"
    run_dir = make_run_dir(config.log_dir, config.env_id, algo, config.seed)

    writer = SummaryWriter(run_dir)
    writer.add_text("config", config_markdown(config))
    eval_log = EvalLog(run_dir)
    path = Path(config.save_dir) / f"{config.env_id}__{algo}__{config.seed}.pth"
    best = dict(eval_return=-np.inf, step=0, saved=False)  # `saved`: this run has written the model at `path`
    history, recent = [], [float("nan")]
    progress = Progress(config.total_steps)
    started = time.perf_counter()

    def on_update(stats):
        recent[0] = float(np.mean(stats["returns"]))
        step = stats["step"]
        history.append({k: v for k, v in stats.items() if k not in ("returns", "lengths")} | {"mean_return": recent[0]})
        for key, value in stats.items():
            if "/" in key:
                writer.add_scalar(key, value, step)
        writer.add_scalar("charts/episodic_return", recent[0], step)
        writer.add_scalar("charts/episodic_length", float(np.mean(stats["lengths"])), step)
        writer.add_scalar("charts/episodes", stats["episodes"], step)
        if len(history) % 10 == 0:
            writer.flush()  # let the writer's thread work now, not in the middle of collection
        progress.update(step, f"return {shown(recent[0])} | best eval {shown(best['eval_return'])}")

    def on_eval(step, train_seconds):
        mean, std = agent.evaluate(eval_env, config.eval_episodes)
        writer.add_scalar("eval/mean_return", mean, step)
        writer.add_scalar("eval/std_return", std, step)
        writer.add_scalar("charts/steps_per_second", step / train_seconds, step)
        eval_log.add(step, train_seconds, mean, std)
        writer.flush()
        if mean > best["eval_return"]:
            save_checkpoint(path, {"part": PART, "algo": ALGO, "state_dict": agent.policy.state_dict(),
                                   "config": dataclasses.asdict(config), "eval_return": mean, "eval_std": std,
                                   "step": step})
            best.update(eval_return=mean, step=step, saved=True)  # only once the file is in place

    def model_status():
        """Where the model is, in words; never claims a file this run did not write."""
        if best["saved"]:
            return f"the best model (greedy {shown(best['eval_return'])} at step {best['step']:,}) is saved at {path}"
        earlier = f"; the file at {path} is from an earlier run" if path.exists() else ""
        return f"this run saved no model{earlier}"

    try:
        # the last batch always ends with a greedy evaluation of the final policy (Agent.train), so a
        # completed run has a model even when --total-steps is below --eval-every
        train_seconds = agent.train(envs, on_update=on_update, on_eval=on_eval)
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted at step {agent.steps:,}: {model_status()}", file=sys.stderr)
        close_after_interrupt(writer)  # after the message; at most 10 s (see its docstring)
        sys.exit(130)
    progress.close()
    summary = dict(steps=agent.steps, train_seconds=round(train_seconds, 3),
                   steps_per_second=round(agent.steps / train_seconds, 1),
                   collect_steps_per_second=round(agent.steps / agent.collect_seconds, 1),
                   wall_seconds=round(time.perf_counter() - started, 3), best_eval=best["eval_return"],
                   best_step=best["step"], model=str(path) if best["saved"] else None, run_dir=str(run_dir))
    eval_log.finish(**summary)
    writer.close()
    envs.close()
    print(f"{config.env_id} ({config.preset}): best greedy evaluation {shown(best['eval_return'])} at step "
          f"{best['step']:,}, {summary['steps_per_second']:,.0f} steps/s; {model_status()}; logs in {run_dir}")
    return dict(summary, history=history)


if __name__ == "__main__":
    run_main(main)

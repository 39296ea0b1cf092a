"""Train a tabular Q-learning agent on FrozenLake (default) or on a discretized Pendulum.

    python part1_tabular_q/train.py                          # FrozenLake 4x4, slippery
    python part1_tabular_q/train.py --env-id Pendulum-v1     # 10x10x10 states, 11 torques
    python part1_tabular_q/train.py --help                   # every setting, generated from Config

Reading order: config -> env factory -> agent (agent.py) -> run() -> main().
"""
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agent import QLearningAgent
from plots import plot_table
from utils import (DEFAULT_LOG_DIR, DEFAULT_SAVE_DIR, PART, EvalLog, Progress, UserError, arg, check_writable,
                   close_after_interrupt, config_markdown, make_run_dir, parse_config, run_main, save_checkpoint,
                   seed_everything, shown)
from wrappers import make_env as make_table_env

ALGO = "q_table"


@dataclass
class RunConfig:
    """Settings every script of this part shares: what to run, for how long, where to write."""
    env_id: str = arg("FrozenLake-v1", "gymnasium environment id (FrozenLake-v1, Pendulum-v1, or any env with a bounded Box observation)")
    seed: int = arg(1, "seed for python, numpy, the env and the agent's exploration")
    total_steps: int = arg(200_000, "environment steps to train for")
    eval_every: int = arg(20_000, "run a greedy evaluation every this many steps (and always at the last step)")
    eval_episodes: int = arg(1000, "episodes per greedy evaluation")
    log_dir: str = arg(DEFAULT_LOG_DIR, "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(DEFAULT_SAVE_DIR, "the best model is saved in this folder as {env}__{algo}__{seed}.pth")
    alpha: float = arg(0.05, "learning rate of the Q-update")
    gamma: float = arg(0.99, "discount factor")
    epsilon_start: float = arg(1.0, "initial exploration rate")
    epsilon_min: float = arg(0.05, "exploration rate floor")
    epsilon_decay: float = arg(0.99995, "multiplicative epsilon decay per environment step")


@dataclass
class Config(RunConfig):
    """Tabular Q-learning: the shared settings plus the table and the discretization."""
    initial_q: float = arg(0.0, "initial value of every Q-table entry")
    map_name: str = arg("4x4", "FrozenLake map: 4x4 or 8x8")
    slippery: bool = arg(True, "FrozenLake: the ice is slippery (moves go sideways 2 times in 3)")
    nvec_s: int = arg(10, "bins per observation dimension for Box observations")
    nvec_u: int = arg(11, "discrete actions for a Box action space (odd, so zero is one)")
    sigma: float = arg(0.5, "width of the Gaussian kernel spacing the discrete actions (larger = more even)")


# Tuned defaults per environment; a flag on the command line still wins.
PRESETS = {
    "Pendulum-v1": dict(total_steps=3_000_000, eval_every=250_000, eval_episodes=100, alpha=0.2,
                        gamma=0.98, epsilon_min=0.02, epsilon_decay=0.999998),
}


def make_env(config, render_mode=None):
    """The env described by `config`, with Discrete observations and actions."""
    return make_table_env(config.env_id, config.nvec_s, config.nvec_u, config.sigma, config.map_name,
                          config.slippery, render_mode=render_mode)


def check_config(config):
    if config.total_steps < 1 or config.eval_every < 1 or config.eval_episodes < 1:
        raise UserError("--total-steps, --eval-every and --eval-episodes must be positive")
    if not 0 < config.alpha <= 1 or not 0 <= config.gamma <= 1:
        raise UserError("--alpha must be in (0, 1] and --gamma in [0, 1]")
    if getattr(config, "map_name", "4x4") not in ("4x4", "8x8"):
        raise UserError(f"--map-name must be 4x4 or 8x8, got {config.map_name!r}")


def run(config, algo, agent, env, eval_env, model_state, finish=None):
    """Train `agent` with logging, periodic greedy evaluation and best-model saving; return the summary.

    `model_state()` returns what the checkpoint must hold besides the config (the table, or weights);
    `finish(run_dir)`, if given, runs after training (train.py draws the table there). Shared by train.py
    and linear_q.py, so both write the same logs and the same kind of checkpoint. The agent evaluates the
    final policy too, so a completed run always leaves a model; the closing line and the Ctrl-C message
    name the model file only when this run wrote it.
    """
    check_writable(config.save_dir)
    path = Path(config.save_dir) / f"{config.env_id}__{algo}__{config.seed}.pth"
    best = dict(eval_return=-np.inf, step=0, saved=False)  # what this run has saved so far
    try:
        summary = train_with_logs(config, algo, agent, env, eval_env, model_state, path, best, finish)
    except KeyboardInterrupt:
        if best["saved"]:
            print(f"\ninterrupted: the best model of this run (greedy evaluation {best['eval_return']:.3f} at step "
                  f"{best['step']:,}) is at {path}", file=sys.stderr)
        else:
            earlier = f" (the file at {path} is from an earlier run)" if path.exists() else ""
            print(f"\ninterrupted before the first evaluation: this run saved no model{earlier}", file=sys.stderr)
        sys.exit(130)
    saved = f"model saved to {path}" if best["saved"] else "no model saved"
    print(f"{config.env_id}: best greedy evaluation {best['eval_return']:.3f} at step {best['step']:,}, "
          f"{summary['steps_per_second']:,.0f} steps/s; {saved}; logs in {summary['run_dir']}")
    return summary


def train_with_logs(config, algo, agent, env, eval_env, model_state, path, best, finish):
    """run()'s work: the TensorBoard run, the progress bar or lines, the evaluations and the saves into `path`."""
    run_dir = make_run_dir(config.log_dir, config.env_id, algo, config.seed)
    writer = SummaryWriter(run_dir)
    writer.add_text("config", config_markdown(config))
    eval_log = EvalLog(run_dir)
    recent = [0.0]
    bar = tqdm(total=config.total_steps, unit="step", disable=None, smoothing=0.1)
    progress = Progress(config.total_steps, enabled=bar.disable)  # no bar (output not a terminal): plain lines
    started = time.perf_counter()

    def on_log(step, episode_returns, episode_lengths):
        if episode_returns:
            recent[0] = float(np.mean(episode_returns))
            writer.add_scalar("charts/episodic_return", recent[0], step)
            writer.add_scalar("charts/episodic_length", float(np.mean(episode_lengths)), step)
        writer.add_scalar("charts/epsilon", agent.epsilon, step)
        writer.flush()  # let the writer's thread finish now, not in the middle of the next 10k steps
        bar.update(step - bar.n)
        bar.set_description(f"{bar.format_dict['rate'] or 0:,.0f} steps/s | return {shown(recent[0], 2)} | "
                            f"best eval {shown(best['eval_return'], 2)}")
        progress.update(step, recent[0], best["eval_return"])

    def on_eval(step, train_seconds):
        # The separate eval_env, never the training env: evaluating on `env` would cut a training episode
        # short and hand the agent a state its own actions did not reach.
        mean, std, success = agent.evaluate(eval_env, config.eval_episodes)
        writer.add_scalar("eval/mean_return", mean, step)
        writer.add_scalar("eval/success_rate", success, step)
        writer.add_scalar("charts/steps_per_second", step / train_seconds, step)
        eval_log.add(step, train_seconds, mean, std)
        writer.flush()
        if mean > best["eval_return"]:  # keep the best policy seen, not the last one
            save_checkpoint(path, {"part": PART, "algo": algo, **model_state(), "config": dataclasses.asdict(config),
                                   "eval_return": mean, "eval_std": std, "success_rate": success, "step": step})
            best.update(eval_return=mean, step=step, saved=True)

    try:
        train_seconds = agent.train(env, config.total_steps, config.seed, on_log=on_log,
                                    log_every=max(1, min(10_000, config.eval_every, config.total_steps // 10)),
                                    on_eval=on_eval, eval_every=config.eval_every)
        if finish is not None:
            finish(run_dir)
        summary = dict(steps=config.total_steps, train_seconds=round(train_seconds, 3),
                       steps_per_second=round(config.total_steps / train_seconds, 1),
                       wall_seconds=round(time.perf_counter() - started, 3), best_eval=best["eval_return"],
                       best_step=best["step"], model=str(path) if best["saved"] else None, run_dir=str(run_dir))
        eval_log.finish(**summary)
        return summary
    except KeyboardInterrupt:
        closing, writer = writer, None  # first: a second Ctrl-C must not reach finally's unbounded close()
        bar.close()
        close_after_interrupt(closing)  # never wait forever on a writer the interrupt may have broken
        raise
    finally:
        if writer is not None:  # a finished run, or an error: close and wait for the last events
            bar.close()
            writer.close()


def get_config(argv=None):
    """The config from the command line (`argv`), with the env's preset defaults applied and checked."""
    config = parse_config(Config, argv, __doc__.split("\n")[0], PRESETS)
    check_config(config)
    return config


def make_envs_seeded(config, make):
    """Seed everything once; return the training env and a separate evaluation env with its own stream."""
    seed_everything(config.seed)
    env, eval_env = make(config), make(config)
    env.action_space.seed(config.seed)
    eval_env.reset(seed=config.seed + 10_000)
    return env, eval_env


def build(config):
    """(env, eval_env, agent): the seeded start of every run, exactly what main() trains."""
    env, eval_env = make_envs_seeded(config, make_env)
    agent = QLearningAgent(env.observation_space.n, env.action_space.n, config.alpha, config.gamma,
                           config.epsilon_start, config.epsilon_min, config.epsilon_decay, config.initial_q,
                           seed=config.seed)
    return env, eval_env, agent


def main(argv=None):
    config = get_config(argv)
    env, eval_env, agent = build(config)
    run(config, ALGO, agent, env, eval_env, lambda: {"table": torch.from_numpy(agent.q_table.copy())},
        finish=lambda run_dir: plot_table(agent.q_table, env, run_dir / "table.png"))  # the final table, by the logs


if __name__ == "__main__":
    run_main(main, interrupted="interrupted before training started: this run saved no model")

"""Train soft actor-critic (SAC) on Pendulum-v1 (default) or any env with flat Box observations and Box actions.

    python part5_sac/train.py                                        # Pendulum-v1, 10k steps
    python part5_sac/train.py --env-id LunarLanderContinuous-v3      # tuned preset (see --help with it)
    python part5_sac/train.py --env-id MountainCarContinuous-v0
    python part5_sac/train.py --env-id HalfCheetah-v5 --total-steps 100000   # needs: pip install "gymnasium[mujoco]"
    python part5_sac/train.py --help                                 # every setting, generated from Config
    tensorboard --logdir sac_logs

Reading order: config -> env factory (wrappers.py) -> networks (networks.py) -> memory (memory.py) ->
agent (agent.py; fast.py is the same agent, faster, and can be skipped) -> main().
"""
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agent import Agent
from fast import FastAgent
from utils import (PART, REPO, EvalLog, Progress, UserError, arg, check_writable, close_after_interrupt,
                   config_markdown, make_run_dir, parse_config, pick_device, run_main, save_checkpoint,
                   seed_everything, shown)
from wrappers import make_env as make_sac_env

ALGO = "sac"


@dataclass
class Config:
    env_id: str = arg("Pendulum-v1", "gymnasium env id with a flat Box observation and a Box action")
    seed: int = arg(1, "seed for python, numpy, torch, the env and the replay sampling")
    total_steps: int = arg(10_000, "environment steps to train for")
    eval_every: int = arg(1_000, "run a greedy evaluation every this many steps (and at the last step)")
    eval_episodes: int = arg(20, "episodes per greedy evaluation")
    log_dir: str = arg(str(REPO / "sac_logs"), "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(str(REPO / "models" / PART), "the best model is saved in this folder")
    max_episode_steps: int = arg(0, "episode time limit (0 = the env's own, 200 for Pendulum)")
    hidden: list = arg([256, 256], "hidden layer sizes of the actor and of each critic")
    learning_rate: float = arg(1e-3, "Adam learning rate of the actor, the critics and the temperature")
    anneal_lr: bool = arg(False, "decay the learning rate linearly to zero over total_steps (rl-zoo's `lin_` schedules)")
    batch_size: int = arg(256, "transitions per gradient step")
    buffer_size: int = arg(1_000_000, "replay memory capacity (transitions; never more than total_steps is allocated)")
    learning_starts: int = arg(100, "steps of uniform random actions before the first update")
    train_freq: int = arg(1, "environment steps between update rounds")
    gradient_steps: int = arg(1, "gradient steps per update round")
    gamma: float = arg(0.99, "discount factor")
    tau: float = arg(0.005, "Polyak factor of the target critics: target <- tau * critic + (1 - tau) * target")
    alpha: float = arg(1.0, "temperature: the initial value when --autotune, else fixed")
    autotune: bool = arg(True, "learn the temperature towards --target-entropy (--no-autotune keeps --alpha fixed)")
    target_entropy: str = arg("auto", "entropy the temperature steers the policy to (auto = -number of action dimensions)")
    fast: bool = arg(True, "run fast.py's FastAgent (the same updates, reorganised for speed); --no-fast: agent.py's textbook Agent")
    device: str = arg("auto", "auto (CUDA if available), cpu or cuda")
    torch_threads: int = arg(1, "CPU threads for torch (small networks run fastest on one)")
    checkpoint_every: int = arg(0, "save the whole training state (networks, optimizers, replay memory, random streams) in the run folder at the first episode end after every this many steps, for --resume (0 = never)")
    resume: str = arg("", "continue the interrupted run in this run folder from its saved training state, with its own settings (give no other flag)")


# Tuned defaults per environment; a flag on the command line still wins. Tuning used seeds 1-3 only.
PRESETS = {
    # rl-baselines3-zoo's Pendulum SAC (learning rate 1e-3, the rest SB3's defaults) on half its 20k budget, with
    # 64-64 networks instead of SB3's 256-256: a 3-number observation and one torque do not need them, and they
    # cost a sixteenth of the middle layer's arithmetic. Tuning seeds 1-3 scored as with 256-256 (NOTES.md).
    "Pendulum-v1": dict(hidden=[64, 64]),
    # rl-baselines3-zoo's LunarLanderContinuous SAC settings, on 300k steps instead of its 500k (evaluations of 20
    # episodes, the default: the best of many 10-episode evaluations picks lucky draws, README "Results"), its
    # learning rate `lin_7.3e-4` decaying linearly to 0 over our 300k steps. With it as with a constant rate,
    # two of the suite's three seeds hover to the end (NOTES.md, "the full suite with the schedule").
    # Two hours of training: a saved state (up to about 30 MB) at every evaluation, for --resume.
    "LunarLanderContinuous-v3": dict(total_steps=300_000, eval_every=10_000, hidden=[400, 300],
                                     learning_rate=7.3e-4, anneal_lr=True, batch_size=256, learning_starts=10_000,
                                     tau=0.01, checkpoint_every=10_000),
    # rl-baselines3-zoo's MountainCarContinuous SAC without its gSDE exploration (which this chapter does not
    # implement): a fixed, small temperature, many gradient steps per round, a far horizon (gamma 0.9999).
    "MountainCarContinuous-v0": dict(total_steps=50_000, eval_every=5_000, eval_episodes=10, hidden=[64, 64],
                                     learning_rate=3e-4, batch_size=512, buffer_size=50_000, learning_starts=0,
                                     train_freq=32, gradient_steps=32, gamma=0.9999, tau=0.01, alpha=0.1,
                                     autotune=False),
    # MuJoCo (`pip install "gymnasium[mujoco]"`, not in requirements.txt): rl-baselines3-zoo's HalfCheetah SAC,
    # SB3's defaults (learning rate 3e-4, tau 0.005, 256-256) with 10k random steps first, on its 1M steps.
    # Reported, not claimed: what a run of the budget this machine could afford reached is in the README.
    "HalfCheetah-v5": dict(total_steps=1_000_000, eval_every=10_000, eval_episodes=5, learning_rate=3e-4,
                           learning_starts=10_000, checkpoint_every=50_000),
}


def make_env(config, render_mode=None):
    """The env `config` describes, its actions rescaled from [-1, 1] to the env's own bounds."""
    return make_sac_env(config.env_id, config.max_episode_steps, render_mode=render_mode)


def get_config(argv=None):
    """The config from the command line, with the env's preset defaults applied, checked."""
    argv = sys.argv[1:] if argv is None else list(argv)
    config = parse_config(Config, argv, __doc__.split("\n")[0], PRESETS)
    if config.resume and len([a for a in argv if a.startswith("--")]) > 1:
        raise UserError("--resume continues a run with the settings it started with: give no other flag")
    if min(config.total_steps, config.eval_every, config.eval_episodes, config.batch_size, config.buffer_size,
           config.train_freq, config.gradient_steps, config.torch_threads, *config.hidden) < 1 \
            or config.checkpoint_every < 0:
        raise UserError("step counts, sizes and intervals must be positive")
    if config.learning_starts < 0:
        raise UserError("--learning-starts must be zero or positive")
    if not 0 < config.tau <= 1 or not 0 <= config.gamma <= 1:
        raise UserError("--tau must be in (0, 1] and --gamma in [0, 1]")
    if config.alpha <= 0:
        raise UserError("--alpha must be positive")
    if config.target_entropy != "auto":
        try:
            float(config.target_entropy)
        except ValueError:
            raise UserError(f"--target-entropy must be auto or a number, got {config.target_entropy!r}") from None
    return config


def build(config, device="cpu"):
    """What every run starts from, seeded: (training env, a separate evaluation env, agent).

    benchmarks/side_by_side.py starts its runs here too, so they learn exactly as train.py's do.
    """
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    env, eval_env = make_env(config), make_env(config)
    env.action_space.seed(config.seed)
    eval_env.reset(seed=config.seed + 10_000)  # a separate env with its own random stream
    agent_class = FastAgent if config.fast else Agent  # the same updates; fast.py's are quicker
    agent = agent_class(config, env.observation_space.shape[0], env.action_space.shape[0], device)
    return env, eval_env, agent


def checkpoint_of(agent, config, eval_return, eval_std, step):
    """What test.py needs to rebuild the policy: plain types only (loadable with weights_only=True)."""
    return {"part": PART, "algo": ALGO, "state_dict": agent.actor.state_dict(),
            "config": dataclasses.asdict(config), "obs_dim": agent.obs_dim, "action_dim": agent.action_dim,
            "eval_return": eval_return, "eval_std": eval_std, "step": step}


STATE_FILE = "training_state.pth"  # in the run folder: what --resume continues from


def load_training_state(run_dir):
    """The training state a run saved in its folder (`--checkpoint-every`), or a UserError saying why not."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise UserError(f"nothing to resume in {str(run_dir)!r}: no {STATE_FILE} (a run saves one with "
                        f"--checkpoint-every, and deletes it when it completes)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("part") != PART or state.get("algo") != ALGO:
            raise ValueError("another part's state")
        config = Config(**{**state["config"], "resume": str(run_dir)})
    except Exception as e:  # a truncated file, another format, a state of another part or version of this script
        raise UserError(f"{str(path)!r} is not a readable {PART} training state ({type(e).__name__})") from None
    return config, state


def env_rng_state(env):
    """The env's random stream (between episodes it is all of the env's state that the next episode depends on)."""
    return env.unwrapped.np_random.bit_generator.state


def set_env_rng_state(env, state):
    env.unwrapped.np_random.bit_generator.state = state  # np_random is created on first access if need be


def main(argv=None):
    config = get_config(argv)
    state = None
    if config.resume:  # the interrupted run's own config, folder, counters, memory and best model
        config, state = load_training_state(config.resume)
    device = pick_device(config.device)
    check_writable(config.save_dir)
    env, eval_env, agent = build(config, device)
    path = Path(config.save_dir) / f"{config.env_id}__{ALGO}__{config.seed}.pth"
    best = dict(eval_return=-np.inf, step=0, saved=False)
    resumed_at, wall_before = [], 0.0
    if state is None:
        run_dir = make_run_dir(config.log_dir, config.env_id, ALGO, config.seed)
    else:
        run_dir = Path(config.resume)
        try:
            agent.load_training_state(state["agent"])
        except (KeyError, RuntimeError, ValueError) as e:  # saved by another version of this part
            raise UserError(f"the training state in {str(run_dir)!r} does not fit this agent ({type(e).__name__})") from None
        # Both envs continue their random streams: the resumed run replays the uninterrupted one exactly.
        set_env_rng_state(env, state["env_rng"])
        set_env_rng_state(eval_env, state["eval_env_rng"])
        best, resumed_at, wall_before = state["best"], state["resumed_at"] + [agent.steps], state["wall_seconds"]
        if state["best_model"] is not None:  # the best model of this run's saved past (a later one was lost with it)
            save_checkpoint(path, state["best_model"])
    first_step = agent.steps

    writer = SummaryWriter(run_dir, purge_step=first_step or None)  # resumed: events after the state are dropped
    if state is None:
        writer.add_text("config", config_markdown(config))
    eval_log = EvalLog(run_dir, keep_until=None if state is None else first_step)
    checkpointed = dict(step=None if state is None else first_step)
    recent = [float("nan")]
    progress = Progress(config.total_steps, initial=first_step)
    started = time.perf_counter()

    def describe(step):
        rate = (step - first_step) / max(time.perf_counter() - started, 1e-9)
        return f"{rate:,.0f} steps/s | return {shown(recent[0])} | best eval {shown(best['eval_return'])}"

    def on_log(step, episodes, stats):
        returns, lengths = zip(*episodes)
        recent[0] = float(np.mean(returns))
        writer.add_scalar("charts/episodic_return", recent[0], step)
        writer.add_scalar("charts/episodic_length", float(np.mean(lengths)), step)
        for name, value in stats.items():  # critic1_loss, critic2_loss, actor_loss, alpha_loss, alpha, entropy, mean_q
            writer.add_scalar(f"losses/{name}", value, step)
        writer.flush()
        progress.update(step, describe(step))

    def on_eval(step, train_seconds):
        mean, std = agent.evaluate(eval_env, config.eval_episodes)
        writer.add_scalar("eval/mean_return", mean, step)
        writer.add_scalar("eval/std_return", std, step)
        writer.add_scalar("charts/steps_per_second", step / max(train_seconds, 1e-9), step)
        eval_log.add(step, train_seconds, mean, std)
        writer.flush()
        if mean > best["eval_return"] or not best["saved"]:  # keep the best policy, not the last one
            best.update(eval_return=mean, step=step)
            save_checkpoint(path, checkpoint_of(agent, config, mean, std, step))
            best["saved"] = True
        progress.update(step, describe(step))

    def on_checkpoint(step):
        """Save all the run needs to continue (--resume) in its folder, atomically, replacing the last one."""
        saved_config = dataclasses.replace(config, save_dir=str(Path(config.save_dir).resolve()), resume="")
        best_model = torch.load(path, map_location="cpu", weights_only=True) if best["saved"] else None
        save_checkpoint(run_dir / STATE_FILE, dict(
            part=PART, algo=ALGO, config=dataclasses.asdict(saved_config), agent=agent.training_state(),
            env_rng=env_rng_state(env), eval_env_rng=env_rng_state(eval_env), best=best, best_model=best_model,
            resumed_at=resumed_at, wall_seconds=wall_before + time.perf_counter() - started))
        checkpointed.update(step=step)  # only once the file is in place

    try:
        train_seconds = agent.train(env, on_log=on_log, on_eval=on_eval, on_checkpoint=on_checkpoint)
    except KeyboardInterrupt:
        progress.close()
        if best["saved"]:
            print(f"\ninterrupted at step {agent.steps:,}: the best model so far ({shown(best['eval_return'])} at "
                  f"step {best['step']:,}) is intact at {path}", file=sys.stderr)
        else:
            older = f" ({path} is from an earlier run)" if path.exists() else ""
            print(f"\ninterrupted at step {agent.steps:,}, before the first evaluation: this run saved no "
                  f"model{older}", file=sys.stderr)
        if checkpointed["step"] is not None:
            print(f"the training state of step {checkpointed['step']:,} is saved: continue from there with\n"
                  f"    python {Path(__file__).relative_to(REPO)} --resume {run_dir}", file=sys.stderr)
        close_after_interrupt(writer)  # after the message; at most 10 s (see its docstring)
        sys.exit(130)
    progress.close()
    (run_dir / STATE_FILE).unlink(missing_ok=True)  # the run is complete: nothing left to resume
    summary = dict(steps=agent.steps, train_seconds=round(train_seconds, 3),
                   steps_per_second=round(agent.steps / train_seconds, 1),
                   wall_seconds=round(wall_before + time.perf_counter() - started, 3), resumed_at=resumed_at,
                   best_eval=best["eval_return"],
                   best_step=best["step"], model=str(path) if best["saved"] else None, run_dir=str(run_dir))
    eval_log.finish(**summary)
    writer.close()
    saved = f"model saved to {path}" if best["saved"] and path.is_file() else "no model saved"
    print(f"{config.env_id}: best greedy evaluation {shown(best['eval_return'])} at step {best['step']}, "
          f"{summary['steps_per_second']:,.0f} steps/s; {saved}; logs in {run_dir}")


if __name__ == "__main__":
    run_main(main)

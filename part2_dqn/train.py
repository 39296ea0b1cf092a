"""Train DQN on Pendulum with discrete torques (default), CartPole, LunarLander, FrozenLake, Pong or any Discrete-action env.

    python part2_dqn/train.py                                   # Pendulum-v1, 11 torques, MLP
    python part2_dqn/train.py --network lstm                    # the LSTM over the last 4 steps
    python part2_dqn/train.py --env-id CartPole-v1              # tuned preset
    python part2_dqn/train.py --env-id CartPole-v1 --help       # every setting, with the preset's defaults
    python part2_dqn/train.py --env-id ALE/Pong-v5              # from pixels: the CNN, frames stored once
    tensorboard --logdir dqn_logs                               # the runs, in the repo's dqn_logs/

Reading order: config -> env factory (wrappers.py) -> network (networks.py) -> memory (memory.py) ->
agent (agent.py; fast.py is the same agent, faster, and can be skipped) -> main().
"""
import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agent import Agent
from fast import FastAgent
from networks import CONVOLUTIONS, mean_abs_sigma
from utils import (PART, EvalLog, UserError, arg, check_writable, close_after_interrupt, config_markdown,
                   make_run_dir, parse_config, pick_device, run_main, save_checkpoint, seed_everything, shown)
from wrappers import is_atari, make_env as make_dqn_env

ALGO = "dqn"
REPO = Path(__file__).resolve().parent.parent  # default folders are the repo's, wherever we are run from


@dataclass
class Config:
    env_id: str = arg("Pendulum-v1", "gymnasium env id: a flat Box observation and Discrete actions, or Box actions with --discrete-actions")
    seed: int = arg(1, "seed for python, numpy, torch, the env and the replay sampling")
    total_steps: int = arg(60_000, "environment steps to train for")
    eval_every: int = arg(2_500, "run a greedy evaluation every this many steps")
    eval_episodes: int = arg(20, "episodes per greedy evaluation")
    stop_at: float = arg(float("inf"), "end training early once a greedy evaluation's mean return reaches this (inf: never)")
    log_dir: str = arg(str(REPO / "dqn_logs"), "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(str(REPO / "models" / PART), "the best model is saved here as {env}__{algo}__{seed}.pth")
    discrete_actions: int = arg(0, "Gaussian-spaced torques for an env with a 1-D Box action (odd; 0 = refuse Box actions)")
    sigma: float = arg(0.5, "width of the Gaussian kernel spacing the torques (larger = more even)")
    max_episode_steps: int = arg(0, "episode time limit (0 = the env's own, 200 for Pendulum)")
    network: str = arg("mlp", "Q-network: mlp, lstm over the last --history (observation, previous action) pairs, or cnn (Atari frames)")
    convolutions: str = arg("nature", "cnn: the convolutions, nature (32-64-64, Mnih et al. 2015) or small (16-32, 2013)")
    repeat_action_probability: float = arg(-1.0, "Atari: sticky actions, the chance the emulator repeats the last action (-1 = the id's own: 0.25 for v5, 0 for v4)")
    history: int = arg(4, "lstm: number of (observation, previous action) pairs the network sees")
    hidden: list = arg([64, 64], "hidden layer sizes (lstm: the first is the LSTM's hidden size)")
    learning_rate: float = arg(1e-3, "AdamW learning rate")
    anneal_lr: bool = arg(False, "decay the learning rate linearly to zero over total_steps (the last policy then stops moving)")
    weight_decay: float = arg(0.0, "AdamW weight decay")
    batch_size: int = arg(128, "transitions per gradient step")
    buffer_size: int = arg(60_000, "replay memory capacity (transitions)")
    learning_starts: int = arg(1_000, "environment steps of pure collection before the first update")
    train_freq: int = arg(1, "environment steps between update rounds")
    gradient_steps: int = arg(1, "gradient steps per update round")
    gamma: float = arg(0.98, "discount factor")
    n_steps: int = arg(1, "n-step returns: bootstrap after n rewards instead of one (1 = classic DQN)")
    tau: float = arg(0.01, "target network update: target <- tau * online + (1 - tau) * target (1 = hard copy)")
    target_update_interval: int = arg(1, "gradient steps between target network updates")
    double: bool = arg(True, "Double DQN: the online network picks the next action, the target network values it")
    dueling: bool = arg(False, "dueling head: Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)")
    noisy: bool = arg(False, "Noisy Nets: factorised NoisyLinear layers (sigma_0 0.5) after the first explore instead of epsilon")
    per: bool = arg(False, "prioritized experience replay (proportional, sum tree)")
    per_alpha: float = arg(0.6, "PER: sampling probability proportional to priority^alpha (0 = uniform)")
    per_beta: float = arg(0.4, "PER: importance-weight exponent at the start, annealed linearly to 1 over total_steps")
    per_eps: float = arg(1e-6, "PER: priority = |TD error| + per_eps, so no transition becomes unreachable")
    rainbow: bool = arg(False, "preset: Double + Dueling + Noisy + 3-step + PER (no distributional head); flags given still win")
    epsilon_start: float = arg(1.0, "initial exploration rate")
    epsilon_end: float = arg(0.05, "final exploration rate")
    exploration_fraction: float = arg(0.1, "fraction of total_steps over which epsilon decays linearly")
    max_grad_norm: float = arg(10.0, "gradient norm clipping")
    device: str = arg("auto", "auto (CUDA if available), cpu or cuda")
    torch_threads: int = arg(1, "CPU threads for torch (one: two collapse when another process shares the cores)")
    checkpoint_every: int = arg(0, "save the whole training state (networks, optimizer, replay memory) in the run folder at the first episode end after every this many steps, for --resume (0 = never)")
    resume: str = arg("", "continue the interrupted run in this run folder from its saved training state, with its own settings (give no other flag)")
    fast: bool = arg(True, "run fast.py's FastAgent (the same updates, reorganised for speed); --no-fast: agent.py's textbook Agent")


# Tuned defaults per environment; a flag on the command line still wins.
PRESETS = {
    # The series' main run: Pendulum with 11 discrete torques; every other default in Config is tuned for it.
    "Pendulum-v1": dict(discrete_actions=11),
    # The network, batch, train_freq and gradient steps of rl-baselines3-zoo's CartPole DQN, which we
    # compare speed against. Learning rate, buffer and final epsilon are the zoo's too; 3-step returns,
    # gamma 0.98, a Polyak target update every 8 gradient steps (whose 8 minibatches then get their
    # targets from one forward pass, see fast.py) and a decaying learning rate (with AdamW's default
    # weight decay) are ours: they reach 475 sooner and keep 500 to the end. Tuned on seeds 1-6 (it fails
    # seed 4); Double DQN is off: its per-step forward pass costs a tenth of the update, and over those
    # six seeds it was no more reliable here (NOTES.md, "Tuning the CartPole preset").
    "CartPole-v1": dict(total_steps=50_000, eval_every=2_500, eval_episodes=10, hidden=[256, 256],
                        batch_size=64, train_freq=256, gradient_steps=128, buffer_size=100_000,
                        learning_starts=1_000, learning_rate=2.3e-3, anneal_lr=True, weight_decay=0.01,
                        gamma=0.98, n_steps=3, double=False, tau=0.07, target_update_interval=8,
                        exploration_fraction=0.05, epsilon_end=0.04),
    # rl-baselines3-zoo's LunarLander settings (with our Double DQN default and 1000 steps before learning)
    "LunarLander-v3": dict(total_steps=150_000, eval_every=10_000, eval_episodes=10, hidden=[256, 256],
                           learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=1_000,
                           gamma=0.99, tau=1.0, target_update_interval=250, train_freq=4, gradient_steps=4,
                           exploration_fraction=0.12, epsilon_end=0.1),
    # Part 1's first env (4x4, slippery), its cell number one-hot encoded (wrappers.FloatObservation). The
    # return is 1 for reaching the goal, so the greedy mean is the success rate; 100 evaluation episodes
    # because one episode is a coin flip. Not tuned: the defaults of the other presets, gamma of Part 1.
    "FrozenLake-v1": dict(total_steps=50_000, eval_every=5_000, eval_episodes=100, hidden=[64], batch_size=64,
                          buffer_size=50_000, learning_starts=1_000, train_freq=4, gradient_steps=1, gamma=0.99,
                          learning_rate=1e-3, exploration_fraction=0.3, epsilon_end=0.05),
}


# Atari from pixels (issue 13): the settings of the DQN runs known to learn Pong quickly (Lapan's, which
# pl_bolts uses: Adam at 1e-4, a minibatch of 32 after EVERY agent step, a hard target copy every 1,000,
# epsilon to 0.01 over the first 100k steps here), with 100k transitions, 3-step returns and Double DQN.
# One minibatch every 4 steps (the Nature DQN's ratio, made for 50M frames) was still losing 21-0 after
# 150k steps (NOTES.md, "Pong"). The 2013 network: README, "Finale: Pong from pixels". Not tuned on any seed.
ATARI = dict(network="cnn", convolutions="small", hidden=[256], total_steps=400_000, eval_every=25_000,
             eval_episodes=10, learning_rate=1e-4, batch_size=32, buffer_size=100_000, learning_starts=10_000,
             train_freq=1, gradient_steps=1, gamma=0.99, n_steps=3, double=True, tau=1.0,
             target_update_interval=1_000, epsilon_end=0.01, exploration_fraction=0.25, max_grad_norm=10.0,
             checkpoint_every=25_000)  # hours of training: a saved state (0.7 GB) after every evaluation, for --resume
# Pong: the deterministic emulator (no sticky actions, as v4 and the published Pong results) so that the
# numbers compare like with like; --repeat-action-probability 0.25 gives v5's own sticky actions. A greedy
# mean of 19 (of 21) is a won game: the run ends there rather than spend CPU hours on a solved game.
PRESETS["ALE/Pong-v5"] = dict(ATARI, repeat_action_probability=0.0, stop_at=19.0)



# --rainbow: every extension at once (Hessel et al., 2018) but the distributional head (C51), which this
# chapter leaves out. Applied over the env's preset; a flag on the command line still wins.
RAINBOW = dict(double=True, dueling=True, noisy=True, per=True, n_steps=3)
# Where --rainbow needs more than the env's preset (tuned on seeds 1 and 2, NOTES.md "Rainbow on LunarLander"):
# the zoo's LunarLander settings forget late under --rainbow; a learning rate decayed to 0 and twice the
# memory held the greedy mean above 200.
RAINBOW_PRESETS = {"LunarLander-v3": dict(eval_episodes=20, anneal_lr=True, buffer_size=100_000)}


def make_env(config, render_mode=None):
    """The env `config` describes (discrete torques for a Box action, a history for the LSTM, Atari frames)."""
    return make_dqn_env(config.env_id, config.discrete_actions, config.sigma, config.max_episode_steps,
                        config.history if config.network == "lstm" else 0, render_mode=render_mode,
                        repeat_action_probability=config.repeat_action_probability)


def get_config(argv=None):
    """The config from the command line, with the env's preset defaults applied, checked."""
    argv = sys.argv[1:] if argv is None else list(argv)
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--env-id", default=Config.env_id)
    env_id = peek.parse_known_args(argv)[0].env_id
    presets = dict(PRESETS)
    if env_id not in PRESETS and is_atari(env_id):  # any other Atari game: Pong's settings
        presets[env_id] = ATARI
    if "--rainbow" in argv:  # the rainbow preset sits over the env's one, under the flags given
        presets[env_id] = {**presets.get(env_id, {}), **RAINBOW, **RAINBOW_PRESETS.get(env_id, {})}
    config = parse_config(Config, argv, __doc__.split("\n")[0], presets)
    if config.resume and len([a for a in argv if a.startswith("--")]) > 1:
        raise UserError("--resume continues a run with the settings it started with: give no other flag")
    if config.network not in ("mlp", "lstm", "cnn"):
        raise UserError(f"--network must be mlp or lstm (or cnn, for an Atari game), got {config.network!r}")
    if config.convolutions not in CONVOLUTIONS:
        raise UserError(f"--convolutions must be one of {', '.join(CONVOLUTIONS)}, got {config.convolutions!r}")
    if (config.network == "cnn") != is_atari(config.env_id):
        raise UserError(f"--network cnn is for Atari games' frames and they need it; {config.env_id!r} with "
                        f"--network {config.network} does not fit")
    if not (config.repeat_action_probability == -1 or 0 <= config.repeat_action_probability <= 1):
        raise UserError("--repeat-action-probability must be in [0, 1], or -1 for the env id's own")
    if min(config.total_steps, config.eval_every, config.eval_episodes, config.batch_size, config.train_freq,
           config.gradient_steps, config.target_update_interval, config.n_steps, *config.hidden) < 1:
        raise UserError("step counts, sizes and intervals must be positive")
    if config.buffer_size < config.batch_size:
        raise UserError("--buffer-size must hold at least one batch")
    if not 0 < config.tau <= 1 or not 0 <= config.gamma <= 1:
        raise UserError("--tau must be in (0, 1] and --gamma in [0, 1]")
    if config.per_alpha < 0 or not 0 <= config.per_beta <= 1 or config.per_eps <= 0:
        raise UserError("--per-alpha must be >= 0, --per-beta in [0, 1] and --per-eps positive")
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
    agent = make_agent(config, env.observation_space.shape, int(env.action_space.n), device)
    return env, eval_env, agent


def make_agent(config, obs_shape, n_actions, device="cpu"):
    """agent.py's textbook Agent, or fast.py's FastAgent (the default): the same updates, faster."""
    return (FastAgent if config.fast else Agent)(config, obs_shape, n_actions, device)


def algo_name(config):
    """dqn_mlp, dqn_lstm, with the options that change the network or the memory appended (dqn_mlp_dueling_noisy_per)."""
    options = [name for name in ("dueling", "noisy", "per") if getattr(config, name)]
    return "_".join([ALGO, config.network, *options])


STATE_FILE = "training_state.pth"  # in the run folder: what --resume continues from


def load_training_state(run_dir):
    """The training state a run saved in its folder (`--checkpoint-every`), or a UserError saying why not."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise UserError(f"nothing to resume in {str(run_dir)!r}: no {STATE_FILE} (a run saves one with "
                        f"--checkpoint-every, and deletes it when it completes)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        config = Config(**{**state["config"], "resume": str(run_dir)})
    except Exception as e:  # a truncated file, another format, a state of another version of this script
        raise UserError(f"{str(path)!r} is not a readable training state ({type(e).__name__})") from None
    return config, state


class Solved(Exception):
    """Raised by main()'s on_eval when an evaluation reaches --stop-at: the run ends there, complete."""

    def __init__(self, train_seconds):
        super().__init__()
        self.train_seconds = train_seconds

def main(argv=None):
    config = get_config(argv)
    state = None
    if config.resume:  # the interrupted run's own config, folder, counters, memory and best model
        config, state = load_training_state(config.resume)
    device = pick_device(config.device)
    check_writable(config.save_dir)
    env, eval_env, agent = build(config, device)
    algo = algo_name(config)
    env_name = config.env_id.replace("/", "-")  # ALE/Pong-v5 -> ALE-Pong-v5: one file, not a folder
    path = Path(config.save_dir) / f"{env_name}__{algo}__{config.seed}.pth"
    best = dict(eval_return=-np.inf, step=0, saved=False)
    resumed_at, wall_before = [], 0.0
    if state is None:
        run_dir = make_run_dir(config.log_dir, env_name, algo, config.seed)
    else:
        run_dir = Path(config.resume)
        agent.load_training_state(state["agent"])
        eval_env.reset(seed=config.seed + 10_000 + agent.steps)  # fresh evaluation episodes, not the first ones again
        best, resumed_at, wall_before = state["best"], state["resumed_at"] + [agent.steps], state["wall_seconds"]
        if state["best_model"] is not None:  # the best model of this run's saved past (a later one was lost with it)
            save_checkpoint(path, state["best_model"])
    first_step = agent.steps
    obs_shape, n_actions = env.observation_space.shape, agent.n_actions

    writer = SummaryWriter(run_dir, purge_step=first_step or None)  # resumed: events after the state are dropped
    if state is None:
        writer.add_text("config", config_markdown(config))
    eval_log = EvalLog(run_dir, keep_until=None if state is None else first_step)
    checkpointed = dict(step=None)
    recent = [float("nan")]
    bar = tqdm(total=config.total_steps, initial=first_step, unit="step", disable=None, smoothing=0.1)  # off when not a terminal
    started = time.perf_counter()
    next_line = dict(step=first_step + config.total_steps // 10, time=started + 30)

    def progress(step):
        """Without a terminal (output piped to a file) the bar is off: a plain line every 10% or 30 s."""
        now = time.perf_counter()
        if bar.disable and (step >= next_line["step"] or now >= next_line["time"]):
            print(f"step {step:,}/{config.total_steps:,} | {(step - first_step) / (now - started):,.0f} steps/s | "
                  f"return {shown(recent[0])} | best eval {shown(best['eval_return'])}", flush=True)
            next_line.update(step=step + config.total_steps // 10, time=now + 30)

    def on_log(step, episodes, loss, mean_q):
        returns, lengths = zip(*episodes)
        recent[0] = float(np.mean(returns))
        writer.add_scalar("charts/episodic_return", recent[0], step)
        writer.add_scalar("charts/episodic_length", float(np.mean(lengths)), step)
        writer.add_scalar("charts/epsilon", agent.epsilon, step)
        if config.noisy:  # how much exploration the network still chooses
            writer.add_scalar("charts/noisy_mean_abs_sigma", mean_abs_sigma(agent.q_network), step)
        if config.per:
            writer.add_scalar("charts/per_beta", agent.beta(), step)
        writer.add_scalar("losses/td_loss", loss, step)
        writer.add_scalar("losses/q_values", mean_q, step)
        writer.flush()  # let the writer's thread work now, not in the middle of the next steps
        bar.update(step - bar.n)
        bar.set_description(f"{bar.format_dict['rate'] or 0:,.0f} steps/s | return {shown(recent[0])} | "
                            f"best eval {shown(best['eval_return'])}")
        progress(step)

    def on_eval(step, train_seconds):
        mean, std = agent.evaluate(eval_env, config.eval_episodes)
        writer.add_scalar("eval/mean_return", mean, step)
        writer.add_scalar("eval/std_return", std, step)
        writer.add_scalar("charts/steps_per_second", step / train_seconds, step)
        eval_log.add(step, train_seconds, mean, std)
        writer.flush()
        if mean > best["eval_return"]:  # keep the best network: DQN can forget what it knew (see README)
            save_checkpoint(path, {"part": PART, "algo": ALGO, "state_dict": agent.q_network.state_dict(),
                                   "config": dataclasses.asdict(config), "obs_shape": list(obs_shape),
                                   "n_actions": n_actions, "eval_return": mean, "eval_std": std, "step": step})
            best.update(eval_return=mean, step=step, saved=True)  # only once the file is in place
        progress(step)
        if mean >= config.stop_at:
            raise Solved(train_seconds)

    def on_checkpoint(step):
        """Save all the run needs to continue (--resume) in its folder, atomically, replacing the last one."""
        saved_config = dataclasses.replace(config, save_dir=str(Path(config.save_dir).resolve()), resume="")
        best_model = torch.load(path, map_location="cpu", weights_only=True) if best["saved"] else None
        save_checkpoint(run_dir / STATE_FILE, dict(
            part=PART, algo=ALGO, config=dataclasses.asdict(saved_config), agent=agent.training_state(),
            best=best, best_model=best_model, resumed_at=resumed_at,
            wall_seconds=wall_before + time.perf_counter() - started))
        checkpointed.update(step=step)  # only once the file is in place

    stopped = ""
    try:
        train_seconds = agent.train(env, on_log=on_log, on_eval=on_eval, on_checkpoint=on_checkpoint)
    except Solved as solved:
        train_seconds = solved.train_seconds
        stopped = f" (stopped at step {agent.steps:,}: --stop-at {config.stop_at:g} reached)"
    except KeyboardInterrupt:
        bar.close()
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
    bar.close()
    (run_dir / STATE_FILE).unlink(missing_ok=True)  # the run is complete: nothing left to resume
    summary = dict(steps=agent.steps, train_seconds=round(train_seconds, 3),
                   steps_per_second=round(agent.steps / train_seconds, 1),
                   wall_seconds=round(wall_before + time.perf_counter() - started, 3), resumed_at=resumed_at,
                   best_eval=best["eval_return"],
                   best_step=best["step"], model=str(path) if best["saved"] else None, run_dir=str(run_dir))
    eval_log.finish(**summary)
    writer.close()
    saved = f"model saved to {path}" if best["saved"] else "no model saved (no evaluation gave a finite return)"
    print(f"{config.env_id}: best greedy evaluation {shown(best['eval_return'])} at step {best['step']:,}{stopped}, "
          f"{summary['steps_per_second']:,.0f} steps/s; {saved}; logs in {run_dir}")


if __name__ == "__main__":
    run_main(main)

"""Train DQN on Pendulum with discrete torques (default), CartPole, LunarLander, FrozenLake, Pong or any Discrete-action env.

    python part2_dqn/train.py                                   # Pendulum-v1, 11 torques, MLP
    python part2_dqn/train.py --network lstm                    # the LSTM over the last 4 steps
    python part2_dqn/train.py --env-id CartPole-v1              # tuned preset
    python part2_dqn/train.py --env-id CartPole-v1 --help       # every setting, with the preset's defaults
    python part2_dqn/train.py --env-id ALE/Pong-v5              # from pixels: the CNN, frames stored once
    python part2_dqn/train.py --env-id ALE/Pong-v5 --actor-learner --train-freq 2   # on two cores
    tensorboard --logdir dqn_logs                               # the runs, in the repo's dqn_logs/

Reading order: config -> env factory (wrappers.py) -> network (networks.py) -> memory (memory.py) ->
agent (agent.py; fast.py is the same agent, faster, and can be skipped) -> main(). plumbing.py (CLI, run
folders, checkpoints, signals) is not RL and can be skipped, and so can resume.py (--resume) and
actor_learner.py (--actor-learner: an actor process collects while this one learns).
"""
import sys
from dataclasses import asdict, dataclass

import torch

from actor_learner import ActorLearnerAgent
from agent import Agent
from fast import FastAgent
from networks import CONVOLUTIONS, mean_abs_sigma, smallest_frame
from plumbing import (AT_LEAST_ONE, FRACTION, NOT_NEGATIVE, PART, POSITIVE, REPO, Check, Run, UserError, arg,
                      load_training_state, one_of, parse_config, pick_device, run_main, seed_everything)
from resume import agent_state, continue_from
from wrappers import is_atari, make_env as make_dqn_env

ALGO = "dqn"
ODD_OR_ZERO = Check(lambda v: v == 0 or (v >= 3 and v % 2 == 1), "must be 0 or an odd number of at least 3")
PROBABILITY_OR_OWN = Check(lambda v: v == -1 or 0 <= v <= 1, "must be in [0, 1], or -1 for the env id's own")


@dataclass
class Config:
    env_id: str = arg("Pendulum-v1", "gymnasium env id: a flat Box observation and Discrete actions, or Box actions with --discrete-actions")
    seed: int = arg(1, "seed for python, numpy, torch, the env and the replay sampling")
    total_steps: int = arg(60_000, "environment steps to train for", AT_LEAST_ONE)
    eval_every: int = arg(2_500, "run a greedy evaluation every this many steps", AT_LEAST_ONE)
    eval_episodes: int = arg(20, "episodes per greedy evaluation", AT_LEAST_ONE)
    stop_at: float = arg(float("inf"), "end training early once a greedy evaluation's mean return reaches this (inf: never)")
    max_minutes: float = arg(float("inf"), "end training at the first evaluation after this many minutes of training (evaluations excluded; inf: never)", POSITIVE)
    log_dir: str = arg(str(REPO / "dqn_logs"), "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(str(REPO / "models" / PART), "each run's best model is saved in this folder, named like its run")
    discrete_actions: int = arg(0, "Gaussian-spaced torques for an env with a 1-D Box action (odd; 0 = refuse Box actions)", ODD_OR_ZERO)
    sigma: float = arg(0.5, "width of the Gaussian kernel spacing the torques (larger = more even)", POSITIVE)
    max_episode_steps: int = arg(0, "episode time limit (0 = the env's own, 200 for Pendulum)", NOT_NEGATIVE)
    network: str = arg("mlp", "Q-network: mlp, lstm over the last --history (observation, previous action) pairs, or cnn (Atari frames)", one_of("mlp", "lstm", "cnn"))
    convolutions: str = arg("nature", "cnn: the convolutions, nature (32-64-64, Mnih et al. 2015) or small (16-32, 2013)", one_of(*CONVOLUTIONS))
    screen_size: int = arg(84, "Atari: the side of the square grayscale frames the screen is shrunk to (84 as in the DQN papers; 42 has a quarter of the pixels)", AT_LEAST_ONE)
    repeat_action_probability: float = arg(-1.0, "Atari: sticky actions, the chance the emulator repeats the last action (-1 = the id's own: 0.25 for v5, 0 for v4)", PROBABILITY_OR_OWN)
    history: int = arg(4, "lstm: number of (observation, previous action) pairs the network sees", AT_LEAST_ONE)
    hidden: list = arg([64, 64], "hidden layer sizes (lstm: the first is the LSTM's hidden size)", AT_LEAST_ONE)
    learning_rate: float = arg(1e-3, "AdamW learning rate", POSITIVE)
    anneal_lr: bool = arg(False, "decay the learning rate linearly to zero over total_steps (the last policy then stops moving)")
    weight_decay: float = arg(0.0, "AdamW weight decay", NOT_NEGATIVE)
    adam_eps: float = arg(1e-8, "AdamW's epsilon in m / (sqrt(v) + eps): larger damps the steps of rarely moved weights (Rainbow's Atari setting: 1.5e-4)", POSITIVE)
    batch_size: int = arg(128, "transitions per gradient step", AT_LEAST_ONE)
    buffer_size: int = arg(60_000, "replay memory capacity (transitions), at least --batch-size", AT_LEAST_ONE)
    learning_starts: int = arg(1_000, "environment steps of pure collection before the first update", NOT_NEGATIVE)
    train_freq: int = arg(1, "environment steps between update rounds", AT_LEAST_ONE)
    gradient_steps: int = arg(1, "gradient steps per update round", AT_LEAST_ONE)
    gamma: float = arg(0.98, "discount factor", FRACTION)
    n_steps: int = arg(1, "n-step returns: bootstrap after n rewards instead of one (1 = classic DQN)", AT_LEAST_ONE)
    tau: float = arg(0.01, "target network update: target <- tau * online + (1 - tau) * target (1 = hard copy)",
                     Check(lambda v: 0 < v <= 1, "must be in (0, 1]"))
    target_update_interval: int = arg(1, "gradient steps between target network updates", AT_LEAST_ONE)
    double: bool = arg(True, "Double DQN: the online network picks the next action, the target network values it")
    dueling: bool = arg(False, "dueling head: Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)")
    noisy: bool = arg(False, "Noisy Nets: factorised NoisyLinear layers (sigma_0 0.5) after the first explore instead of epsilon")
    per: bool = arg(False, "prioritized experience replay (proportional, sum tree)")
    per_alpha: float = arg(0.6, "PER: sampling probability proportional to priority^alpha (0 = uniform)", NOT_NEGATIVE)
    per_beta: float = arg(0.4, "PER: importance-weight exponent at the start, annealed linearly to 1 over total_steps", FRACTION)
    per_eps: float = arg(1e-6, "PER: priority = |TD error| + per_eps, so no transition becomes unreachable", POSITIVE)
    rainbow: bool = arg(False, "preset: Double + Dueling + Noisy + 3-step + PER (no distributional head); flags given still win")
    epsilon_start: float = arg(1.0, "initial exploration rate", FRACTION)
    epsilon_end: float = arg(0.05, "final exploration rate", FRACTION)
    exploration_fraction: float = arg(0.1, "fraction of total_steps over which epsilon decays linearly", FRACTION)
    max_grad_norm: float = arg(10.0, "gradient norm clipping", POSITIVE)
    device: str = arg("auto", "auto (CUDA if available), cpu or cuda", one_of("auto", "cpu", "cuda"))
    torch_threads: int = arg(1, "CPU threads for torch (one: two collapse when another process shares the cores)", AT_LEAST_ONE)
    checkpoint_every: int = arg(0, "save the whole training state (networks, optimizer, replay memory) in the run folder at the first episode end after every this many steps, for --resume (0 = never)", NOT_NEGATIVE)
    resume: str = arg("", "continue the interrupted run in this run folder from its saved training state, with its own settings (give no other flag)")
    fast: bool = arg(True, "run fast.py's FastAgent (the same updates, reorganised for speed); --no-fast: agent.py's textbook Agent")
    actor_learner: bool = arg(False, "collect in a second process while this one learns (actor_learner.py): two cores at once, the same replay ratio")
    sync_every: int = arg(100, "--actor-learner: gradient steps between two publications of the weights to the actor", AT_LEAST_ONE)
    prefetch: bool = arg(True, "--actor-learner: sample the next minibatch and compute its targets in a second thread during each gradient step (--no-prefetch: one after the other)")


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
    # six seeds it was no more reliable here (NOTES.md, "How was the CartPole preset tuned?").
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


# Atari from pixels: the settings of the DQN runs known to learn Pong quickly (Lapan's, which
# pl_bolts uses: Adam at 1e-4, a minibatch of 32 after EVERY agent step, a hard target copy every 1,000,
# epsilon to 0.01 over the first 100k steps here), with 100k transitions, 3-step returns and Double DQN.
# One minibatch every 4 steps (the Nature DQN's ratio, made for 50M frames) was still losing 21-0 after
# 150k steps (NOTES.md, "Why does the Pong preset take a minibatch after every agent step?"). The 2013
# network: pong.md. Not tuned on any seed.
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
# Where --rainbow needs more than the env's preset (tuned on seeds 1 and 2, NOTES.md "How was the Rainbow-lite preset for LunarLander chosen?"):
# the zoo's LunarLander settings forget late under --rainbow; a learning rate decayed to 0 and twice the
# memory held the greedy mean above 200.
RAINBOW_PRESETS = {"LunarLander-v3": dict(eval_episodes=20, anneal_lr=True, buffer_size=100_000)}


# --actor-learner on Pong: Pong within an hour of training on two cores (pong.md, "Two processes"; the tuning
# in NOTES.md, "Which replay ratio learns Pong fastest per minute on two cores?"): one gradient step per 2
# agent steps, so the actor's core supplies twice the fresh experience per gradient step; epsilon to 0.01
# over the first 100k agent steps, as the preset; an evaluation every 20k agent steps; the run ends at the
# first evaluation past 60 minutes of training, or at a greedy 19.
ACTOR_LEARNER_PRESETS = {"ALE/Pong-v5": dict(train_freq=2, total_steps=1_000_000, exploration_fraction=0.1,
                                              eval_every=20_000, max_minutes=60.0)}


def preset_defaults(env_id, rainbow=False, actor_learner=False):
    """The defaults a run with this --env-id (and --rainbow) uses: the env's preset (Pong's for any Atari game),
    then, under --rainbow, the rainbow preset and the env's rainbow settings over it. With --actor-learner
    no training state is saved (--checkpoint-every 0): --resume continues single-process runs only; and the
    env's actor-learner settings apply over the rest."""
    preset = PRESETS.get(env_id, ATARI if is_atari(env_id) else {})
    if rainbow:
        preset = {**preset, **RAINBOW, **RAINBOW_PRESETS.get(env_id, {})}
    if actor_learner:
        preset = {**preset, "checkpoint_every": 0, **ACTOR_LEARNER_PRESETS.get(env_id, {})}
    return preset


def make_env(config, render_mode=None):
    """The env `config` describes (discrete torques for a Box action, a history for the LSTM, Atari frames)."""
    return make_dqn_env(config.env_id, config.discrete_actions, config.sigma, config.max_episode_steps,
                        config.history if config.network == "lstm" else 0, render_mode=render_mode,
                        repeat_action_probability=config.repeat_action_probability, screen_size=config.screen_size)


def get_config(argv=None):
    """The config from the command line, with the env's preset defaults applied, checked: a bad value, or an
    env DQN cannot learn, is a UserError naming it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    rainbow = "--rainbow" in argv  # the rainbow preset sits over the env's one, under the flags given
    actor_learner = "--actor-learner" in argv
    config = parse_config(Config, argv, __doc__.split("\n")[0],
                          lambda env_id, _: preset_defaults(env_id, rainbow, actor_learner))
    if config.resume:
        if len([a for a in argv if a.startswith("--")]) > 1:
            raise UserError("--resume continues a run with the settings it started with: give no other flag")
        return config
    if config.actor_learner and config.checkpoint_every:
        raise UserError("--checkpoint-every saves the single-process agent's training state; an --actor-learner "
                        "run cannot be resumed: drop one of the two")
    if config.buffer_size < config.batch_size:
        raise UserError(f"--buffer-size must be at least --batch-size ({config.batch_size}), got {config.buffer_size}")
    if not is_atari(config.env_id):  # make it once: an unknown id, continuous actions, observations DQN cannot read
        make_env(config).close()
    if (config.network == "cnn") != is_atari(config.env_id):
        raise UserError(f"--network cnn is for Atari games' frames and they need it; {config.env_id!r} with "
                        f"--network {config.network} does not fit")
    if config.network == "cnn" and config.screen_size < smallest_frame(config.convolutions):
        raise UserError(f"--screen-size {config.screen_size} is too small for the {config.convolutions} convolutions: "
                        f"at least {smallest_frame(config.convolutions)}")
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
    """agent.py's textbook Agent, or fast.py's FastAgent (the default): the same updates, faster; with
    --actor-learner, the textbook Agent as the learner, with an actor process collecting (actor_learner.py)."""
    if config.actor_learner:
        return ActorLearnerAgent(config, obs_shape, n_actions, device, make_env=make_env)
    return (FastAgent if config.fast else Agent)(config, obs_shape, n_actions, device)


def algo_name(config):
    """dqn_mlp, dqn_lstm, with the options that change the network or the memory appended (dqn_mlp_dueling_noisy_per)."""
    options = [name for name in ("dueling", "noisy", "per") if getattr(config, name)]
    return "_".join([ALGO, config.network, *options])


def main(argv=None):
    config, state = get_config(argv), None
    if config.resume:  # the interrupted run's own config, counters, memory and best model
        config, state = load_training_state(config.resume, Config)
    env, eval_env, agent = build(config, pick_device(config.device))
    if state is not None:
        continue_from(agent, eval_env, state)
    run = Run(config, algo_name(config), resume=state)

    def on_log(step, episodes, loss, mean_q):
        run.log(step, {"charts/epsilon": agent.epsilon, "losses/td_loss": loss, "losses/q_values": mean_q})
        if config.noisy:  # how much exploration the network still chooses
            run.log(step, {"charts/noisy_mean_abs_sigma": mean_abs_sigma(agent.q_network)})
        if config.per:
            run.log(step, {"charts/per_beta": agent.beta()})
        run.episodes(step, *zip(*episodes))

    def on_eval(step, train_seconds):
        mean, std = agent.evaluate(eval_env, config.eval_episodes)  # greedy, on its own env
        # the best network is kept, not the last: DQN can forget what it knew (see dqn.md)
        run.evaluated(step, train_seconds, mean, std, checkpoint=lambda: dict(
            algo=ALGO, state_dict=agent.q_network.state_dict(), config=asdict(config),
            obs_shape=list(env.observation_space.shape), n_actions=agent.n_actions))
        # True ends the training here: --stop-at reached, or --max-minutes spent
        return mean >= config.stop_at or train_seconds >= 60 * config.max_minutes

    try:
        train_seconds = agent.train(env, on_log=on_log, on_eval=on_eval,
                                    on_checkpoint=lambda step: run.save_state(step, {"agent": agent_state(agent)}))
    except KeyboardInterrupt:
        run.interrupted(agent.steps)
    env.close()
    eval_env.close()
    if agent.steps < config.total_steps:
        reason = (f"--stop-at {config.stop_at:g} reached" if run.best["eval_return"] >= config.stop_at else
                  f"--max-minutes {config.max_minutes:g} spent")
        print(f"stopped at step {agent.steps:,}: {reason}")
    return run.finish(agent.steps, train_seconds, gradient_steps=agent.gradient_steps)


if __name__ == "__main__":
    run_main(main)

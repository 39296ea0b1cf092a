"""Train REINFORCE on CartPole (default), LunarLander, Pendulum or any env with Discrete or Box actions.

    python part3_reinforce/train.py                                  # CartPole-v1, learned value baseline
    python part3_reinforce/train.py --preset vpg                     # vanilla policy gradient, no baseline
    python part3_reinforce/train.py --env-id LunarLander-v3          # tuned preset: baseline + entropy
    python part3_reinforce/train.py --help                           # every setting, generated from Config
    tensorboard --logdir reinforce_logs

Reading order: config -> env factory -> networks (networks.py) -> agent (agent.py) -> main(). plumbing.py (CLI,
run folders, checkpoints, signals) is not RL and can be skipped.
"""
import argparse
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch

from agent import Agent
from plumbing import (AT_LEAST_ONE, FRACTION, NOT_NEGATIVE, PART, POSITIVE, REPO, Run, UserError, arg, env_spec,
                      one_of, parse_config, pick_device, run_main, seed_everything)

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
    total_steps: int = arg(150_000, "environment steps to train for (counting only steps inside episodes)", AT_LEAST_ONE)
    eval_every: int = arg(10_000, "run a greedy evaluation every this many steps", AT_LEAST_ONE)
    eval_episodes: int = arg(20, "episodes per greedy evaluation", AT_LEAST_ONE)
    log_dir: str = arg(str(REPO / "reinforce_logs"), "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(str(REPO / "models" / PART), "each run's best model is saved in this folder, named like its run")
    preset: str = arg("value", "loss variant: vpg, bpg, epg, cpg (baseline x entropy) or value (learned baseline)",
                      one_of(*LOSS_PRESETS))
    baseline: str = arg("value", "none, batch (mean return of the batch) or value (learned V(s)); default from --preset",
                        one_of("none", "batch", "value"))
    entropy_coef: float = arg(0.0, "weight of the normalized entropy bonus (a bonus: never negative); default from "
                              "--preset", NOT_NEGATIVE)
    normalize: bool = arg(True, "divide the policy-gradient weights (returns, or advantages) by their batch std")
    episodes_per_batch: int = arg(8, "whole episodes per update, one per sub-env of the vector env", AT_LEAST_ONE)
    max_episode_steps: int = arg(0, "episode time limit (0 = the env's own; REINFORCE needs whole episodes)",
                                 NOT_NEGATIVE)
    scale_obs: bool = arg(False, "rescale observations from their (finite) bounds to [-1, 1]")
    hidden: list = arg([64, 64], "hidden layer sizes of the policy and value networks", AT_LEAST_ONE)
    learning_rate: float = arg(3e-3, "Adam learning rate of the policy", POSITIVE)
    value_learning_rate: float = arg(3e-3, "Adam learning rate of the value network", POSITIVE)
    value_steps: int = arg(10, "gradient steps of the value network per batch (on the whole batch)", AT_LEAST_ONE)
    gamma: float = arg(0.99, "discount factor", FRACTION)
    log_std_init: float = arg(0.0, "continuous actions: initial log standard deviation")
    max_grad_norm: float = arg(1.0, "policy gradient norm clipping", POSITIVE)
    device: str = arg("auto", "auto (CUDA if available), cpu or cuda", one_of("auto", "cpu", "cuda"))
    torch_threads: int = arg(1, "CPU threads for torch (small networks run fastest on one)", AT_LEAST_ONE)


PRESETS = {
    # batch-mean baseline + entropy bonus (cpg); 16 whole episodes per update
    "LunarLander-v3": dict(preset="cpg", total_steps=2_000_000, eval_every=50_000, episodes_per_batch=16,
                           learning_rate=3e-3, gamma=0.99, hidden=[128, 128]),
    "Pendulum-v1": dict(total_steps=1_000_000, eval_every=50_000, episodes_per_batch=16, learning_rate=3e-3,
                        value_learning_rate=3e-3, gamma=0.9, log_std_init=-0.5, scale_obs=True),
}


def one_line(space):
    """A space as one line of an error message (numpy wraps the bounds of a long Box over several lines)."""
    return " ".join(str(space).split())


def scale_observation(env):
    """gymnasium's RescaleObservation from the bounds to [-1, 1] (Pendulum's speed spans [-8, 8])."""
    ones = np.ones(env.observation_space.shape, dtype=np.float32)
    return gym.wrappers.RescaleObservation(env, -ones, ones)


def make_env(config, render_mode=None):
    """One env (evaluation, test.py), checked: a flat Box observation and Discrete or Box actions."""
    try:
        env = gym.make(config.env_id, render_mode=render_mode, max_episode_steps=config.max_episode_steps or None)
    except gym.error.DependencyNotInstalled as e:
        raise UserError(f"{config.env_id!r} needs an extra package: {e}") from None
    except gym.error.Error as e:
        raise UserError(f"cannot create {config.env_id!r}: {e}") from None
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        raise UserError(f"{config.env_id!r} has observations {one_line(env.observation_space)}; this policy needs a "
                        "flat Box (a vector)")
    if not isinstance(env.action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise UserError(f"{config.env_id!r} has actions {one_line(env.action_space)}; REINFORCE here handles Discrete "
                        "or Box")
    if config.scale_obs:
        if not np.all(np.isfinite(env.observation_space.high - env.observation_space.low)):
            raise UserError(f"--scale-obs needs finite observation bounds; {config.env_id!r} has "
                            f"{one_line(env.observation_space)}")
        env = scale_observation(env)
    return env


def make_envs(config):
    """The training vector env: `episodes_per_batch` copies, stepped in one process (gymnasium's SyncVectorEnv).

    For envs that step in microseconds, worker processes would cost more in messaging than they save.
    """
    return gym.make_vec(config.env_id, num_envs=config.episodes_per_batch, vectorization_mode="sync",
                        max_episode_steps=config.max_episode_steps,
                        wrappers=[scale_observation] if config.scale_obs else None)


def preset_defaults(argv):
    """The defaults a run with `argv` uses: the env's preset, then its loss variant's (`--preset`, or the one the
    env's preset names). plumbing's presets see only --env-id, so --preset is read here."""
    def defaults(env_id, algo):
        env_preset = PRESETS.get(env_id, {})
        peek = argparse.ArgumentParser(add_help=False)
        peek.add_argument("--preset", default=env_preset.get("preset", Config.preset))
        return env_preset | LOSS_PRESETS.get(peek.parse_known_args(argv)[0].preset, {})
    return defaults


def get_config(argv=None):
    """The config from the command line with the env preset, then the loss preset, as defaults; checked."""
    config = parse_config(Config, argv, __doc__.split("\n")[0], preset_defaults(argv))
    config.max_episode_steps = config.max_episode_steps or env_spec(config.env_id).max_episode_steps or 0
    make_env(config).close()  # an env this policy cannot handle is refused now, in one line, before a run starts
    if config.max_episode_steps <= 0:
        raise UserError(f"{config.env_id!r} has no time limit; pass --max-episode-steps (REINFORCE needs whole episodes)")
    return config


def build(config, device="cpu"):
    """What every run starts from, seeded: (training vector env, a separate evaluation env, agent).

    benchmarks/ starts from here too (its collection-speed measure times `agent.collect_episodes(envs)`), so it
    measures exactly what train.py trains.
    """
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    envs, eval_env = make_envs(config), make_env(config)
    envs.action_space.seed(config.seed)
    eval_env.reset(seed=config.seed + 10_000)  # a separate env with its own random stream
    agent = Agent(config, eval_env.observation_space, eval_env.action_space, device)
    return envs, eval_env, agent


def main(argv=None):
    """Train; returns the run's summary, with the per-update history that compare.py plots."""
    config = get_config(argv)
    envs, eval_env, agent = build(config, pick_device(config.device))
    run = Run(config, f"{ALGO}_{config.preset}")
    history = []

    def on_update(stats):
        step, returns, lengths = stats["step"], stats.pop("returns"), stats.pop("lengths")  # the batch's episodes
        history.append(stats | {"mean_return": float(np.mean(returns))})
        run.log(step, {key: value for key, value in stats.items() if "/" in key})  # losses/..., charts/baseline
        run.log(step, {"charts/episodes": stats["episodes"]})
        run.episodes(step, returns, lengths)

    def on_eval(step, train_seconds):
        # the separate eval_env, greedy actions: never the training envs, whose episodes would be cut short
        mean, std = agent.evaluate(eval_env, config.eval_episodes)
        run.evaluated(step, train_seconds, mean, std,
                      checkpoint=lambda: dict(algo=ALGO, state_dict=agent.policy.state_dict(), config=asdict(config)))

    try:
        # the last batch always ends with a greedy evaluation of the final policy (Agent.train), so a
        # completed run has a model even when --total-steps is below --eval-every
        train_seconds = agent.train(envs, on_update=on_update, on_eval=on_eval)
    except KeyboardInterrupt:
        run.interrupted(agent.steps)
    envs.close()
    return dict(run.finish(agent.steps, train_seconds), history=history)


if __name__ == "__main__":
    run_main(main)

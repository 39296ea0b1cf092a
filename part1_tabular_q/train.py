"""Train a tabular Q-learning agent on FrozenLake (default) or on a discretized Pendulum.

    python part1_tabular_q/train.py                          # FrozenLake 4x4, slippery
    python part1_tabular_q/train.py --env-id Pendulum-v1     # 10x10x10 states, 11 torques
    python part1_tabular_q/train.py --help                   # every setting, generated from Config

Reading order: config -> env factory (wrappers.py) -> agent (agent.py) -> main() and train(). plumbing.py
(CLI, run folders, checkpoints, signals) is not RL and can be skipped.
"""
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from agent import QLearningAgent
from plots import plot_table
from plumbing import (AT_LEAST_ONE, FRACTION, PART, POSITIVE, REPO, Check, Run, arg, one_of, parse_config, run_main,
                      seed_everything)
from wrappers import make_env as make_table_env

ALGO = "q_table"
# A step size or a per-step decay factor: 0 would never move, above 1 would overshoot (or grow).
RATE = Check(lambda v: 0 < v <= 1, "must be in (0, 1]")
ODD = Check(lambda v: v >= 3 and v % 2 == 1, "must be odd and at least 3 (so that zero torque is one of them)")


@dataclass
class RunConfig:
    """Settings every script of this part shares: what to run, for how long, where to write, how to learn."""
    env_id: str = arg("FrozenLake-v1", "gymnasium environment id (FrozenLake-v1, Pendulum-v1, or any env with a bounded Box observation)")
    seed: int = arg(1, "seed for python, numpy, the env and the agent's exploration")
    total_steps: int = arg(200_000, "environment steps to train for", AT_LEAST_ONE)
    eval_every: int = arg(20_000, "run a greedy evaluation every this many steps (and always at the last step)",
                          AT_LEAST_ONE)
    eval_episodes: int = arg(1000, "episodes per greedy evaluation", AT_LEAST_ONE)
    log_dir: str = arg(str(REPO / "tabular_logs"), "TensorBoard runs go in a subfolder of this folder")
    save_dir: str = arg(str(REPO / "models" / PART), "each run's best model is saved in this folder, named like its run")
    alpha: float = arg(0.05, "learning rate of the Q-update", RATE)
    gamma: float = arg(0.99, "discount factor", FRACTION)
    epsilon_start: float = arg(1.0, "initial exploration rate", FRACTION)
    epsilon_min: float = arg(0.05, "exploration rate floor", FRACTION)
    epsilon_decay: float = arg(0.99995, "multiplicative epsilon decay per environment step", RATE)


@dataclass
class Config(RunConfig):
    """Tabular Q-learning: the shared settings plus the table and the discretization."""
    initial_q: float = arg(0.0, "initial value of every Q-table entry")
    map_name: str = arg("4x4", "FrozenLake map: 4x4 or 8x8", one_of("4x4", "8x8"))
    slippery: bool = arg(True, "FrozenLake: the ice is slippery (moves go sideways 2 times in 3)")
    nvec_s: int = arg(10, "bins per observation dimension for Box observations", AT_LEAST_ONE)
    nvec_u: int = arg(11, "discrete actions for a Box action space (odd, so zero is one)", ODD)
    sigma: float = arg(0.5, "width of the Gaussian kernel spacing the discrete actions (larger = more even)", POSITIVE)


# Tuned defaults per environment; a flag on the command line still wins.
PRESETS = {
    "Pendulum-v1": dict(total_steps=3_000_000, eval_every=250_000, eval_episodes=100, alpha=0.2,
                        gamma=0.98, epsilon_min=0.02, epsilon_decay=0.999998),
}


def make_env(config, render_mode=None):
    """The env described by `config`, with Discrete observations and actions."""
    return make_table_env(config.env_id, config.nvec_s, config.nvec_u, config.sigma, config.map_name,
                          config.slippery, render_mode=render_mode)


def get_config(argv=None):
    """The config from the command line (`argv`), with the env's preset defaults applied, checked."""
    config = parse_config(Config, argv, __doc__.split("\n")[0], lambda env_id, algo: PRESETS.get(env_id, {}))
    make_env(config).close()  # an env a table cannot hold is refused now, in one line, before a run starts
    return config


def seeded_envs(config, make):
    """Seed everything once; return the training env and a separate evaluation env with its own stream."""
    seed_everything(config.seed)
    env, eval_env = make(config), make(config)
    env.action_space.seed(config.seed)
    eval_env.reset(seed=config.seed + 10_000)
    return env, eval_env


def build(config):
    """(env, eval_env, agent): the seeded start of every run, exactly what main() trains."""
    env, eval_env = seeded_envs(config, make_env)
    agent = QLearningAgent(env.observation_space.n, env.action_space.n, config.alpha, config.gamma,
                           config.epsilon_start, config.epsilon_min, config.epsilon_decay, config.initial_q,
                           seed=config.seed)
    return env, eval_env, agent


def main(argv=None):
    config = get_config(argv)
    env, eval_env, agent = build(config)
    summary = train(config, ALGO, env, eval_env, agent, lambda: {"table": torch.from_numpy(agent.q_table.copy())})
    plot_table(agent.q_table, env, Path(summary["run_dir"]) / "table.png")  # the final table, beside the logs
    return summary


def train(config, algo, env, eval_env, agent, model):
    """Train `agent` on `env`, evaluate it greedily on `eval_env`, keep its best model; return the run's summary.

    `model()` is what the checkpoint holds besides the config: the table here, the weights for linear_q.py,
    which trains through this function too. The agent evaluates the final policy as well, so a completed run
    always leaves a model.
    """
    run = Run(config, algo)

    def on_log(step, episode_returns, episode_lengths):
        run.log(step, {"charts/epsilon": agent.epsilon})
        if episode_returns:  # a short window may end no episode
            run.episodes(step, episode_returns, episode_lengths)

    def on_eval(step, train_seconds):
        # The separate eval_env, never the training env: evaluating on `env` would cut a training episode
        # short and hand the agent a state its own actions did not reach.
        mean, std, success = agent.evaluate(eval_env, config.eval_episodes)
        run.log(step, {"eval/success_rate": success})
        run.evaluated(step, train_seconds, mean, std,
                      checkpoint=lambda: dict(algo=algo, config=asdict(config), success_rate=success, **model()))

    try:
        train_seconds = agent.train(env, config.total_steps, config.seed, on_log=on_log, on_eval=on_eval,
                                    log_every=max(1, min(10_000, config.eval_every, config.total_steps // 10)),
                                    eval_every=config.eval_every)
    except KeyboardInterrupt:
        run.interrupted(agent.steps)
    return run.finish(config.total_steps, train_seconds)


if __name__ == "__main__":
    run_main(main)

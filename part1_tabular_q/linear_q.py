"""Q-learning with linear function approximation on MountainCar-v0: the bridge from tables to networks.

    python part1_tabular_q/linear_q.py                       # RBF features on a 12x12 grid
    python part1_tabular_q/linear_q.py --features fourier    # random Fourier features

A table is a linear model over one-hot features: Q(s, .) = onehot(s) @ W picks row s of W. Swap the
one-hot vector for smooth features phi(s) and the same update, W[:, a] += alpha * td_error * phi(s),
generalizes between neighbouring states. Part 2 replaces phi and W by a neural network.

Reading order: config -> features -> agent -> env factory -> main() (train() is train.py's).
"""
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from agent import QLearningAgent
from plumbing import AT_LEAST_ONE, POSITIVE, UserError, arg, env_spec, one_of, parse_config, run_main
from train import RunConfig, seeded_envs, train
from wrappers import one_line

ALGO = "linear_q"
MAX_RBF_FEATURES = 100_000  # a grid of centers grows as n_centers^obs_dim: beyond this, every step crawls


@dataclass
class LinearConfig(RunConfig):
    """Linear Q-learning: the shared settings plus the features."""
    features: str = arg("rbf", "feature map: rbf (Gaussian bumps on a grid) or fourier (random Fourier features)",
                        one_of("rbf", "fourier"))
    n_centers: int = arg(12, "rbf: centers per observation dimension (n_centers^obs_dim features)", AT_LEAST_ONE)
    n_features: int = arg(400, "fourier: number of random features", AT_LEAST_ONE)
    bandwidth: float = arg(0.08, "width of the features in the [0, 1]-scaled observation space", POSITIVE)


# This script's defaults, tuned for MountainCar-v0, replace the tabular ones.
DEFAULTS = dict(env_id="MountainCar-v0", total_steps=150_000, eval_every=10_000, eval_episodes=100,
                alpha=0.2, gamma=0.99, epsilon_start=0.0, epsilon_min=0.0, epsilon_decay=1.0)


class Features:
    """phi(obs): the observation scaled to [0, 1]^d by its bounds, then RBF or random Fourier features.

    rbf:     phi_i = exp(-|x - c_i|^2 / (2 bw^2)) on a grid of centers c_i, normalized to sum to 1, so that
             alpha means the same thing whatever the number of centers.
    fourier: phi_i = sqrt(2 / D) cos(w_i . x + b_i), w_i ~ N(0, 1 / bw^2), b_i ~ U[0, 2 pi): a random
             approximation of the same Gaussian kernel (Rahimi & Recht, 2007).
    Built from (space, config) alone, with its own seeded generator, so test.py rebuilds identical features.
    """

    def __init__(self, observation_space, config):
        self.low, self.high = observation_space.low.astype(np.float64), observation_space.high.astype(np.float64)
        dim = observation_space.shape[0]
        self.kind, self.bandwidth = config.features, config.bandwidth
        if config.features == "rbf":
            grid = np.linspace(0.0, 1.0, config.n_centers)
            self.centers = np.stack(np.meshgrid(*[grid] * dim, indexing="ij"), -1).reshape(-1, dim)  # (n, dim)
            self.size = len(self.centers)
        elif config.features == "fourier":
            rng = np.random.default_rng(config.seed)
            self.w = rng.normal(0.0, 1.0 / config.bandwidth, size=(config.n_features, dim))
            self.b = rng.uniform(0.0, 2 * np.pi, size=config.n_features)
            self.size = config.n_features
        else:
            raise UserError(f"--features must be rbf or fourier, got {config.features!r}")

    def __call__(self, observation):
        """Shape (size,) float64."""
        x = (np.asarray(observation, dtype=np.float64) - self.low) / (self.high - self.low)
        if self.kind == "rbf":
            phi = np.exp(-((x - self.centers) ** 2).sum(axis=1) / (2 * self.bandwidth**2))
            return phi / phi.sum()
        return np.sqrt(2.0 / self.size) * np.cos(self.w @ x + self.b)


class LinearQAgent(QLearningAgent):
    """The tabular agent with its table read as a weight matrix W of shape (n_features, n_actions).

    States are now feature vectors phi(s), so Q(s, .) = phi(s) @ W. Exploration, evaluation and the
    training loop are inherited unchanged.
    """

    def q_values(self, phi):
        return (phi @ self.q_table).tolist()

    def update(self, phi, action, reward, next_phi, terminated):
        """Semi-gradient Q-learning: W[:, a] += alpha * (target - Q(s, a)) * phi(s); the target is not differentiated."""
        target = reward if terminated else reward + self.gamma * max(self.q_values(next_phi))
        td_error = target - phi @ self.q_table[:, action]
        self.q_table[:, action] += self.alpha * td_error * phi
        return td_error


def make_env(config, render_mode=None):
    """The env with observations replaced by their features (gymnasium's TransformObservation)."""
    env_spec(config.env_id)  # an unknown id, or an Atari game's images: one line, before anything is built
    try:
        env = gym.make(config.env_id, render_mode=render_mode)
    except gym.error.Error as e:
        raise UserError(f"cannot create {config.env_id!r}: {e}") from None
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1 or not np.all(np.isfinite(space.high - space.low)):
        raise UserError(f"{config.env_id!r} has observations {one_line(space)}; linear_q needs a flat Box with finite bounds")
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise UserError(f"{config.env_id!r} has actions {one_line(env.action_space)}; linear_q needs Discrete actions")
    if config.features == "rbf" and config.n_centers ** space.shape[0] > MAX_RBF_FEATURES:
        raise UserError(f"--n-centers {config.n_centers} on {config.env_id}'s {space.shape[0]} observation dimensions "
                        f"is {config.n_centers ** space.shape[0]:,} RBF features; use fewer or --features fourier")
    features = Features(space, config)
    feature_space = gym.spaces.Box(-np.inf, np.inf, (features.size,), np.float64)
    return gym.wrappers.TransformObservation(env, features, feature_space)


def get_config(argv=None):
    """The config from the command line (`argv`), this script's defaults applied, checked."""
    config = parse_config(LinearConfig, argv, __doc__.split("\n")[0], lambda env_id, algo: DEFAULTS)
    make_env(config).close()  # an env linear Q cannot handle is refused now, in one line, before a run starts
    return config


def build(config):
    """(env, eval_env, agent): the seeded start of every run, exactly what main() trains."""
    env, eval_env = seeded_envs(config, make_env)
    # Weights start at zero while every reward is -1: all unvisited actions look better than visited
    # ones ("optimism in the face of uncertainty"), which explores systematically without epsilon.
    agent = LinearQAgent(env.observation_space.shape[0], env.action_space.n, config.alpha, config.gamma,
                         config.epsilon_start, config.epsilon_min, config.epsilon_decay, 0.0, seed=config.seed)
    return env, eval_env, agent


def main(argv=None):
    config = get_config(argv)
    env, eval_env, agent = build(config)
    return train(config, ALGO, env, eval_env, agent, lambda: {"weights": torch.from_numpy(agent.q_table.copy())})


if __name__ == "__main__":
    run_main(main)

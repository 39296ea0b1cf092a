"""Turning continuous environments into tables: discrete states by binning, discrete torques by a Gaussian kernel.

A Q-table needs a finite set of states and a finite set of actions. FrozenLake has both. Pendulum has
neither: its observation is (cos theta, sin theta, angular velocity) and its action a torque in [-2, 2].
Two small gymnasium wrappers fix that, and leave the environment's reward and time limit untouched.
"""
import math

import gymnasium as gym
import numpy as np

from plumbing import UserError, env_spec

MAX_TABLE_STATES = 10_000_000  # beyond this a table does not fit in memory or is never visited enough


def one_line(space):
    """A space as one line of an error message (numpy wraps the bounds of a long Box over several lines)."""
    return " ".join(str(space).split())


def gaussian_actions(n_actions, max_action, sigma=0.5):
    """`n_actions` torques in [-max_action, max_action]: symmetric, zero included, denser near zero.

    The torques sit at evenly spaced quantiles of a Gaussian kernel exp(-u^2 / (2 sigma^2)) restricted to
    [-1, 1] and scaled by max_action: where the kernel is high (near zero) they crowd together, where it
    is low (near the ends) they spread out. Balancing needs fine control around zero torque; swinging
    up only needs "push hard". The 0 and 1 quantiles are the bounds themselves, the median is zero, and a
    larger sigma gives a more even spacing. Returns shape (n_actions,), float32, sorted ascending.
    """
    if n_actions < 3 or n_actions % 2 == 0:
        raise UserError(f"the number of discrete actions must be odd and >= 3 (so zero is one of them), got {n_actions}")
    if sigma <= 0:
        raise UserError(f"sigma must be positive, got {sigma}")
    u = np.linspace(-1.0, 1.0, 20_001)
    cdf = np.array([math.erf(v / (sigma * math.sqrt(2))) for v in u])  # the kernel's integral, up to scale
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])                           # ... rescaled to run from 0 to 1
    actions = np.interp(np.linspace(0.0, 1.0, n_actions), cdf, u) * max_action
    actions[n_actions // 2] = 0.0  # exactly zero, not 1e-17
    return actions.astype(np.float32)


class DiscretizeObservation(gym.ObservationWrapper):
    """Box observation -> one integer state: `nvec_s` equal bins per dimension between the bounds.

    Bin i of a dimension covers [low + i*w, low + (i+1)*w) with w = (high - low) / nvec_s; a value on the
    upper edge (and anything above it) lands in the last bin, anything below `low` in the first. The
    per-dimension bins are combined into one index, row-major, like `np.ravel_multi_index`.
    """

    def __init__(self, env, nvec_s):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise UserError(f"cannot discretize the observation space {one_line(space)}: need a flat Box")
        if not np.all(np.isfinite(space.low)) or not np.all(np.isfinite(space.high)):
            raise UserError(f"cannot cut {one_line(space)} into the bins of a table: its bounds are infinite")
        if nvec_s < 1 or nvec_s ** space.shape[0] > MAX_TABLE_STATES:
            raise UserError(f"{nvec_s} bins on {space.shape[0]} dimensions is not a table size that fits")
        self.nvec_s = nvec_s
        self.low = space.low.astype(np.float64)
        self.bin_width = (space.high.astype(np.float64) - self.low) / nvec_s
        self.strides = nvec_s ** np.arange(space.shape[0] - 1, -1, -1)  # row-major: last dim varies fastest
        self.observation_space = gym.spaces.Discrete(nvec_s ** space.shape[0])

    def bins(self, observation):
        """Per-dimension bin indices, shape (obs_dim,), each in [0, nvec_s - 1]."""
        index = ((np.asarray(observation, dtype=np.float64) - self.low) / self.bin_width).astype(np.int64)
        return np.clip(index, 0, self.nvec_s - 1)

    def observation(self, observation):
        return int(self.bins(observation) @ self.strides)


class DiscreteActions(gym.ActionWrapper):
    """Box action -> Discrete(n_actions): action i applies the i-th Gaussian-spaced torque."""

    def __init__(self, env, n_actions, sigma=0.5):
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or space.shape != (1,):
            raise UserError(f"can only discretize a one-dimensional Box action space, got {one_line(space)}")
        if not np.isclose(-space.low[0], space.high[0]):
            raise UserError(f"the action bounds must be symmetric around zero, got {one_line(space)}")
        self.torques = gaussian_actions(n_actions, float(space.high[0]), sigma)
        self._as_arrays = [np.array([t], dtype=np.float32) for t in self.torques]  # built once, not per step
        self.action_space = gym.spaces.Discrete(n_actions)

    def action(self, action):
        return self._as_arrays[action]


def make_env(env_id, nvec_s=10, nvec_u=11, sigma=0.5, map_name="4x4", slippery=True, render_mode=None):
    """A gymnasium env with Discrete observations and actions, ready for a Q-table.

    FrozenLake takes `map_name` and `slippery`; an env with Box observations (Pendulum, CartPole, ...) is
    binned, and one with a one-dimensional Box action gets Gaussian-spaced discrete actions.
    """
    spec = env_spec(env_id)  # an unknown id, or an Atari game's images: one line, before anything is built
    kwargs = dict(map_name=map_name, is_slippery=slippery) if spec.name == "FrozenLake" else {}
    try:
        env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except gym.error.Error as e:
        raise UserError(f"cannot create {env_id!r}: {e}") from None
    if isinstance(env.observation_space, gym.spaces.Box):
        env = DiscretizeObservation(env, nvec_s)
    if isinstance(env.action_space, gym.spaces.Box):
        env = DiscreteActions(env, nvec_u, sigma)
    if not isinstance(env.observation_space, gym.spaces.Discrete) or not isinstance(env.action_space, gym.spaces.Discrete):
        raise UserError(f"{env_id!r} has observations {one_line(env.observation_space)} and actions {one_line(env.action_space)}; "
                        "a Q-table needs both to be Discrete or a flat bounded Box")
    return env

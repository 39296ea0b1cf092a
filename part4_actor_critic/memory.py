"""The rollout buffer (n_steps x num_envs, preallocated) and generalized advantage estimation, GAE(gamma, lambda).

Unlike Part 2's replay memory, nothing here outlives one update: the actor-critic is on-policy, so each
rollout is used (once for A2C, for a few epochs for PPO) and then overwritten.
"""
import numpy as np


def gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Generalized advantage estimates, by the backward recursion. All arrays (T, num_envs); returns (T, num_envs).

        delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)         the one-step TD error
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   done = terminated or truncated

    lam = 0 gives A_t = delta_t (one-step TD: low variance, biased by V); lam = 1 gives the discounted sum of
    rewards up to the rollout's end, bootstrapped there: r_t + gamma r_{t+1} + ... + gamma^k V(s_{t+k}) - V(s_t)
    (Monte Carlo within the rollout: unbiased, high variance). In between, a dial.

    Terminated is not truncated: only a real end (the pole fell) zeroes the bootstrap, since nothing follows
    it. A time-limit truncation bootstraps from V(s_{t+1}), `next_values`, which must be the value of the
    episode's REAL final observation, never of the next episode's first one. Either kind of end stops the
    recursion: the next episode's advantages do not leak into this one.
    """
    advantages = np.zeros_like(rewards, dtype=np.float32)
    keep_value = gamma * (1.0 - terminated)
    keep_advantage = gamma * lam * (1.0 - np.maximum(terminated, truncated))
    last = np.zeros(rewards.shape[1:], dtype=np.float32)
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + keep_value[t] * next_values[t] - values[t]
        last = advantages[t] = delta + keep_advantage[t] * last
    return advantages


class RolloutBuffer:
    """One rollout: `n_steps` vector steps of `num_envs` envs. Arrays are time first, (n_steps, num_envs, ...).

    - obs[t]: what the policy saw at step t (normalised, if observations are); actions[t]: what it did;
    - log_probs[t]: log pi_old(actions[t] | obs[t]), recorded when acting (PPO's ratio divides by it);
    - rewards[t], terminated[t], truncated[t]: what `envs.step` returned;
    - valid[t] = 0 where step t only reset a finished sub-env (gymnasium's NEXT_STEP autoreset, see
      wrappers.py): no transition happened there, and it must not enter the loss;
    - last_obs: the observation after the last step, (num_envs, n_obs), to value the rollout's end.
    """

    def __init__(self, n_steps, num_envs, n_obs, action_shape, discrete):
        self.obs = np.zeros((n_steps, num_envs, n_obs), dtype=np.float32)
        self.actions = np.zeros((n_steps, num_envs, *action_shape), dtype=np.int64 if discrete else np.float32)
        self.log_probs = np.zeros((n_steps, num_envs), dtype=np.float32)
        self.rewards = np.zeros((n_steps, num_envs), dtype=np.float32)
        self.terminated = np.zeros((n_steps, num_envs), dtype=np.float32)
        self.truncated = np.zeros((n_steps, num_envs), dtype=np.float32)
        self.valid = np.zeros((n_steps, num_envs), dtype=np.float32)
        self.last_obs = np.zeros((num_envs, n_obs), dtype=np.float32)
        self.n_steps, self.num_envs = n_steps, num_envs

    def push(self, t, obs, actions, log_probs, rewards, terminated, truncated, valid):
        """Store vector step t: obs (num_envs, n_obs), the rest (num_envs, ...)."""
        self.obs[t], self.actions[t], self.log_probs[t], self.rewards[t] = obs, actions, log_probs, rewards
        self.terminated[t], self.truncated[t], self.valid[t] = terminated, truncated, valid

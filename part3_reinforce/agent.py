"""REINFORCE: collect whole episodes with the current policy, weight each log-probability by what followed.

    collect_episodes(envs)   one complete episode from each sub-env of a vector env, in preallocated arrays
    learn(batch)             one policy-gradient step (and one value step for the learned baseline)
    evaluate(env, episodes)  greedy episodes (argmax / mean action) on a separate env
    train(...)               alternate the two until the step budget is spent

The math lives in small pure functions (`discounted_returns`, `policy_loss`, `entropy_loss`, ...) so that
the tests can check each against values worked out by hand.
"""
import math
import time

import gymnasium as gym
import numpy as np
import torch
from torch.nn import functional as F

from networks import NumpySampler, PolicyNetwork, ValueNetwork


# ---------- the math ----------

def discounted_returns(rewards, gamma, mask=None, tail=0.0):
    """Reward-to-go G_t = r_t + gamma r_{t+1} + gamma^2 r_{t+2} + ... of each step, in one backward pass.

    rewards: (T,) for one episode, or (T, n_episodes), time first. mask: 1 where a step belongs to its
    episode (default: every step). tail: what the return is worth after each episode's last step, scalar
    or (n_episodes,): 0 when the episode terminated, an estimate V(final observation) when a time limit
    cut it. Past an episode's end the running return holds the tail, so the last step gets r + gamma * tail
    however long the other episodes of the batch ran. Returns an array shaped like `rewards`.
    Causality: the action at t cannot have influenced rewards before t, so only rewards from t on weight it.
    """
    mask = np.ones_like(rewards) if mask is None else mask
    returns = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0]) + tail
    for t in range(len(rewards) - 1, -1, -1):
        # discounts compound: each step back multiplies everything after it by gamma once more
        running = np.where(mask[t] > 0, rewards[t] + gamma * running, tail)
        returns[t] = running
    return returns


def policy_loss(log_probs, weights):
    """-mean(log pi(a_t | s_t) * weight_t): its gradient is the policy-gradient estimate (weights are constants)."""
    return -(log_probs * weights.detach()).mean()


def batch_mean_baseline(returns):
    """The batch-mean baseline: the mean of the return (q-value) estimates in the batch, shape ()."""
    return returns.mean()


def entropy_loss(entropy, max_entropy):
    """-mean entropy / maximum entropy: minimizing it raises the entropy; the division makes one coefficient
    mean the same thing for 2 actions or 18, or a Box."""
    return -entropy.mean() / max_entropy


def max_entropy(action_space):
    """ln(n) for n discrete actions (the uniform distribution); for a Box, the entropy of the uniform
    distribution over the box, sum of ln(high - low). A Gaussian can exceed the latter: it is a scale here."""
    if isinstance(action_space, gym.spaces.Discrete):
        return math.log(action_space.n)
    return float(np.log(action_space.high - action_space.low).sum())


def normalize_scale(weights):
    """Divide by the batch standard deviation: one learning rate then fits rewards of any size. Only a
    scale, not a shift: subtracting the mean too would be a batch-mean baseline in disguise, and the
    vpg / bpg comparison would compare the same thing twice."""
    return weights / (weights.std() + 1e-8)


# ---------- the agent ----------

class Agent:
    """REINFORCE with an optional baseline ("none", "batch", "value") and entropy bonus. `config` is train.Config."""

    def __init__(self, config, observation_space, action_space, device="cpu"):
        self.config, self.device = config, torch.device(device)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        n_obs = observation_space.shape[0]
        action_dim = action_space.n if self.discrete else action_space.shape[0]
        scale = 1.0 if self.discrete else np.maximum(np.abs(action_space.low), np.abs(action_space.high))
        self.policy = PolicyNetwork(n_obs, action_dim, self.discrete, config.hidden, config.log_std_init,
                                    scale).to(self.device)
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)
        self.value = None
        if config.baseline == "value":
            self.value = ValueNetwork(n_obs, config.hidden).to(self.device)
            self.value_optimizer = torch.optim.Adam(self.value.parameters(), lr=config.value_learning_rate)
        self.max_entropy = max_entropy(action_space)
        if not self.discrete:
            self.low, self.high = action_space.low, action_space.high
        self.rng = np.random.default_rng(config.seed)  # action sampling during collection
        self.steps, self.episodes = 0, 0

    def to_env(self, actions):
        """Numpy actions -> what the env takes; continuous actions are clipped to the bounds (the
        log-probability is of the unclipped sample, which is what the policy actually drew)."""
        return actions if self.discrete else np.clip(actions, self.low, self.high)

    def collect_episodes(self, envs, seed=None):
        """Play one whole episode in each of the vector env's sub-envs with the current policy.

        Returns a dict of arrays with time first: obs (T, n, n_obs) float32, actions (T, n[, dim]),
        rewards (T, n) float32, mask (T, n) 1 where the step belongs to the episode, lengths (n,), and
        how each episode ended: terminated (n,) 1 if the env said so, 0 if the time limit truncated it,
        and final_obs (n, n_obs), the observation the last step led to (the true final one, not the
        reset that follows). A sub-env that finishes early keeps stepping (a vector env steps all of
        them) but its extra steps are masked out and not counted.
        """
        n, horizon = envs.num_envs, self.config.max_episode_steps
        obs_buf = np.zeros((horizon, n, *envs.single_observation_space.shape), dtype=np.float32)
        act_buf = np.zeros((horizon, n, *envs.single_action_space.shape),
                           dtype=np.int64 if self.discrete else np.float32)
        rew_buf = np.zeros((horizon, n), dtype=np.float32)
        mask = np.zeros((horizon, n), dtype=np.float32)
        final_obs = np.zeros((n, *envs.single_observation_space.shape), dtype=np.float32)
        ended_terminated = np.zeros(n, dtype=np.float32)
        active = np.ones(n, dtype=bool)
        policy = NumpySampler(self.policy, self.rng)  # this batch's policy, frozen, in numpy
        obs, _ = envs.reset(seed=seed)
        t = 0
        while active.any() and t < horizon:
            obs_buf[t], mask[t] = obs, active
            actions = policy.sample(obs)
            act_buf[t] = actions
            obs, rewards, terminated, truncated, _ = envs.step(self.to_env(actions))
            rew_buf[t] = rewards * active  # zero after the end, so returns of finished episodes stay put
            ended = active & (terminated | truncated)
            # the vector env resets a finished sub-env on its *next* step, so `obs` is still the true final one
            final_obs[ended] = obs[ended]
            ended_terminated[ended] = terminated[ended]  # a time limit (truncated) is not a terminal state
            active &= ~ended
            t += 1
        lengths = mask[:t].sum(0).astype(np.int64)
        self.steps += int(lengths.sum())
        self.episodes += n
        return dict(obs=obs_buf[:t], actions=act_buf[:t], rewards=rew_buf[:t], mask=mask[:t], lengths=lengths,
                    terminated=ended_terminated, final_obs=final_obs)

    def learn(self, batch):
        """One gradient step on the policy (and the value network). Returns the logged quantities as floats."""
        c = self.config
        tail = 0.0  # a terminated episode is worth nothing after its end
        if self.value is not None:
            # A time limit is not the end of the task: the return was cut short, and the rewards that would
            # have followed are estimated by V(final observation). Terminated episodes keep a tail of 0.
            with torch.no_grad():
                tail = self.value(torch.as_tensor(batch["final_obs"], device=self.device)).cpu().numpy()
            tail = tail * (1.0 - batch["terminated"])
        returns = discounted_returns(batch["rewards"], c.gamma, batch["mask"], tail)
        valid = batch["mask"].astype(bool)              # (T, n): flatten the valid steps of all episodes
        as_tensor = lambda x: torch.as_tensor(x[valid], device=self.device)
        obs, actions, returns = as_tensor(batch["obs"]), as_tensor(batch["actions"]), as_tensor(returns)

        log_probs, entropy = self.policy.log_prob_entropy(obs, actions)
        stats = {}
        if c.baseline == "value":
            with torch.no_grad():  # the baseline shifts the weights; it must not get policy gradients
                baseline = self.value(obs)
            for _ in range(c.value_steps):  # regress V towards the returns; one step would barely move it
                value_loss = F.mse_loss(self.value(obs), returns)
                self.value_optimizer.zero_grad(set_to_none=True)
                value_loss.backward()
                self.value_optimizer.step()
            stats["losses/value_loss"] = value_loss.item()
        elif c.baseline == "batch":
            baseline = batch_mean_baseline(returns)
        else:
            baseline = torch.zeros(())
        weights = returns - baseline                    # advantages (or plain returns without a baseline)
        if c.normalize:
            weights = normalize_scale(weights)
        loss_pg = policy_loss(log_probs, weights)
        loss_entropy = entropy_loss(entropy, self.max_entropy)
        loss = loss_pg + c.entropy_coef * loss_entropy
        self.policy_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), c.max_grad_norm)
        self.policy_optimizer.step()
        stats.update({"losses/policy_loss": loss_pg.item(), "losses/entropy_loss": loss_entropy.item(),
                      "losses/entropy": entropy.mean().item(), "charts/baseline": float(baseline.mean())})
        return stats

    def greedy_action(self, obs):
        """The greedy action for one observation, as the env takes it."""
        action = self.policy.greedy(torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0))[0]
        return int(action) if self.discrete else self.to_env(action.cpu().numpy())

    def evaluate(self, env, episodes, seed=None, on_frame=None):
        """Greedy episodes on `env` (argmax or mean action, never sampled), which must not be the training env:
        stepping that would cut its episodes short. Returns (mean, std) of the return. `seed` seeds the first
        reset only; `on_frame()` is called after every reset and step (test.py records a GIF with it)."""
        returns = np.zeros(episodes)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            if on_frame is not None:
                on_frame()
            done = False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(self.greedy_action(obs))
                returns[episode] += reward
                done = terminated or truncated
                if on_frame is not None:
                    on_frame()
        return float(returns.mean()), float(returns.std())

    def train(self, envs, on_update=None, on_eval=None):
        """Batches of whole episodes until `total_steps` env steps; returns training seconds (evaluation excluded).

        `on_update(stats)` after every update with the batch's episode returns and lengths added,
        `on_eval(step, train_seconds)` every `eval_every` env steps.
        """
        c = self.config
        next_eval, train_seconds, start = c.eval_every, 0.0, time.perf_counter()
        first = True
        while self.steps < c.total_steps:
            batch = self.collect_episodes(envs, seed=c.seed if first else None)
            first = False
            stats = self.learn(batch)
            if on_update is not None:
                episode_returns = batch["rewards"].sum(0)
                on_update(dict(stats, step=self.steps, episodes=self.episodes, returns=episode_returns,
                               lengths=batch["lengths"]))
            # the final policy is always evaluated: a completed run has a model even if total_steps < eval_every
            if self.steps >= next_eval or self.steps >= c.total_steps:
                train_seconds += time.perf_counter() - start
                if on_eval is not None:
                    on_eval(self.steps, train_seconds)
                while next_eval <= self.steps:
                    next_eval += c.eval_every
                start = time.perf_counter()
        return train_seconds + time.perf_counter() - start

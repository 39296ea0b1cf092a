"""The actor-critic agent: collect a rollout from the vector env, estimate advantages with GAE, update.

    --algo a2c   one gradient step per rollout on the policy-gradient loss (the chapter's core)
    --algo ppo   several epochs of minibatches on the clipped surrogate, kept near the rollout's policy

One Agent; the flag picks the policy loss and how many gradient steps a rollout feeds. `config` is train.Config.
"""
import time

import gymnasium as gym
import numpy as np
import torch

from memory import RolloutBuffer, gae
from networks import ActorCritic
from wrappers import AUTORESET_MODE, ObservationNormalizer, RewardScaler


# ---------- the losses ----------

def policy_gradient_loss(log_probs, advantages):
    """A2C's policy loss -mean(log pi(a|s) * A): its gradient is the policy gradient with A as the weight.
    The advantages are constants here (computed without gradient), so only the actor learns from this loss."""
    return -(log_probs * advantages).mean()


def clipped_surrogate_loss(ratio, advantages, clip_range):
    """PPO's loss -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)), ratio = pi_new(a|s) / pi_old(a|s).

    The min takes the pessimistic of the two: once the ratio has moved past 1 + eps (for A > 0) or below
    1 - eps (for A < 0), the clipped term is the smaller one and it is constant, so its gradient is zero:
    the policy gains nothing from moving further from the one that collected the data. Moves that make
    the objective worse are never clipped. At ratio = 1 its gradient equals A2C's.
    """
    clipped = torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    return -torch.min(ratio * advantages, clipped * advantages).mean()


def value_loss_fn(values, returns, old_values=None, clip_range_vf=0.0):
    """0.5 * mean (V(s) - return)^2; with clip_range_vf > 0, PPO's clipped variant: the larger of the errors of
    V(s) and of V_old(s) + clip(V(s) - V_old(s), -c, c), so the critic too gains nothing from big jumps."""
    if clip_range_vf <= 0:
        return 0.5 * ((values - returns) ** 2).mean()
    clipped = old_values + torch.clamp(values - old_values, -clip_range_vf, clip_range_vf)
    return 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).mean()


def normalize_advantages(advantages):
    """Zero mean, unit std over the (mini)batch: a shift (a baseline) and a scale (one learning rate for any reward size).

    A minibatch of ONE row has no std (the unbiased estimate divides by n - 1 = 0: NaN, and one NaN loss
    turns every weight into NaN). It happens: the reset-only slots are dropped, so the number of valid rows
    varies and the last minibatch of an epoch can hold a single row. Its advantage is 0 then (the mean
    removed), so that row teaches only the critic and the entropy bonus.
    """
    if advantages.numel() < 2:
        return advantages - advantages.mean()
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


# ---------- the agent ----------

class Agent:
    """A2C or PPO (config.algo) on a vector env of config.num_envs copies, with config.n_steps per rollout."""

    def __init__(self, config, observation_space, action_space, device="cpu"):
        c = self.config = config
        self.device = torch.device(device)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        n_obs = observation_space.shape[0]
        action_dim = int(action_space.n) if self.discrete else action_space.shape[0]
        self.network = ActorCritic(n_obs, action_dim, self.discrete, c.hidden, c.shared, c.log_std_init).to(self.device)
        # the default: two networks, two optimizers; --shared: one trunk, one optimizer, the value loss weighted
        groups = [self.network.parameters()] if c.shared else [self.network.actor_parameters(),
                                                               self.network.critic_parameters()]
        self.optimizers = [self.make_optimizer(list(params)) for params in groups]
        self.obs_normalizer = ObservationNormalizer(n_obs) if c.normalize_obs else None
        self.reward_scaler = RewardScaler(c.num_envs, c.gamma) if c.normalize_reward else None
        if not self.discrete:
            self.low, self.high = action_space.low, action_space.high
        self.buffer = RolloutBuffer(c.n_steps, c.num_envs, n_obs, () if self.discrete else (action_dim,), self.discrete)
        self.steps, self.updates = 0, 0
        self.finished_episodes = []                     # (return, length) of episodes ended since the last log
        self.episode_returns = np.zeros(c.num_envs)
        self.episode_lengths = np.zeros(c.num_envs, dtype=np.int64)

    def make_optimizer(self, params):
        c = self.config
        # foreach=True: each step is a few calls over all the network's tensors instead of a loop over them
        # (the same arithmetic; on the CPU torch picks the loop by default)
        if c.optimizer == "rmsprop":  # what the A2C paper and SB3's A2C use
            return torch.optim.RMSprop(params, lr=c.learning_rate, alpha=0.99, eps=1e-5, foreach=True)
        return torch.optim.Adam(params, lr=c.learning_rate, eps=1e-5, foreach=True)

    # ---------- acting ----------

    def observe(self, obs, update=False):
        """What the networks see: float32, normalised by the running statistics if --normalize-obs."""
        obs = np.asarray(obs, dtype=np.float32)
        return self.obs_normalizer(obs, update) if self.obs_normalizer is not None else obs

    def to_env(self, actions):
        """Actions as the env takes them: Box actions are clipped to the bounds (the log-probability is that of
        the unclipped sample, which is what the Gaussian actually drew)."""
        return actions if self.discrete else np.clip(actions, self.low, self.high)

    def tensor(self, obs):
        return torch.as_tensor(obs, device=self.device)

    @torch.no_grad()
    def act(self, obs):
        """Sample actions for a batch of observations (num_envs, n_obs) from pi(.|obs); return them with their
        log-probabilities log pi(a|s), recorded now: PPO's ratio divides by exactly these. Arrays (num_envs, ...)."""
        distribution = self.network.distribution(self.tensor(obs))
        actions = distribution.sample()
        return actions.cpu().numpy(), distribution.log_prob(actions).cpu().numpy()

    @torch.no_grad()
    def greedy_action(self, obs):
        """The greedy action for one raw observation: the mode of pi(.|obs), i.e. the most likely action, or the
        Gaussian's mean (clipped)."""
        action = self.network.distribution(self.tensor(self.observe(obs[None]))).mode[0].cpu().numpy()
        return int(action) if self.discrete else self.to_env(action)

    def start(self, envs, seed=None):
        """Reset the training envs (seeded once) before the first rollout."""
        if envs.metadata.get("autoreset_mode") != AUTORESET_MODE:
            raise ValueError(f"the collection loop expects gymnasium's {AUTORESET_MODE} autoreset (wrappers.make_vector_env)")
        obs, _ = envs.reset(seed=seed)
        self.obs = self.observe(obs, update=True)
        self.done = np.zeros(envs.num_envs, dtype=bool)  # did the previous step end each sub-env's episode?

    def collect_rollouts(self, envs):
        """Fill the buffer with n_steps vector steps of the current policy (one step of all envs at a time)."""
        buffer = self.buffer
        obs, done = self.obs, self.done
        for t in range(buffer.n_steps):
            actions, log_probs = self.act(obs)
            next_obs, rewards, terminated, truncated, _ = envs.step(self.to_env(actions))
            # NEXT_STEP autoreset: where the previous step ended an episode, this step only reset that sub-env
            # (its action was ignored, its reward is 0): no transition, so it is marked invalid for the loss
            valid = ~done
            done = terminated | truncated
            self.track_episodes(rewards, done, valid)
            if self.reward_scaler is not None:
                rewards = self.reward_scaler(rewards, done)
            buffer.push(t, obs, actions, log_probs, rewards, terminated, truncated, valid)
            # at an episode's end `next_obs` is its REAL final observation: stored as obs[t + 1], it is what
            # a truncated step bootstraps from (learn), and the reset happens one step later
            obs = self.observe(next_obs, update=True)
        buffer.last_obs[:] = obs
        self.obs, self.done = obs, done
        self.steps += buffer.n_steps * buffer.num_envs  # every slot counts, the reset-only ones too

    def track_episodes(self, rewards, done, valid):
        """Undiscounted returns and lengths of the training episodes, in the env's own reward scale.

        Whole arrays at a time (no Python loop over the envs): this runs at every vector step.
        """
        self.episode_returns += rewards * valid
        self.episode_lengths += valid
        if done.any():
            self.finished_episodes += zip(self.episode_returns[done].tolist(), self.episode_lengths[done].tolist())
            self.episode_returns[done], self.episode_lengths[done] = 0.0, 0

    # ---------- learning ----------

    def prepare_batch(self):
        """The rollout's valid steps, flattened, with their GAE advantages and returns (the critic's targets).

        Returns a dict of tensors with one row per valid step: obs (k, n_obs), actions (k,) or (k, dim),
        advantages, returns, values, log_probs (k,). values and log_probs are the rollout policy's (no gradient):
        the log-probabilities were recorded when acting (collect_rollouts), the values are computed here in one pass.
        """
        c, b = self.config, self.buffer
        T, n = b.rewards.shape
        with torch.no_grad():  # targets are constants: no gradient may flow into them
            all_obs = self.tensor(np.concatenate([b.obs, b.last_obs[None]])).flatten(0, 1)
            all_values = self.network.value(all_obs).view(T + 1, n).cpu().numpy()
        # NEXT_STEP autoreset: the observation after step t is the one stored at step t + 1, also when step t
        # ended an episode (the real final observation; the reset came in slot t + 1). So V(s_{t+1}) is
        # simply the next row: a truncated step bootstraps from its own episode's final state.
        values, next_values = all_values[:-1], all_values[1:]
        advantages = gae(b.rewards, values, next_values, b.terminated, b.truncated, c.gamma, c.gae_lambda)
        returns = advantages + values                  # the critic's targets: GAE(lambda) returns
        valid = np.flatnonzero(b.valid.reshape(-1))    # the reset-only steps never enter the loss
        rows = lambda x: self.tensor(np.ascontiguousarray(x.reshape(T * n, *x.shape[2:])[valid]))
        return dict(obs=rows(b.obs), actions=rows(b.actions), advantages=rows(advantages), returns=rows(returns),
                    values=rows(values), log_probs=rows(b.log_probs))

    def learn(self):
        """Update on the last rollout: A2C one gradient step on all of it, PPO n_epochs over shuffled minibatches.
        Returns the logged quantities of the last gradient step as floats."""
        c = self.config
        if c.anneal_lr:  # linearly to zero at total_steps
            for optimizer in self.optimizers:
                optimizer.param_groups[0]["lr"] = c.learning_rate * max(0.0, 1.0 - self.steps / c.total_steps)
        batch = self.prepare_batch()
        if c.algo == "a2c":
            stats = self.gradient_step(batch)
        else:
            k = len(batch["obs"])
            for _ in range(c.n_epochs):
                order = torch.randperm(k)
                for first in range(0, k, c.minibatch_size):
                    rows = order[first:first + c.minibatch_size]
                    stats = self.gradient_step({key: value[rows] for key, value in batch.items()})
        self.updates += 1
        return {key: float(value) for key, value in stats.items()}

    def gradient_step(self, batch):
        """One gradient step on a (mini)batch from prepare_batch. Returns the losses as 0-d tensors."""
        c = self.config
        distribution, values = self.network(batch["obs"])
        log_probs, entropy = distribution.log_prob(batch["actions"]), distribution.entropy()
        advantages = batch["advantages"]
        if c.normalize_advantages:
            advantages = normalize_advantages(advantages)
        stats = {}
        if c.algo == "ppo":
            log_ratio = log_probs - batch["log_probs"]  # log pi_new(a|s) - log pi_old(a|s), recorded when acting
            ratio = log_ratio.exp()
            policy_loss = clipped_surrogate_loss(ratio, advantages, c.clip_range)
            with torch.no_grad():  # how far this minibatch's policy has moved from the rollout's (logged only)
                stats["losses/approx_kl"] = ((ratio - 1) - log_ratio).mean()
                stats["losses/clip_fraction"] = ((ratio - 1).abs() > c.clip_range).float().mean()
        else:
            policy_loss = policy_gradient_loss(log_probs, advantages)
        value_loss = value_loss_fn(values, batch["returns"], batch["values"], c.clip_range_vf)
        entropy = entropy.mean()
        # the entropy bonus: subtracting it rewards a policy that stays uncertain, so it keeps exploring
        actor_loss = policy_loss - c.ent_coef * entropy
        if c.shared:  # one trunk, one optimizer: the value loss's weight sets how much it shapes the trunk
            loss = actor_loss + c.vf_coef * value_loss
        else:
            # separate networks share no parameter: each loss reaches only its own network, so one backward
            # pass of the sum gives each optimizer exactly the gradient of its own loss
            loss = actor_loss + value_loss
        self.optimize(loss)
        stats.update({"losses/policy_loss": policy_loss.detach(), "losses/value_loss": value_loss.detach(),
                      "losses/entropy": entropy.detach()})
        return stats

    def optimize(self, loss):
        """Backpropagate `loss`, clip each network's gradient norm to max_grad_norm, step each optimizer."""
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in self.optimizers:
            torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]["params"], self.config.max_grad_norm)
            optimizer.step()

    # ---------- saving, evaluation and the loop ----------

    def state(self):
        """What a checkpoint needs besides the config: the weights and the observation statistics (plain types)."""
        return dict(state_dict=self.network.state_dict(),
                    obs_normalizer=self.obs_normalizer.stats.state_dict() if self.obs_normalizer else None)

    def load(self, checkpoint):
        self.network.load_state_dict(checkpoint["state_dict"])
        if self.obs_normalizer is not None:
            self.obs_normalizer.stats.load_state_dict(checkpoint["obs_normalizer"])

    def evaluate(self, env, episodes, seed=None, on_frame=None):
        """Greedy episodes on `env` (a single env, never the training one). Returns (mean, std) of the return.

        `seed` seeds the first reset only, so successive evaluations see fresh episodes; `on_frame(episode)`
        is called after every step (test.py records GIFs with it). The observation
        statistics stay frozen: evaluating must not change what training sees.
        """
        returns = np.zeros(episodes)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            done = False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(self.greedy_action(obs))
                returns[episode] += reward
                done = terminated or truncated
                if on_frame is not None:
                    on_frame(episode)
        return float(returns.mean()), float(returns.std())

    def train(self, envs, on_log=None, on_eval=None):
        """Rollouts and updates until total_steps env steps (all envs counted). Returns training seconds.

        `on_log(step, stats, episodes)` at most every 2,000 steps (once episodes have finished), with the last
        update's stats and the (return, length) of the episodes finished since the last call; `on_eval(step,
        train_seconds)` every eval_every steps and once at the end (unless the last one was at the final step),
        so a finished run always evaluates its final policy. train_seconds excludes the time spent in on_eval.
        """
        c = self.config
        self.start(envs, seed=c.seed)
        next_eval, next_log, last_eval = c.eval_every, 0, None
        train_seconds, started = 0.0, time.perf_counter()
        while self.steps < c.total_steps:
            self.collect_rollouts(envs)
            stats = self.learn()
            if on_log is not None and self.steps >= next_log and self.finished_episodes:
                on_log(self.steps, stats, self.finished_episodes)
                self.finished_episodes, next_log = [], self.steps + 2_000
            if self.steps >= next_eval:
                train_seconds += time.perf_counter() - started
                if on_eval is not None:
                    on_eval(self.steps, train_seconds)
                last_eval = self.steps
                while next_eval <= self.steps:
                    next_eval += c.eval_every
                started = time.perf_counter()
        train_seconds += time.perf_counter() - started
        if on_eval is not None and last_eval != self.steps:
            on_eval(self.steps, train_seconds)
        return train_seconds

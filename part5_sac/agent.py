"""The SAC agent: a squashed Gaussian actor, two critics with lagging targets, and a self-tuning temperature.

    get_action(obs, greedy)   one action in [-1, 1]: a sample from the policy, or its mean when greedy
    collect_rollouts(env, n)  n environment steps into the replay memory
    learn(gradient_steps)     that many soft actor-critic updates, one minibatch each (`update`)
    update(batch)             critic step, actor step, temperature step, Polyak target update
    evaluate(env, episodes)   greedy (mean action) episodes on a separate env
    train(env, ...)           alternate collect_rollouts and learn until the step budget is spent
"""
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from memory import ReplayMemory
from networks import Actor, QNetwork


def soft_td_target(rewards, next_q1, next_q2, next_log_prob, terminated, gamma, alpha):
    """The soft Bellman target y = r + gamma * (1 - terminated) * (min_i Q_target_i(s', a') - alpha * log pi(a'|s')).

    a' ~ pi(.|s') is a fresh sample from the current policy; the soft value of s' is the expected Q minus
    the temperature times the log-probability, i.e. plus alpha times the policy's entropy there.
    The min over the two target critics counters the overestimation that maximising through a learned
    Q causes (the same bias Double DQN fights in Part 2).
    Pitfall: only *terminated* stops the bootstrap. An episode cut by its time limit did not end for the
    pendulum: its last transition still bootstraps from s'.
    rewards, next_q1, next_q2, next_log_prob, terminated: (batch,); gamma, alpha: floats or 0-d tensors.
    Returns (batch,).
    """
    soft_value = torch.min(next_q1, next_q2) - alpha * next_log_prob
    return rewards + gamma * (1.0 - terminated) * soft_value


class Agent:
    """Soft actor-critic (Haarnoja et al. 2018, with the automatic temperature of the follow-up paper).

    `config` is train.Config; obs_dim and action_dim are integers. Actions live in [-1, 1]^action_dim.
    """

    def __init__(self, config, obs_dim, action_dim, device="cpu"):
        c = self.config = config
        self.obs_dim, self.action_dim, self.device = obs_dim, action_dim, torch.device(device)
        self.actor = Actor(obs_dim, action_dim, c.hidden).to(self.device)
        # Two critics, initialised independently, trained on the same targets: an overestimate has to fool both.
        self.critic1 = QNetwork(obs_dim, action_dim, c.hidden).to(self.device)
        self.critic2 = QNetwork(obs_dim, action_dim, c.hidden).to(self.device)
        # Target critics: slowly following copies (Polyak averaging) that give the regression its labels;
        # labels computed by the critics being trained would move with every step.
        self.critic1_target = copy.deepcopy(self.critic1).requires_grad_(False)
        self.critic2_target = copy.deepcopy(self.critic2).requires_grad_(False)
        # One optimizer for both critics (their losses are summed, their weights separate). fused=True: one
        # kernel updates every tensor of the networks, where the default loops over them in Python, which
        # costs more than the arithmetic for networks this small (1.2x per gradient step at 64-64, NOTES.md);
        # the same Adam update.
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.learning_rate, fused=True)
        self.critic_optimizer = torch.optim.Adam([*self.critic1.parameters(), *self.critic2.parameters()],
                                                 lr=c.learning_rate, fused=True)
        # The temperature alpha weighs entropy against reward. Learned as log(alpha) so it stays positive.
        self.log_alpha = torch.tensor(math.log(c.alpha), device=self.device, requires_grad=c.autotune)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=c.learning_rate) if c.autotune else None
        # Target entropy -|A|: the usual heuristic, about "one nat less per action dimension than uniform".
        self.target_entropy = -float(action_dim) if c.target_entropy == "auto" else float(c.target_entropy)
        capacity = min(c.buffer_size, c.total_steps)  # a run never stores more than total_steps transitions
        self.memory = ReplayMemory(capacity, obs_dim, action_dim, seed=c.seed, device=self.device)
        self.rng = np.random.default_rng(c.seed)  # the uniform random actions before learning_starts
        self.steps, self.gradient_steps = 0, 0
        self.train_seconds = 0.0  # training time so far, evaluation excluded (carried over by --resume)
        self.obs = None  # the training env's current observation, carried across collect_rollouts calls;
        # None between episodes: the next step starts one with env.reset() (seeded on the run's first step)
        self.episode_return, self.episode_length = 0.0, 0
        self.finished_episodes = []  # (return, length) since the last log
        self.stats = {}  # the last update's losses etc., as 0-d tensors (turned into floats only when logged)

    @property
    def alpha(self):
        return self.log_alpha.detach().exp()

    # ---------- acting ----------

    @torch.no_grad()
    def get_action(self, obs, greedy=False):
        """One action (action_dim,) float32 in [-1, 1] for one observation (obs_dim,).

        Greedy: tanh(mean), the squashed mean of the policy's Gaussian, no noise. Otherwise tanh(u) for u
        sampled from it; before `learning_starts` steps, a uniform random action (the actor knows nothing
        yet, and uniform actions fill the memory with varied experience).
        """
        if not greedy and self.steps < self.config.learning_starts:
            return self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)
        pi = self.actor(torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0))
        u = pi.mean if greedy else pi.sample()
        return torch.tanh(u)[0].cpu().numpy()

    def collect_rollouts(self, env, n_env_steps, stop_at_episode_end=False):
        """Take `n_env_steps` steps in `env` with the stochastic policy, pushing every transition into memory.

        `stop_at_episode_end`: return early when an episode ends (train() pauses there for on_checkpoint).
        Returns the number of steps taken.
        """
        for taken in range(1, n_env_steps + 1):
            if self.obs is None:  # an episode starts: the run's first (seeded) or the one after an episode end
                self.obs, _ = env.reset(seed=self.config.seed if self.steps == 0 else None)
            action = self.get_action(self.obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            # next_obs is the true last observation even when the episode ends here; only `terminated`
            # is stored: a truncated transition is an ordinary one for learning.
            self.memory.push(self.obs, action, reward, next_obs, terminated)
            self.episode_return += float(reward)
            self.episode_length += 1
            self.steps += 1
            self.obs = next_obs
            if terminated or truncated:
                self.finished_episodes.append((self.episode_return, self.episode_length))
                self.episode_return, self.episode_length = 0.0, 0
                self.obs = None  # the next step resets the env
                if stop_at_episode_end:
                    return taken
        return n_env_steps

    # ---------- learning ----------

    def learn(self, gradient_steps):
        """`gradient_steps` soft actor-critic updates, each on a fresh minibatch from the memory."""
        for _ in range(gradient_steps):
            self.update(*self.memory.sample(self.config.batch_size))

    def update(self, obs, actions, rewards, next_obs, terminated):
        """One SAC update on one minibatch: obs (batch, obs_dim), actions (batch, action_dim), rewards and
        terminated (batch,), next_obs (batch, obs_dim). Leaves its losses in `self.stats`."""
        c = self.config
        alpha = self.alpha  # this step's temperature, a constant for the critic and actor losses

        # 1. Critics: regress both Q1(s, a) and Q2(s, a) onto the soft Bellman target.
        with torch.no_grad():  # the target is a fixed label: no gradient may flow into it
            next_actions, next_log_prob = self.actor.sample(next_obs)
            target = soft_td_target(rewards, self.critic1_target(next_obs, next_actions),
                                    self.critic2_target(next_obs, next_actions), next_log_prob, terminated,
                                    c.gamma, alpha)
        q1, q2 = self.critic1(obs, actions), self.critic2(obs, actions)
        critic1_loss, critic2_loss = F.mse_loss(q1, target), F.mse_loss(q2, target)
        self.critic_optimizer.zero_grad()
        (critic1_loss + critic2_loss).backward()
        self.critic_optimizer.step()

        # 2. Actor: maximise E[min_i Q_i(s, a) - alpha * log pi(a|s)] with a = tanh(mean + std * noise)
        #    differentiable in the actor's weights (reparameterisation). The critics are only a road for
        #    the gradient here: freezing them skips computing their weight gradients.
        self.critic1.requires_grad_(False)
        self.critic2.requires_grad_(False)
        new_actions, log_prob = self.actor.sample(obs)
        q_new = torch.min(self.critic1(obs, new_actions), self.critic2(obs, new_actions))
        actor_loss = (alpha * log_prob - q_new).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        self.critic1.requires_grad_(True)
        self.critic2.requires_grad_(True)

        # 3. Temperature: J(alpha) = E[-log_alpha * (log pi(a|s) + target_entropy)]. The entropy is about
        #    -log pi: above the target, (log pi + target) < 0 and the step lowers alpha; below, it raises it.
        if c.autotune:
            alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()
            self.stats["alpha_loss"] = alpha_loss.detach()

        # 4. Targets follow the critics slowly.
        self.update_targets()
        self.gradient_steps += 1
        self.stats.update(critic1_loss=critic1_loss.detach(), critic2_loss=critic2_loss.detach(),
                          actor_loss=actor_loss.detach(), entropy=-log_prob.detach().mean(),
                          mean_q=(q1.detach().mean() + q2.detach().mean()) / 2, alpha=alpha)

    @torch.no_grad()
    def update_targets(self):
        """Polyak averaging of each target critic towards its critic: target <- tau * critic + (1 - tau) * target."""
        tau = self.config.tau
        for critic, target in ((self.critic1, self.critic1_target), (self.critic2, self.critic2_target)):
            for p, p_target in zip(critic.parameters(), target.parameters()):
                p_target.mul_(1.0 - tau).add_(tau * p)

    def set_learning_rate(self, lr):
        """The learning rate of all three optimizers (actor, critics, temperature)."""
        for optimizer in (self.actor_optimizer, self.critic_optimizer, self.alpha_optimizer):
            if optimizer is not None:
                optimizer.param_groups[0]["lr"] = lr

    # ---------- evaluation and the loop ----------

    def evaluate(self, env, episodes, seed=None, on_frame=None):
        """Greedy (mean action) episodes on `env`. Returns (mean, std) of the episode returns.

        `seed` seeds the first reset only, so successive evaluations see fresh episodes. `on_frame()` is
        called after every step (test.py records frames and angles with it).
        """
        returns = np.zeros(episodes)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            done = False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(self.get_action(obs, greedy=True))
                returns[episode] += reward
                done = terminated or truncated
                if on_frame is not None:
                    on_frame()
        return float(returns.mean()), float(returns.std())

    def train(self, env, on_log=None, on_eval=None, on_checkpoint=None):
        """Collect `train_freq` steps, then `gradient_steps` updates, until `total_steps` are spent.

        `on_eval(step, train_seconds)` runs every `eval_every` steps and once more at the final step if the
        last scheduled one was not there (so every completed run ends with an evaluation of its final
        policy). `on_log(step, episodes, stats)` runs at most every 1000 steps once episodes have finished.
        `on_checkpoint(step)` runs at the first episode end after every `checkpoint_every` steps (between
        episodes, where resume.py can save everything the run depends on). Returns the training seconds,
        evaluation and checkpoints excluded; a resumed agent continues from its `steps` and `train_seconds`.
        """
        c = self.config
        next_eval = (self.steps // c.eval_every + 1) * c.eval_every
        next_log = max(c.learning_starts + 1, self.steps)  # the first log once losses exist
        every = c.checkpoint_every or c.total_steps + 1
        next_checkpoint = (self.steps // every + 1) * every
        start = time.perf_counter()
        while self.steps < c.total_steps:
            n = min(c.train_freq, c.total_steps - self.steps, next_eval - self.steps)
            n = self.collect_rollouts(env, n, stop_at_episode_end=self.steps >= next_checkpoint)
            if self.steps >= c.learning_starts:
                if c.anneal_lr:  # linearly to zero at total_steps, as SB3 does for a `lin_` learning rate
                    self.set_learning_rate(c.learning_rate * (1.0 - self.steps / c.total_steps))
                # gradient_steps per train_freq env steps; a partial round (before an eval) gets its share
                self.learn(max(1, round(c.gradient_steps * n / c.train_freq)))
            if on_log is not None and self.steps >= next_log and self.finished_episodes:
                on_log(self.steps, self.finished_episodes, {k: float(v) for k, v in self.stats.items()})
                self.finished_episodes, next_log = [], self.steps + 1000
            if self.steps >= next_eval or self.steps == c.total_steps:
                self.train_seconds += time.perf_counter() - start  # evaluations are off the training clock
                if on_eval is not None:
                    on_eval(self.steps, self.train_seconds)
                next_eval += c.eval_every
                start = time.perf_counter()
            # the state only between episodes: a fresh env then continues exactly where this one would
            if self.steps >= next_checkpoint and self.obs is None and self.steps < c.total_steps:
                self.train_seconds += time.perf_counter() - start  # so are checkpoints
                if on_checkpoint is not None:
                    on_checkpoint(self.steps)
                next_checkpoint = (self.steps // every + 1) * every
                start = time.perf_counter()
        self.train_seconds += time.perf_counter() - start
        return self.train_seconds

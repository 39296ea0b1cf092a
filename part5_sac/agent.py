"""The SAC agent: a squashed Gaussian actor, twin critics with lagging targets, and a self-tuning temperature.

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

from memory import ReplayMemory
from networks import Actor, TwinQNetwork


def soft_td_target(rewards, next_q, next_log_prob, terminated, gamma, alpha):
    """The soft Bellman target y = r + gamma * (1 - terminated) * (min_i Q_target_i(s', a') - alpha * log pi(a'|s')).

    a' ~ pi(.|s') is a fresh sample from the current policy; the soft value of s' is the expected Q minus
    the temperature times the log-probability, i.e. plus alpha times the policy's entropy there.
    The min over the twin target critics counters the overestimation that maximising through a learned
    Q causes (the same bias Double DQN fights in Part 2).
    Pitfall: only *terminated* stops the bootstrap. An episode cut by its time limit did not end for the
    pendulum: its last transition still bootstraps from s'.
    rewards, next_log_prob, terminated: (batch,); next_q: (2, batch); gamma, alpha: floats or 0-d tensors.
    Returns (batch,).
    """
    soft_value = next_q.min(dim=0).values - alpha * next_log_prob
    return rewards + gamma * (1.0 - terminated) * soft_value


class Agent:
    """Soft actor-critic (Haarnoja et al. 2018, with the automatic temperature of the follow-up paper).

    `config` is train.Config; obs_dim and action_dim are integers. Actions live in [-1, 1]^action_dim.
    """

    def __init__(self, config, obs_dim, action_dim, device="cpu"):
        c = self.config = config
        self.obs_dim, self.action_dim, self.device = obs_dim, action_dim, torch.device(device)
        self.actor = Actor(obs_dim, action_dim, c.hidden).to(self.device)
        self.critic = TwinQNetwork(obs_dim, action_dim, c.hidden).to(self.device)
        # Target critics: a slowly following copy (Polyak averaging) that gives the regression its labels;
        # labels computed by the critic being trained would move with every step.
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # fused=True: one kernel updates every tensor of a network (the plain loop over tensors costs more
        # than the arithmetic for networks this small); the same Adam, the same numbers.
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.learning_rate, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=c.learning_rate, fused=True)
        # The temperature alpha weighs entropy against reward. Learned as log(alpha) so it stays positive.
        self.log_alpha = torch.tensor(math.log(c.alpha), device=self.device, requires_grad=c.autotune)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=c.learning_rate) if c.autotune else None
        # Target entropy -|A|: the usual heuristic, about "one nat less per action dimension than uniform".
        self.target_entropy = -float(action_dim) if c.target_entropy == "auto" else float(c.target_entropy)
        capacity = min(c.buffer_size, c.total_steps)  # a run never stores more than total_steps transitions
        self.memory = ReplayMemory(capacity, obs_dim, action_dim, seed=c.seed, device=self.device)
        self.rng = np.random.default_rng(c.seed)  # exploration noise for acting, one observation at a time
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

    def get_action(self, obs, greedy=False):
        """One action (action_dim,) float32 in [-1, 1] for one observation (obs_dim,).

        Greedy: tanh(mean), the policy's most likely action. Otherwise tanh(mean + std * noise), a sample
        from the policy; before `learning_starts` steps, a uniform random action (the actor knows nothing
        yet, and uniform actions fill the memory with varied experience).
        """
        if not greedy and self.steps < self.config.learning_starts:
            return self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)
        with torch.no_grad():
            mean, log_std = self.actor(torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0))
        mean, log_std = mean[0].cpu().numpy(), log_std[0].cpu().numpy()
        if greedy:
            return np.tanh(mean)
        return np.tanh(mean + np.exp(log_std) * self.rng.standard_normal(self.action_dim)).astype(np.float32)

    def collect_rollouts(self, env, n_env_steps, stop_at_episode_end=False):
        """Take `n_env_steps` steps in `env` with the stochastic policy, pushing every transition into memory.

        `stop_at_episode_end`: return early when an episode ends (train() saves the training state there).
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
            next_q = self.critic_target(next_obs, next_actions)  # (2, batch)
            target = soft_td_target(rewards, next_q, next_log_prob, terminated, c.gamma, alpha)
        q = self.critic(obs, actions)  # (2, batch): both critics in one pass
        critic_losses = ((q - target) ** 2).mean(dim=1)  # one mean squared error per critic
        critic_loss = critic_losses.sum()
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()

        # 2. Actor: maximise E[min_i Q_i(s, a) - alpha * log pi(a|s)] with a = tanh(mean + std * noise)
        #    differentiable in the actor's weights (reparameterisation). The critics are only a road for
        #    the gradient here: freezing them skips computing their weight gradients.
        self.critic.requires_grad_(False)
        new_actions, log_prob = self.actor.sample(obs)
        q_new = self.critic(obs, new_actions).min(dim=0).values
        actor_loss = (alpha * log_prob - q_new).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        self.critic.requires_grad_(True)

        # 3. Temperature: J(alpha) = E[-log_alpha * (log pi(a|s) + target_entropy)]. The entropy is about
        #    -log pi: above the target, (log pi + target) < 0 and the step lowers alpha; below, it raises it.
        if c.autotune:
            alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()
            self.stats["alpha_loss"] = alpha_loss.detach()

        # 4. Targets follow the critics slowly: target <- tau * critic + (1 - tau) * target.
        self.update_target()
        self.gradient_steps += 1
        self.stats.update(critic1_loss=critic_losses[0].detach(), critic2_loss=critic_losses[1].detach(),
                          actor_loss=actor_loss.detach(), entropy=-log_prob.detach().mean(),
                          mean_q=q.detach().mean(), alpha=alpha)

    @torch.no_grad()
    def update_target(self):
        """Polyak averaging, target <- tau * critic + (1 - tau) * target, written as lerp_ per tensor."""
        for target, online in zip(self.critic_target.parameters(), self.critic.parameters()):
            target.lerp_(online, self.config.tau)

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
        `on_checkpoint(step)` (train.py saves the training state there) runs at the first episode end after
        every `checkpoint_every` steps. Returns the training seconds, evaluation and checkpoints excluded;
        a resumed agent continues from its `steps` and `train_seconds`.
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
                self.train_seconds += time.perf_counter() - start
                if on_eval is not None:
                    on_eval(self.steps, self.train_seconds)
                next_eval += c.eval_every
                start = time.perf_counter()
            # the state only between episodes: a fresh env then continues exactly where this one would
            if self.steps >= next_checkpoint and self.obs is None and self.steps < c.total_steps:
                self.train_seconds += time.perf_counter() - start
                if on_checkpoint is not None:
                    on_checkpoint(self.steps)
                next_checkpoint = (self.steps // every + 1) * every
                start = time.perf_counter()
        self.train_seconds += time.perf_counter() - start
        return self.train_seconds

    def set_learning_rate(self, lr):
        """The learning rate of all three optimizers (actor, critics, temperature)."""
        for optimizer in (self.actor_optimizer, self.critic_optimizer, self.alpha_optimizer):
            if optimizer is not None:
                optimizer.param_groups[0]["lr"] = lr

    # ---------- the training state, for train.py --resume ----------

    def optimizer_states(self):
        """The optimizers' moments and step counts (FastAgent keeps its own optimizers)."""
        optimizers = dict(actor=self.actor_optimizer, critic=self.critic_optimizer, alpha=self.alpha_optimizer)
        return {name: o.state_dict() for name, o in optimizers.items() if o is not None}

    def load_optimizer_states(self, states):
        self.actor_optimizer.load_state_dict(states["actor"])
        self.critic_optimizer.load_state_dict(states["critic"])
        if self.alpha_optimizer is not None:
            self.alpha_optimizer.load_state_dict(states["alpha"])

    def training_state(self):
        """Everything learning depends on: networks, temperature, optimizers, memory, counters, random streams.

        Taken between episodes only (train's on_checkpoint): the training env's own state is then just its
        random stream, which train.py saves beside this.
        """
        if self.obs is not None:
            raise RuntimeError("the training state is taken between episodes only")
        return dict(actor=self.actor.state_dict(), critic=self.critic.state_dict(),
                    critic_target=self.critic_target.state_dict(), log_alpha=self.log_alpha.detach().clone(),
                    optimizers=self.optimizer_states(), memory=self.memory.state_dict(),
                    rng=self.rng.bit_generator.state, torch_rng=torch.get_rng_state(),
                    cuda_rng=torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                    steps=self.steps, gradient_steps=self.gradient_steps, train_seconds=self.train_seconds,
                    finished_episodes=[list(episode) for episode in self.finished_episodes])

    def load_training_state(self, state):
        """The inverse of `training_state`, into an agent built with the same config (tensors filled in place,
        so the optimizers keep pointing at them)."""
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.load_optimizer_states(state["optimizers"])
        self.memory.load_state_dict(state["memory"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:  # the policy's noise is drawn there
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.steps, self.gradient_steps = state["steps"], state["gradient_steps"]
        self.train_seconds = state["train_seconds"]
        self.finished_episodes = [tuple(episode) for episode in state["finished_episodes"]]
        self.obs, self.episode_return, self.episode_length = None, 0.0, 0

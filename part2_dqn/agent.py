"""The DQN agent: epsilon-greedy acting, a replay memory, a target network, and the Bellman update.

This is the chapter's code, written the way the textbook states it. `fast.py` holds `FastAgent`, which
reorganises the same computation for speed (on by default, `--no-fast` runs this one); a first reading
can skip it.

    get_action(obs, greedy)   epsilon-greedy: a random action with probability epsilon, else argmax_a Q(obs, a)
    collect_rollouts(env, n)  n environment steps into the replay memory (n-step transitions with n_steps > 1)
    learn(gradient_steps)     minibatch by minibatch: sample, Bellman target, Huber loss, one AdamW step
                              (--per: importance-weighted loss, then the sampled priorities updated)
    update_target()           target <- tau * online + (1 - tau) * target, every target_update_interval steps
    evaluate(env, episodes)   greedy episodes on a separate env, returns on the env's own reward scale
    train(env, ...)           alternate collect_rollouts and learn until the step budget is spent

The options configure this one agent: `--dueling` and `--noisy` change the network
(networks.py), `--per` the memory (memory.py); here they only add a few marked lines: noise redrawn
before every acting step and minibatch, epsilon at zero after the memory's warm-up (noisy), importance
weights and priority updates (per), evaluation on the mean weights. Saving the training state and
continuing from it (train.py --checkpoint-every, --resume) is resume.py's.
"""
import collections
import copy
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from memory import make_memory
from networks import make_network, reset_noise


def td_target(rewards, next_q_target, terminated, discounts, next_q_online=None):
    """The Bellman target y = r + discount * (1 - terminated) * Q_target(s', a*), shape (batch,).

    discount is gamma for one-step transitions and gamma^k for k-step ones (see `Agent.push`); it may be
    a float or a (batch,) tensor.
    a* = argmax Q_target(s', .) for DQN; with `next_q_online` given, a* = argmax Q_online(s', .) and
    Q_target evaluates it (Double DQN), which removes most of the max operator's overestimation.
    Pitfall: only *terminated* stops the bootstrap. A time-limit truncation is stored as an ordinary
    transition: the pendulum did not stop existing at step 200.
    next_q_target, next_q_online: (batch, n_actions); rewards, terminated, discounts: (batch,). Leading axes
    may be added to all of them (fast.py passes k minibatches at once: (k, batch, ...)).
    """
    if next_q_online is None:
        next_value = next_q_target.max(dim=-1).values
    else:
        next_value = next_q_target.gather(-1, next_q_online.argmax(dim=-1, keepdim=True)).squeeze(-1)
    return rewards + discounts * (1.0 - terminated) * next_value


class Agent:
    """DQN with a target network, Huber loss, gradient clipping and AdamW. `config` is train.Config."""

    def __init__(self, config, obs_shape, n_actions, device="cpu"):
        self.config, self.n_actions, self.device = config, n_actions, torch.device(device)
        self.q_network = make_network(config.network, obs_shape, n_actions, config.hidden, config.dueling,
                                      config.noisy, config.convolutions).to(self.device)
        # The target network is a lagging copy: regressing Q towards targets computed by the network being
        # updated is chasing your own tail; a frozen copy keeps the target still for a while.
        self.target_network = copy.deepcopy(self.q_network)
        self.target_network.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.q_network.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay, eps=config.adam_eps)
        self.memory = make_memory(config, obs_shape, self.device)  # uniform, or prioritized with --per
        self.rng = random.Random(config.seed)  # exploration draws: Python's generator is cheap per call
        # Noisy Nets: the noise has its own seeded generator, so a run's noise depends on its seed alone
        self.noise_generator = torch.Generator(self.device).manual_seed(config.seed) if config.noisy else None
        # Noisy Nets: uniformly random actions while the memory warms up (learning_starts), then none
        self.epsilon = float(config.learning_starts > 0) if config.noisy else config.epsilon_start
        self.steps, self.gradient_steps = 0, 0
        self.train_seconds = 0.0  # training time so far, evaluation excluded (carried over by --resume)
        self.obs = None  # the training env's current observation, carried across collect_rollouts calls
        self.pending = collections.deque()  # n-step returns: the last transitions not yet in the memory
        self.episode_return, self.episode_length = 0.0, 0
        self.finished_episodes = []  # (return on the env's own scale, length) since the last log

    # ---------- acting ----------

    def greedy_action(self, obs):
        """argmax_a Q(obs, a) for a single observation."""
        with torch.no_grad():
            q = self.q_network(torch.as_tensor(obs, device=self.device).unsqueeze(0))  # (1, n_actions)
        return int(q.argmax())

    def get_action(self, obs, greedy=False):
        """Epsilon-greedy: a uniformly random action with probability epsilon, else the greedy one.

        The random branch skips the network call entirely, which makes early training cheap.
        Noisy Nets (epsilon is 0 once learning starts): a fresh draw of the network's noise before every
        acting step is the exploration; `evaluate` acts on the mean weights instead.
        """
        if self.config.noisy and not greedy:
            reset_noise(self.q_network, self.noise_generator)
        if not greedy and self.rng.random() < self.epsilon:
            return self.rng.randrange(self.n_actions)
        return self.greedy_action(obs)

    def update_epsilon(self):
        """Linear decay from epsilon_start to epsilon_end over the first exploration_fraction of the budget."""
        c = self.config
        if c.noisy:  # random actions only while the memory warms up, then the noisy layers explore alone:
            # from pure noise, a freshly initialised network can prefer one action in every state and never
            # try the others (CartPole seed 3 did, NOTES.md), so nothing would teach it their values
            self.epsilon = float(self.steps < c.learning_starts)
            return
        progress = min(1.0, self.steps / max(1.0, c.exploration_fraction * c.total_steps))
        self.epsilon = c.epsilon_start + progress * (c.epsilon_end - c.epsilon_start)

    def collect_rollouts(self, env, n_env_steps, stop_at_episode_end=False):
        """Take `n_env_steps` epsilon-greedy steps in `env`, pushing every transition into the memory; with
        `stop_at_episode_end` (a checkpoint is due, see train), stop early after a step that ends an
        episode. Returns the number of steps taken."""
        if self.obs is None:  # the run's first step (seed), or the first after --resume (a fresh seed)
            self.obs, _ = env.reset(seed=self.config.seed + self.steps)
        for taken in range(1, n_env_steps + 1):
            action = self.get_action(self.obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            # Pitfall: store `terminated` as the done flag, and the true final next_obs: a time limit
            # (truncated) ends the episode, but the state still has a value to bootstrap from.
            self.push(self.obs, action, reward, next_obs, terminated, episode_over=terminated or truncated)
            self.episode_return += info.get("raw_reward", reward)
            self.episode_length += 1
            self.steps += 1
            self.update_epsilon()
            if terminated or truncated:
                self.finished_episodes.append((self.episode_return, self.episode_length))
                self.episode_return, self.episode_length = 0.0, 0
                next_obs, _ = env.reset()
                if stop_at_episode_end:
                    self.obs = next_obs
                    return taken
            self.obs = next_obs
        return n_env_steps

    def push(self, obs, action, reward, next_obs, terminated, episode_over):
        """Store a transition; with n_steps > 1, store n-step transitions instead.

        An n-step transition (s_t, a_t, R, s_{t+k}, terminated, gamma^k) carries the discounted sum of the
        next k <= n rewards, R = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1}, so one update
        propagates a reward k steps back instead of one. k = n except at the end of an episode, where the
        last transitions are flushed with the rewards that remain: a window never reaches into the next
        episode. Only `terminated` stops the bootstrap.
        """
        n, gamma = self.config.n_steps, self.config.gamma
        # (`steps` and `episode_over` tell a memory that stores frames once where next_obs's frames are and
        # where an episode ends; a memory of whole observations ignores them)
        if n == 1:
            self.memory.push(obs, action, reward, next_obs, terminated, gamma, steps=1, episode_over=episode_over)
            return
        self.pending.append((obs, action, reward))
        while self.pending and (len(self.pending) == n or episode_over):
            first_obs, first_action, _ = self.pending[0]
            ret = sum(gamma**i * r for i, (_, _, r) in enumerate(self.pending))
            self.memory.push(first_obs, first_action, ret, next_obs, terminated, gamma ** len(self.pending),
                             steps=len(self.pending), episode_over=episode_over and len(self.pending) == 1)
            self.pending.popleft()

    # ---------- learning ----------

    def learn(self, gradient_steps):
        """`gradient_steps` minibatch updates; returns the loss and the mean Q(s, a) of the last one (floats)."""
        for _ in range(gradient_steps):
            batch = self.sample_batch()
            loss, q = self.td_loss(batch)
            self.optimizer.zero_grad()
            loss.backward()
            self.apply_gradients(batch, q)
        return loss.item(), q.detach().mean().item()

    def sample_batch(self):
        """A minibatch from the replay memory, with its TD targets from the networks as they are now:
        (indices, obs, actions, targets)."""
        c = self.config
        indices = self.memory.sample_indices(c.batch_size)  # uniform; with --per, by priority
        obs, actions, rewards, next_obs, terminated, discounts = self.memory.gather(indices)
        if c.noisy:  # a fresh noise draw for every minibatch, in the online and the target network
            self.resample_noise()
        with torch.no_grad():  # the target is a fixed regression label: no gradient may flow into it
            next_q_online = self.q_network(next_obs) if c.double else None  # Double DQN: online picks a'
            target = td_target(rewards, self.target_network(next_obs), terminated, discounts, next_q_online)
        return indices, obs, actions, target

    def td_loss(self, batch):
        """The loss between Q(s, a) of the minibatch's actions and their targets, and those Q(s, a)."""
        indices, obs, actions, target = batch
        q = self.q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)  # Q(s, a) of the taken actions
        # Huber: quadratic for small TD errors, linear for large ones, so one surprising transition
        # cannot produce a huge gradient. Clipping the gradient norm guards the same door.
        if self.config.per:  # importance weights undo the bias of sampling by priority (memory.py)
            weights = self.memory.importance_weights(indices, self.beta())
            return (weights * F.smooth_l1_loss(q, target, reduction="none")).mean(), q
        return F.smooth_l1_loss(q, target), q

    def apply_gradients(self, batch, q):
        """The optimizer's step with the gradients `backward` left, clipped; then the bookkeeping."""
        c = self.config
        torch.nn.utils.clip_grad_norm_(self.q_network.parameters(), c.max_grad_norm)
        self.optimizer.step()
        if c.per:  # the sampled transitions' new priorities: |TD error| + eps
            indices, _, _, target = batch
            self.memory.update_priorities(indices, (target - q).detach().abs())
        self.gradient_steps += 1
        if self.gradient_steps % c.target_update_interval == 0:
            self.update_target()

    def beta(self):
        """PER's importance-weight exponent, annealed linearly from per_beta to 1 over the run."""
        c = self.config
        return c.per_beta + (1.0 - c.per_beta) * min(1.0, self.steps / c.total_steps)

    def resample_noise(self):
        """Noisy Nets: new noise in the online and the target network (each draws its own)."""
        reset_noise(self.q_network, self.noise_generator)
        reset_noise(self.target_network, self.noise_generator)

    @torch.no_grad()
    def update_target(self):
        """target <- tau * online + (1 - tau) * target; tau = 1 is the classic hard copy."""
        for target, online in zip(self.target_network.parameters(), self.q_network.parameters()):
            target.lerp_(online, self.config.tau)

    def set_learning_rate(self, learning_rate):
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    # ---------- evaluation and the loop ----------

    def evaluate(self, env, episodes, seed=None, on_frame=None):
        """Greedy episodes on `env`. Returns (mean, std) of the return on the env's own reward scale.

        `seed` seeds the first reset only, so successive evaluations see fresh episodes. The network is in
        eval mode meanwhile: noisy layers use their mean weights, so evaluation is greedy and deterministic.
        """
        training = self.q_network.training
        self.q_network.eval()
        try:
            return self.greedy_episodes(env, episodes, seed, on_frame)
        finally:
            self.q_network.train(training)

    def greedy_episodes(self, env, episodes, seed, on_frame):
        returns = np.zeros(episodes)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            done = False
            while not done:
                obs, reward, terminated, truncated, info = env.step(self.greedy_action(obs))
                returns[episode] += info.get("raw_reward", reward)
                done = terminated or truncated
                if on_frame is not None:
                    on_frame()
        return float(returns.mean()), float(returns.std())

    def train(self, env, on_log=None, on_eval=None, on_checkpoint=None):
        """Collect `train_freq` steps, then `gradient_steps` updates, until `total_steps` are spent.

        `on_log(step, episodes, loss, mean_q)` runs after every update round that finished episodes (at
        most every 1000 steps), `on_eval(step, train_seconds)` every `eval_every` steps and once more at
        the last step if that was not one of them: a run always ends with an evaluation of its final
        policy, so even a run shorter than `eval_every` leaves a model. An `on_eval` that returns True
        ends the training there (train.py's --stop-at). `on_checkpoint(step)` (train.py saves the
        training state there, resume.py) runs at the first episode end after every `checkpoint_every`
        steps. Returns the training seconds, evaluation and checkpoints excluded; a resumed agent
        continues from its `steps` and `train_seconds`.
        """
        c = self.config
        next_eval = (self.steps // c.eval_every + 1) * c.eval_every
        every = c.checkpoint_every or c.total_steps + 1
        next_checkpoint = (self.steps // every + 1) * every
        next_log, loss, mean_q = self.steps, float("nan"), float("nan")
        start = time.perf_counter()
        while self.steps < c.total_steps:
            n = min(c.train_freq, c.total_steps - self.steps, max(1, next_eval - self.steps))
            n = self.collect_rollouts(env, n, stop_at_episode_end=self.steps >= next_checkpoint)
            if c.anneal_lr:
                self.set_learning_rate(c.learning_rate * (1.0 - self.steps / c.total_steps))
            if self.steps >= c.learning_starts and len(self.memory) >= c.batch_size:
                # gradient_steps per train_freq env steps; partial rounds (before an eval) get their share
                loss, mean_q = self.learn(max(1, round(c.gradient_steps * n / c.train_freq)))
            if on_log is not None and self.steps >= next_log and self.finished_episodes:
                on_log(self.steps, self.finished_episodes, loss, mean_q)
                self.finished_episodes, next_log = [], self.steps + 1000
            if self.steps >= next_eval or self.steps >= c.total_steps:
                self.train_seconds += time.perf_counter() - start
                if on_eval is not None and on_eval(self.steps, self.train_seconds):
                    return self.train_seconds
                next_eval += c.eval_every
                start = time.perf_counter()
            # a checkpoint only between episodes: no episode or n-step window is half in the memory then
            if self.steps >= next_checkpoint and self.episode_length == 0 and self.steps < c.total_steps:
                self.train_seconds += time.perf_counter() - start
                if on_checkpoint is not None:
                    on_checkpoint(self.steps)
                next_checkpoint = (self.steps // every + 1) * every
                start = time.perf_counter()
        self.train_seconds += time.perf_counter() - start
        return self.train_seconds

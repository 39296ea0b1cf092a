"""The DQN agent: epsilon-greedy acting, a replay memory, a target network, and the Bellman update.

    get_action(obs, greedy)   one action: numpy forward pass for an MLP on the CPU, else torch.inference_mode
    collect_rollouts(n)       n environment steps into the replay memory
    learn(gradient_steps)     a round of minibatch TD updates; targets valued in bulk while the target net is frozen
    gradient_step(...)        one AdamW step on the Huber loss of one minibatch, its gradient norm clipped
    evaluate(env, episodes)   greedy episodes on a separate env, returns on the env's own reward scale
    train(...)                alternate collect_rollouts and learn until the step budget is spent
"""
import collections
import copy
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from memory import ReplayMemory
from networks import NumpyQNetwork, make_network


def td_target(rewards, next_q_target, terminated, discounts, next_q_online=None):
    """The Bellman target y = r + discount * (1 - terminated) * Q_target(s', a*), shape (batch,).

    discount is gamma for one-step transitions and gamma^k for k-step ones (see `Agent.push`); it may be
    a float or a (batch,) tensor.
    a* = argmax Q_target(s', .) for DQN; with `next_q_online` given, a* = argmax Q_online(s', .) and
    Q_target evaluates it (Double DQN), which removes most of the max operator's overestimation.
    Pitfall: only *terminated* stops the bootstrap. A time-limit truncation is stored as an ordinary
    transition: the pendulum did not stop existing at step 200.
    next_q_target, next_q_online: (batch, n_actions); rewards, terminated, discounts: (batch,). Leading axes
    may be added to all of them (`Agent.learn` passes k minibatches at once: (k, batch, ...)).
    """
    if next_q_online is None:
        next_value = next_q_target.max(dim=-1).values
    else:
        next_value = next_q_target.gather(-1, next_q_online.argmax(dim=-1, keepdim=True)).squeeze(-1)
    return rewards + discounts * (1.0 - terminated) * next_value


def clip_grad_norm(grads, max_norm):
    """Scale `grads` in place so that their joint L2 norm is at most `max_norm`; returns the norm before.

    The same as torch.nn.utils.clip_grad_norm_, which always rescales so that a GPU never waits for the
    norm. On a CPU the check is free, and most steps need no rescale; the library call's own checks and
    conversions cost more than the arithmetic here (50 us against 25 us per step on CartPole).
    """
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))  # norm of the per-tensor norms
    if norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))
    return norm


class AdamW:
    """AdamW (Adam with decoupled weight decay) through torch's fused kernel, given the gradients directly.

    torch.optim.AdamW(fused=True) runs this same kernel (`torch._fused_adamw_`, one call updates every
    tensor); around it, its step() collects state, groups tensors by device and runs hooks on every
    call, which took longer than the update itself on CartPole's 256-256 network. Holding the state
    lists here, one update is two calls. The tests check it matches torch.optim.AdamW step for step.
    """

    def __init__(self, params, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]     # first moment, m
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]  # second moment, v
        # The step count t of the bias correction 1 - beta^t. The kernel takes one float tensor per parameter;
        # all parameters step together, so they share one (the kernel only reads it), incremented once.
        self.step_count = torch.zeros((), device=self.params[0].device)
        self.steps = [self.step_count] * len(self.params)

    @torch.no_grad()
    def step(self, grads):
        """p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p) for every parameter p, in place."""
        self.step_count += 1
        torch._fused_adamw_(self.params, grads, self.exp_avgs, self.exp_avg_sqs, [], self.steps,
                            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
                            eps=self.eps, amsgrad=False, maximize=False)


class Agent:
    """DQN with a target network, Huber loss, gradient clipping and AdamW. `config` is train.Config."""

    def __init__(self, config, obs_shape, n_actions, device="cpu"):
        self.config, self.n_actions, self.device = config, n_actions, torch.device(device)
        self.q_network = make_network(config.network, obs_shape, n_actions, config.hidden).to(self.device)
        # The target network is a lagging copy: regressing Q towards targets computed by the network being
        # updated is chasing your own tail; a frozen copy keeps the target still for a while.
        self.target_network = copy.deepcopy(self.q_network)
        self.target_network.requires_grad_(False)
        self.params = list(self.q_network.parameters())               # listed once, not on every step
        # acting through numpy views of the weights is 3-4x faster than a torch call (see NumpyQNetwork)
        use_numpy = config.network == "mlp" and self.device.type == "cpu"
        self.numpy_q_network = NumpyQNetwork(self.q_network) if use_numpy else None
        self.target_params = list(self.target_network.parameters())
        self.optimizer = AdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.memory = ReplayMemory(config.buffer_size, obs_shape, seed=config.seed, device=self.device)
        self.rng = random.Random(config.seed)  # exploration draws: Python's generator is cheap per call
        self.epsilon = config.epsilon_start
        self.steps, self.gradient_steps = 0, 0
        self.obs = None  # the training env's current observation, carried across collect_rollouts calls
        self.pending = collections.deque()  # n-step returns: the last transitions not yet in the memory
        self.episode_return, self.episode_length = 0.0, 0
        self.finished_episodes = []  # (return on the env's own scale, length) since the last log

    # ---------- acting ----------

    def greedy_action(self, obs):
        """argmax_a Q(obs, a) for a single observation."""
        if self.numpy_q_network is not None:
            return int(self.numpy_q_network(obs).argmax())
        with torch.inference_mode():
            q = self.q_network(torch.as_tensor(obs, device=self.device).unsqueeze(0))
        return int(q.argmax())

    def get_action(self, obs, greedy=False):
        """Epsilon-greedy: a uniformly random action with probability epsilon, else the greedy one.

        The random branch skips the network call entirely, which makes early training cheap.
        """
        if not greedy and self.rng.random() < self.epsilon:
            return self.rng.randrange(self.n_actions)
        return self.greedy_action(obs)

    def update_epsilon(self):
        """Linear decay from epsilon_start to epsilon_end over the first exploration_fraction of the budget."""
        c = self.config
        progress = min(1.0, self.steps / max(1.0, c.exploration_fraction * c.total_steps))
        self.epsilon = c.epsilon_start + progress * (c.epsilon_end - c.epsilon_start)

    def collect_rollouts(self, env, n_env_steps):
        """Take `n_env_steps` epsilon-greedy steps in `env`, pushing every transition into the memory."""
        if self.obs is None:
            self.obs, _ = env.reset(seed=self.config.seed)
        for _ in range(n_env_steps):
            action = self.get_action(self.obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            self.push(self.obs, action, reward, next_obs, terminated, episode_over=terminated or truncated)
            self.episode_return += info.get("raw_reward", reward)
            self.episode_length += 1
            self.steps += 1
            self.update_epsilon()
            if terminated or truncated:
                self.finished_episodes.append((self.episode_return, self.episode_length))
                self.episode_return, self.episode_length = 0.0, 0
                next_obs, _ = env.reset()
            self.obs = next_obs

    def push(self, obs, action, reward, next_obs, terminated, episode_over):
        """Store a transition; with n_steps > 1, store n-step transitions instead.

        An n-step transition (s_t, a_t, R, s_{t+k}, terminated, gamma^k) carries the discounted sum of the
        next k <= n rewards, R = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1}, so one update
        propagates a reward k steps back instead of one. k = n except at the end of an episode, where the
        last transitions are flushed with the rewards that remain. Only `terminated` stops the bootstrap.
        """
        n, gamma = self.config.n_steps, self.config.gamma
        if n == 1:
            self.memory.push(obs, action, reward, next_obs, terminated, gamma)
            return
        self.pending.append((obs, action, reward))
        while self.pending and (len(self.pending) == n or episode_over):
            first_obs, first_action, _ = self.pending[0]
            ret = sum(gamma**i * r for i, (_, _, r) in enumerate(self.pending))
            self.memory.push(first_obs, first_action, ret, next_obs, terminated, gamma ** len(self.pending))
            self.pending.popleft()

    # ---------- learning ----------

    def learn(self, gradient_steps):
        """`gradient_steps` minibatch updates; returns the mean loss and mean Q of the last one (floats).

        The memory does not change while we learn, so the whole round's minibatches are drawn at once.
        Speed trick: the target network is frozen between two of its updates, so the values it gives the
        next states of all minibatches until its next update are known before the first of those gradient
        steps; one forward pass over all their rows computes them. One large matrix product is much faster
        than many small ones that each pay Python and dispatch overhead. (With Polyak updates after every
        step, that is one minibatch at a time: the textbook order. The tests check both give the same.)
        """
        c = self.config
        obs, actions, rewards, next_obs, terminated, discounts = self.memory.sample(c.batch_size, gradient_steps)
        obs, actions = obs.unbind(0), actions.unsqueeze(-1).unbind(0)  # one view per step; gather wants (batch, 1)
        first = 0
        while first < gradient_steps:
            frozen_for = c.target_update_interval - self.gradient_steps % c.target_update_interval
            span = slice(first, min(gradient_steps, first + frozen_for))  # these k steps share one target network
            with torch.no_grad():  # targets are fixed regression labels: no gradient may flow into them
                rows = next_obs[span].flatten(0, 1)  # (k * batch, *obs_shape): networks take one batch axis
                next_q_target = self.target_network(rows).unflatten(0, (-1, c.batch_size))  # (k, batch, n_actions)
                if not c.double:
                    targets = td_target(rewards[span], next_q_target, terminated[span], discounts[span]).unbind(0)
            for i in range(span.start, span.stop):
                if c.double:  # the online network picks a', and it changes every step: one target at a time
                    with torch.no_grad():
                        target = td_target(rewards[i], next_q_target[i - span.start], terminated[i], discounts[i],
                                           next_q_online=self.q_network(next_obs[i]))
                else:
                    target = targets[i - span.start]
                loss, q = self.gradient_step(obs[i], actions[i], target)
            first = span.stop
        return loss.item(), q.detach().mean().item()

    def gradient_step(self, obs, actions, target):
        """One AdamW step on the Huber loss between Q(s, a) and the TD target; obs (batch, *obs_shape),
        actions (batch, 1), target (batch,). Returns the loss and Q(s, a) (batch,) as tensors."""
        q = self.q_network(obs).gather(1, actions).squeeze(1)  # Q(s, a) of the taken actions
        # Huber: quadratic for small TD errors, linear for large ones, so one surprising transition
        # cannot produce a huge gradient. Clipping the gradient norm guards the same door.
        loss = F.smooth_l1_loss(q, target)
        # d loss / d parameters, handed straight to clipping and the optimizer: nothing is kept in .grad,
        # so there is nothing to zero before the next step.
        grads = torch.autograd.grad(loss, self.params)
        clip_grad_norm(grads, self.config.max_grad_norm)
        self.optimizer.step(grads)
        self.gradient_steps += 1
        if self.gradient_steps % self.config.target_update_interval == 0:
            self.update_target()
        return loss, q

    @torch.no_grad()
    def update_target(self):
        """target <- tau * online + (1 - tau) * target; tau = 1 is the classic hard copy.

        `_foreach_lerp_` is `target.lerp_(online, tau)` for every parameter tensor in one call.
        """
        torch._foreach_lerp_(self.target_params, self.params, self.config.tau)

    # ---------- evaluation and the loop ----------

    def evaluate(self, env, episodes, seed=None, on_frame=None):
        """Greedy episodes on `env`. Returns (mean, std) of the return on the env's own reward scale.

        `seed` seeds the first reset only, so successive evaluations see fresh episodes.
        """
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

    def train(self, env, on_log=None, on_eval=None):
        """Collect `train_freq` steps, then `gradient_steps` updates, until `total_steps` are spent.

        `on_log(step, episodes, loss, mean_q)` runs after every update round that finished episodes (at
        most every 1000 steps), `on_eval(step, train_seconds)` every `eval_every` steps. Returns the
        training seconds, evaluation excluded.
        """
        c = self.config
        next_eval, next_log, loss, mean_q = c.eval_every, 0, float("nan"), float("nan")
        train_seconds, start = 0.0, time.perf_counter()
        while self.steps < c.total_steps:
            n = min(c.train_freq, c.total_steps - self.steps, max(1, next_eval - self.steps))
            self.collect_rollouts(env, n)
            if c.anneal_lr:
                self.optimizer.lr = c.learning_rate * (1.0 - self.steps / c.total_steps)
            if self.steps >= c.learning_starts and len(self.memory) >= c.batch_size:
                # gradient_steps per train_freq env steps; partial rounds (before an eval) get their share
                loss, mean_q = self.learn(max(1, round(c.gradient_steps * n / c.train_freq)))
            if on_log is not None and self.steps >= next_log and self.finished_episodes:
                on_log(self.steps, self.finished_episodes, loss, mean_q)
                self.finished_episodes, next_log = [], self.steps + 1000
            if self.steps >= next_eval:
                train_seconds += time.perf_counter() - start
                if on_eval is not None:
                    on_eval(self.steps, train_seconds)
                next_eval += c.eval_every
                start = time.perf_counter()
        return train_seconds + time.perf_counter() - start

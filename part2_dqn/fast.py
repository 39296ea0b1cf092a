"""FAST PATH. The same DQN as agent.py, reorganised for speed; a first reading can skip this file.

`FastAgent` is what train.py runs by default (`--no-fast` runs the textbook `Agent`). It changes how the
work is done, never what is computed: tests/test_fast.py starts both from the same seed and memory and
checks they reach the same weights. On CartPole (a 256-256 network, 128 gradient steps of 64
transitions per 256 environment steps) the update is over 90% of the time; README, "Making it fast",
says what each trick buys, measured.

1. Targets in bulk. The target network is frozen between two of its updates, so the values it gives the
   next states of every minibatch until its next update are fixed before the first of those steps. One
   forward pass over all their rows (8 minibatches, 512 rows on CartPole) replaces 8 small ones, each
   of which pays Python and dispatch overhead. With a target update after every step (Pendulum) this is
   the textbook order again.
2. A round's minibatches drawn at once: one gather per memory array instead of six per gradient step
   (the same random draws, in the same order, as minibatch by minibatch).
3. Acting in numpy. Acting runs the network on one observation per env step, where torch's
   per-operation dispatch costs more than the tiny matrix products: `NumpyQNetwork` runs the MLP on
   numpy views of the weights.
4. The update step without framework bookkeeping: the gradients come from `torch.autograd.grad`
   (nothing is stored in `.grad`, so nothing needs zeroing), they are rescaled only when their norm is
   over the limit, and `FusedAdamW` calls the kernel `torch.optim.AdamW(fused=True)` runs, without
   that class's per-step state gathering, grouping and hooks.

The options: `--dueling` keeps every trick but 3 (acting runs the torch network). `--per` and `--noisy`
make each minibatch depend on the step before it (the priorities it updated; a fresh noise draw in the
target network too), so tricks 1 and 2 cannot apply: their minibatches go one at a time, as in
agent.py, with trick 4's update step (and trick 3 is off with --noisy). tests/test_fast.py checks the
weights for each option. The CNN (Atari, `--network cnn`) keeps tricks 1, 2 and 4 as they are; trick 3
is off (numpy acting knows the MLP only); tests/test_atari.py checks its weights.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agent import Agent, td_target


class NumpyQNetwork:
    """QNetwork's forward pass in numpy, for picking actions one observation at a time.

    The layers are numpy *views* of the network's CPU tensors, not copies: the optimizer and
    `load_state_dict` update those tensors in place, so the views always hold the current weights (the
    tests check both). CPU only: a GPU tensor has no numpy view.
    """

    def __init__(self, q_network):
        self.layers = [(m.weight.detach().numpy(), m.bias.detach().numpy())
                       for m in q_network.net if isinstance(m, nn.Linear)]

    def __call__(self, obs):
        """Q-values (..., n_actions) of observations (..., n_obs), as QNetwork computes them."""
        x = obs
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight.T + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)  # ReLU
        return x


def clip_grad_norm(grads, max_norm):
    """Scale `grads` in place so that their joint L2 norm is at most `max_norm`; returns the norm before.

    What torch.nn.utils.clip_grad_norm_ computes, which always rescales (so that a GPU never waits for
    the norm); on a CPU the check is free and most steps need no rescale. Written with one public op per
    tensor: torch's private `_foreach_norm` and `_foreach_mul_` do the same in one call each, and bought
    1.1x on this clipping (`python part2_dqn/speed_tricks.py --private-ops`), not worth a private op.
    """
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g.mul_(scale)
    return norm


class FusedAdamW:
    """AdamW through torch's fused kernel (the one `torch.optim.AdamW(fused=True)` runs), given the
    gradients directly. The kernel updates every tensor in one call; holding its state lists here, a
    step is two calls. tests/test_fast.py checks it against torch.optim.AdamW step for step.

    The kernel is a private torch function, `torch._fused_adamw_`. Called directly, it takes half the time
    of `torch.optim.AdamW(fused=True).step()`, which gathers, groups and checks its state lists on every
    step before the same call (the CartPole preset's network, `speed_tricks.py --private-ops`)."""

    def __init__(self, params, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]     # first moment, m
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]  # second moment, v
        # The step count t of the bias correction 1 - beta^t: the kernel takes one tensor per parameter;
        # all parameters step together, so they share one (the kernel only reads it).
        self.step_count = torch.zeros((), device=self.params[0].device)
        self.steps = [self.step_count] * len(self.params)

    @torch.no_grad()
    def step(self, grads):
        """p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p) for every parameter p, in place."""
        self.step_count += 1
        torch._fused_adamw_(self.params, grads, self.exp_avgs, self.exp_avg_sqs, [], self.steps,
                            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
                            eps=self.eps, amsgrad=False, maximize=False)

    def state_dict(self):
        """The moments and the step count (train.py --resume saves them with the training state)."""
        return dict(exp_avgs=self.exp_avgs, exp_avg_sqs=self.exp_avg_sqs, step_count=self.step_count, lr=self.lr)

    @torch.no_grad()
    def load_state_dict(self, state):
        for mine, saved in zip(self.exp_avgs + self.exp_avg_sqs, state["exp_avgs"] + state["exp_avg_sqs"]):
            mine.copy_(saved)
        self.step_count.copy_(state["step_count"])  # in place: self.steps lists this very tensor
        self.lr = state["lr"]


def sample_round(memory, batch_size, n_batches):
    """`n_batches` minibatches as tensors with a leading (n_batches,) axis, drawn exactly as that many
    `memory.sample(batch_size)` calls would draw them."""
    return memory.gather(np.stack([memory.sample_indices(batch_size) for _ in range(n_batches)]))


class FastAgent(Agent):
    """`Agent` with the tricks above; acting, collection, evaluation and the loop are Agent's own."""

    def __init__(self, config, obs_shape, n_actions, device="cpu"):
        super().__init__(config, obs_shape, n_actions, device)
        self.params = list(self.q_network.parameters())  # listed once, not on every step
        self.optimizer = FusedAdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                    eps=config.adam_eps)
        # numpy acting knows the plain MLP only (not the dueling head, nor noisy layers)
        use_numpy = config.network == "mlp" and self.device.type == "cpu" and not (config.dueling or config.noisy)
        self.numpy_q_network = NumpyQNetwork(self.q_network) if use_numpy else None

    def greedy_action(self, obs):
        if self.numpy_q_network is None:
            return super().greedy_action(obs)
        return int(self.numpy_q_network(obs).argmax())

    def set_learning_rate(self, learning_rate):
        self.optimizer.lr = learning_rate

    def learn(self, gradient_steps):
        """Agent.learn's updates, with the target network's values for a group of minibatches in one pass."""
        c = self.config
        if c.per or c.noisy:
            return self.learn_one_at_a_time(gradient_steps)
        obs, actions, rewards, next_obs, terminated, discounts = sample_round(self.memory, c.batch_size, gradient_steps)
        obs, actions = obs.unbind(0), actions.unsqueeze(-1).unbind(0)  # one view per step; gather wants (batch, 1)
        first = 0
        while first < gradient_steps:
            frozen_for = c.target_update_interval - self.gradient_steps % c.target_update_interval
            span = slice(first, min(gradient_steps, first + frozen_for))  # these k steps share one target network
            with torch.no_grad():
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

    def learn_one_at_a_time(self, gradient_steps):
        """--per, --noisy: Agent.learn's loop (each minibatch sampled after the step before), trick 4's step."""
        for _ in range(gradient_steps):
            indices, obs, actions, target = self.sample_batch()
            loss, q = self.gradient_step(obs, actions.unsqueeze(1), target, indices if self.config.per else None)
        return loss.item(), q.detach().mean().item()

    def gradient_step(self, obs, actions, target, per_indices=None):
        """One AdamW step on the Huber loss between Q(s, a) and `target`; obs (batch, *obs_shape), actions
        (batch, 1), target (batch,). With `per_indices` (the minibatch's memory positions, --per), the
        loss is importance-weighted and the priorities updated. Returns the loss and Q(s, a) (batch,)."""
        q = self.q_network(obs).gather(1, actions).squeeze(1)
        if per_indices is None:
            loss = F.smooth_l1_loss(q, target)
        else:
            weights = self.memory.importance_weights(per_indices, self.beta())
            loss = (weights * F.smooth_l1_loss(q, target, reduction="none")).mean()
        grads = torch.autograd.grad(loss, self.params)
        clip_grad_norm(grads, self.config.max_grad_norm)
        self.optimizer.step(grads)
        if per_indices is not None:
            self.memory.update_priorities(per_indices, (target - q).detach().abs())
        self.gradient_steps += 1
        if self.gradient_steps % self.config.target_update_interval == 0:
            self.update_target()
        return loss, q

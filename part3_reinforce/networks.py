"""The policy (a distribution over actions for each observation) and the value network of the learned baseline.

Networks take integers, not env objects. The log-probability and entropy formulas are written out rather
than taken from torch.distributions: they are the heart of the chapter, and they are faster without the
argument validation a distribution object does on every call.
"""
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def mlp(n_in, n_out, hidden):
    """Linear layers with tanh between them; tanh keeps policy-gradient updates well-behaved."""
    layers, width = [], n_in
    for size in hidden:
        layers += [nn.Linear(width, size), nn.Tanh()]
        width = size
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def gaussian_log_prob(mean, log_std, actions):
    """log N(actions; mean, exp(log_std)^2), summed over action dimensions: (batch, dim) -> (batch,)."""
    z = (actions - mean) / log_std.exp()
    return (-0.5 * z**2 - log_std - LOG_SQRT_2PI).sum(-1)


def gaussian_entropy(log_std):
    """Entropy of a diagonal Gaussian: sum over dimensions of 1/2 + log(sqrt(2 pi)) + log_std."""
    return (0.5 + LOG_SQRT_2PI + log_std).sum(-1)


class PolicyNetwork(nn.Module):
    """pi(a | s). Discrete: a Categorical over `n_actions` logits. Continuous: a Gaussian with a state-dependent
    mean and a learned, state-independent log-std (one number per action dimension).

    `action_dim` is the number of actions (discrete) or the action vector's length (continuous). For
    continuous actions the mean is squashed into [-action_scale, action_scale] by a tanh: a mean far
    outside the bounds would be clipped to the same action whatever its value, and the gradient would no
    longer tell the policy anything useful.
    """

    def __init__(self, n_obs, action_dim, discrete, hidden=(64, 64), log_std_init=0.0, action_scale=1.0):
        super().__init__()
        self.discrete = discrete
        self.body = mlp(n_obs, action_dim, hidden)
        if not discrete:
            self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))
            self.register_buffer("action_scale", torch.as_tensor(action_scale, dtype=torch.float32))

    def head(self, obs):
        """Logits (discrete) or the Gaussian's mean (continuous), shape (batch, action_dim)."""
        out = self.body(obs)
        return out if self.discrete else self.action_scale * torch.tanh(out)

    def log_prob_entropy(self, obs, actions):
        """log pi(actions | obs) and the policy's entropy at obs, both (batch,).

        obs (batch, n_obs); actions (batch,) int64 for discrete, (batch, action_dim) for continuous.
        """
        out = self.head(obs)
        if self.discrete:
            log_p = F.log_softmax(out, dim=-1)                            # (batch, n_actions)
            return log_p.gather(1, actions.unsqueeze(1)).squeeze(1), -(log_p.exp() * log_p).sum(-1)
        log_std = self.log_std.expand_as(out)
        return gaussian_log_prob(out, log_std, actions), gaussian_entropy(log_std)

    @torch.inference_mode()
    def greedy(self, obs):
        """The most likely action: argmax of the logits, or the Gaussian's mean."""
        out = self.head(obs)
        return out.argmax(-1) if self.discrete else out


class NumpySampler:
    """A frozen numpy copy of the policy that samples actions while episodes are collected.

    The weights do not change during collection, so one copy per batch lets every step run the forward
    pass in numpy. For a 64-64 network and 8 observations that takes about a third of torch's time
    (NOTES.md, "What does the numpy sampler buy?"): torch's per-operation dispatch costs more than these
    tiny matrix products, and collection is the hot loop. The tests check its output against `PolicyNetwork.head` and its samples against the softmax.
    """

    def __init__(self, policy, rng):
        linears = [m for m in policy.body if isinstance(m, nn.Linear)]
        self.layers = [(m.weight.detach().cpu().numpy().T.copy(), m.bias.detach().cpu().numpy().copy()) for m in linears]
        self.discrete, self.rng = policy.discrete, rng
        if not policy.discrete:
            self.action_scale = policy.action_scale.cpu().numpy()
            self.std = policy.log_std.detach().exp().cpu().numpy()

    def head(self, obs):
        """Logits or the Gaussian's mean, as `PolicyNetwork.head` computes them: (batch, action_dim)."""
        x = obs
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight + bias
            if i < len(self.layers) - 1:
                x = np.tanh(x)
        return x if self.discrete else self.action_scale * np.tanh(x)

    def sample(self, obs):
        """Sampled actions for a batch of observations: (batch,) int64 or (batch, action_dim) float32."""
        out = self.head(obs)
        if self.discrete:
            # Gumbel-max trick: argmax(logits + Gumbel noise), Gumbel = -log(Exponential(1)), is an exact
            # sample of softmax(logits), without computing the softmax
            return (out - np.log(self.rng.exponential(size=out.shape))).argmax(-1)
        return (out + self.std * self.rng.standard_normal(out.shape)).astype(np.float32)


class ValueNetwork(nn.Module):
    """V(s): (batch, n_obs) -> (batch,), the learned baseline."""

    def __init__(self, n_obs, hidden=(64, 64)):
        super().__init__()
        self.body = mlp(n_obs, 1, hidden)

    def forward(self, obs):
        return self.body(obs).squeeze(-1)

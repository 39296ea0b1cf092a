"""The actor (a tanh-squashed Gaussian policy) and the twin Q critic. Networks take integers, not envs.

    Actor          obs (batch, n_obs) -> mean, log_std (batch, n_actions); `sample` gives a = tanh(u) and log pi(a|s)
    TwinQNetwork   obs (batch, n_obs), action (batch, n_actions) -> Q1, Q2 stacked as (2, batch)
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # keeps exp(log_std) away from 0 (log-probs blow up) and from huge
LOG_2PI = math.log(2.0 * math.pi)


def mlp(sizes):
    """Linear layers with ReLU in between, none after the last: sizes [in, h1, ..., out]."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def tanh_log_det_jacobian(u):
    """log |d tanh(u) / du| = log(1 - tanh(u)^2), elementwise, in a form that does not underflow.

    1 - tanh(u)^2 = 4 / (e^u + e^-u)^2, so log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)).
    The naive form rounds tanh(u)^2 to exactly 1 in float32 once |u| > 9 or so, and log(0) = -inf.
    """
    return 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))


def squashed_log_prob(u, mean, log_std):
    """log pi(a | s) of a = tanh(u), u ~ N(mean, exp(log_std)^2) per dimension; shape (batch,).

    Change of variables: the density of a is the density of u divided by |da/du| = 1 - tanh(u)^2, for
    each independent dimension, so in logs we subtract the log-Jacobian and sum over action dimensions.
    u, mean, log_std: (batch, n_actions).
    """
    gaussian = -0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * LOG_2PI
    return (gaussian - tanh_log_det_jacobian(u)).sum(-1)


class Actor(nn.Module):
    """A Gaussian over pre-squash actions u, squashed by tanh into [-1, 1]: the policy pi(a | s)."""

    def __init__(self, n_obs, n_actions, hidden=(256, 256)):
        super().__init__()
        self.trunk = nn.Sequential(mlp([n_obs, *hidden]), nn.ReLU())
        self.mean = nn.Linear(hidden[-1], n_actions)
        self.log_std = nn.Linear(hidden[-1], n_actions)

    def forward(self, obs):
        """mean, log_std of u, each (batch, n_actions); log_std clamped to [LOG_STD_MIN, LOG_STD_MAX]."""
        features = self.trunk(obs)
        return self.mean(features), self.log_std(features).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs):
        """A reparameterised sample: (action (batch, n_actions) in [-1, 1], log pi(action | obs) (batch,)).

        u = mean + std * noise, with the noise drawn outside the network: the action is then a
        differentiable function of the actor's weights, so the actor loss can be backpropagated through
        the critic into the actor (the reparameterisation trick). Sampling u ~ N(mean, std) directly
        would give no gradient path from Q(s, a) to mean and std.
        """
        mean, log_std = self(obs)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), squashed_log_prob(u, mean, log_std)


class TwinQNetwork(nn.Module):
    """Two independent Q-networks whose weights are stacked, evaluated in one batched pass.

    Layer k holds weight (2, fan_in, fan_out) and bias (2, 1, fan_out): slice 0 is Q1, slice 1 is Q2.
    One `torch.baddbmm` (bias + batched matrix product) computes the layer for both critics, so a forward
    pass costs as many torch calls as ONE critic, not two. The weights are initialised like nn.Linear's
    (uniform in +-1/sqrt(fan_in)), and the tests check it equals two separate nn.Sequential critics.
    """

    def __init__(self, n_obs, n_actions, hidden=(256, 256), n_critics=2):
        super().__init__()
        sizes = [n_obs + n_actions, *hidden, 1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(n_critics, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n_critics, 1, fan_out).uniform_(-bound, bound)))
        self.n_critics = n_critics

    def forward(self, obs, action):
        """Q1(s, a), Q2(s, a) stacked: (n_critics, batch). obs (batch, n_obs), action (batch, n_actions)."""
        x = torch.cat([obs, action], dim=-1)
        x = x.expand(self.n_critics, *x.shape)  # (2, batch, n_in): both critics read the same input (no copy)
        last = len(self.weights) - 1
        for k, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)  # bias + x @ weight, for every critic at once
            if k < last:
                x = F.relu(x)
        return x.squeeze(-1)

    def load_from_separate(self, critics):
        """Copy the weights of separate `mlp` critics (nn.Sequential of nn.Linear) into the stacked ones."""
        with torch.no_grad():
            for i, critic in enumerate(critics):
                linears = [m for m in critic if isinstance(m, nn.Linear)]
                for weight, bias, linear in zip(self.weights, self.biases, linears):
                    weight[i].copy_(linear.weight.T)
                    bias[i, 0].copy_(linear.bias)

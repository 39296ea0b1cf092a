"""The actor (a tanh-squashed Gaussian policy) and the critic (a Q-network). Networks take integers, not envs.

    Actor      obs (batch, n_obs) -> pi(.|obs), a Normal over the pre-squash action u, (batch, n_actions);
               `sample` gives a = tanh(u) and log pi(a|s), the tanh correction included
    QNetwork   obs (batch, n_obs), action (batch, n_actions) -> Q(s, a) (batch,)

SAC trains two QNetworks (and keeps a lagging copy of each): agent.py holds critic1, critic2 and their targets.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # keeps exp(log_std) away from 0 (log-probs blow up) and from huge


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


def squashed_log_prob(pi, u):
    """log pi(a | s) of the action a = tanh(u), where u was drawn from the Gaussian `pi`; shape (batch,).

    Change of variables: the density of a is the density of u divided by |da/du| = 1 - tanh(u)^2, for
    each independent dimension, so in logs we subtract the log-Jacobian and sum over action dimensions.
    Pitfall: the log-probability is taken of u, the sample BEFORE the squash (pi is a density over u, not
    over a), and the correction is what turns it into the density of the action the env receives.
    u: (batch, n_actions).
    """
    return (pi.log_prob(u) - tanh_log_det_jacobian(u)).sum(-1)


class Actor(nn.Module):
    """A Gaussian over pre-squash actions u, squashed by tanh into [-1, 1]: the policy pi(a | s)."""

    def __init__(self, n_obs, n_actions, hidden=(256, 256)):
        super().__init__()
        self.trunk = nn.Sequential(mlp([n_obs, *hidden]), nn.ReLU())
        self.mean = nn.Linear(hidden[-1], n_actions)
        self.log_std = nn.Linear(hidden[-1], n_actions)

    def forward(self, obs):
        """pi(.|obs) over u: a Normal with mean and std (batch, n_actions); log_std clamped to [-20, 2]."""
        features = self.trunk(obs)
        log_std = self.log_std(features).clamp(LOG_STD_MIN, LOG_STD_MAX)
        return Normal(self.mean(features), log_std.exp())

    def sample(self, obs):
        """A reparameterised sample: (action (batch, n_actions) in [-1, 1], log pi(action | obs) (batch,)).

        rsample draws u = mean + std * noise, with the noise drawn outside the network: the action is then
        a differentiable function of the actor's weights, so the actor loss can be backpropagated through
        the critic into the actor (the reparameterisation trick). `sample()` instead of `rsample()` would
        give no gradient path from Q(s, a) to mean and std.
        """
        pi = self(obs)
        u = pi.rsample()
        return torch.tanh(u), squashed_log_prob(pi, u)


class QNetwork(nn.Module):
    """Q(s, a): the observation and the action side by side into one MLP, one number out."""

    def __init__(self, n_obs, n_actions, hidden=(256, 256)):
        super().__init__()
        self.net = mlp([n_obs + n_actions, *hidden, 1])

    def forward(self, obs, action):
        """Q(s, a) (batch,) for obs (batch, n_obs) and action (batch, n_actions)."""
        return self.net(torch.cat([obs, action], dim=-1)).squeeze(-1)

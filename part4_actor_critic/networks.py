"""The actor (a policy pi(a|s)) and the critic (a value V(s)): two networks, or one shared trunk with two heads.

Networks take integers, not env objects. Discrete actions: a Categorical over `action_dim` logits.
Box actions: a Gaussian whose mean depends on the state and whose log-std is one learned number per action
dimension (state-independent, as in the PPO paper). The log-probability and entropy formulas are written
out: they are the heart of the chapter (tests check them against torch.distributions).

Orthogonal initialisation with the usual gains (from the PPO/A2C baselines): sqrt(2) for tanh hidden
layers keeps the activations' scale roughly constant through the layers; 0.01 for the policy head makes
the first policy nearly uniform (Discrete) or centred on 0 (Box), so early exploration is not biased by
random weights; 1 for the value head, whose output is a number of the size of the returns.
"""
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def layer_init(layer, gain):
    """Orthogonal weights scaled by `gain`, zero biases."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def mlp(n_in, hidden):
    """Hidden layers with tanh (bounded activations keep policy-gradient steps well-behaved); no output layer."""
    layers, width = [], n_in
    for size in hidden:
        layers += [layer_init(nn.Linear(width, size), math.sqrt(2)), nn.Tanh()]
        width = size
    return nn.Sequential(*layers)


def gaussian_log_prob(mean, log_std, actions):
    """log N(actions; mean, exp(log_std)^2), summed over action dimensions: (batch, dim) -> (batch,)."""
    z = (actions - mean) / log_std.exp()
    return (-0.5 * z**2 - log_std - LOG_SQRT_2PI).sum(-1)


def gaussian_entropy(log_std):
    """Entropy of a diagonal Gaussian, sum over dimensions of 1/2 + log(sqrt(2 pi)) + log_std: (..., dim) -> (...)."""
    return (0.5 + LOG_SQRT_2PI + log_std).sum(-1)


def categorical_log_prob_entropy(logits, actions):
    """log softmax(logits)[action] and the entropy -sum p log p: logits (batch, n), actions (batch,) -> (batch,), (batch,)."""
    log_p = F.log_softmax(logits, dim=-1)
    return log_p.gather(1, actions.long().unsqueeze(1)).squeeze(1), -(log_p.exp() * log_p).sum(-1)


class ActorCritic(nn.Module):
    """Actor and critic, separate (default: two trunks) or `shared` (one trunk, two heads).

    Separate networks cannot hurt each other: the critic's regression and the actor's policy gradient pull a
    shared trunk in different directions, with gradients of different sizes (the value loss coefficient
    weighs them). Shared ones learn features once, which can pay when observations are large (pixels).
    """

    def __init__(self, n_obs, action_dim, discrete, hidden=(64, 64), shared=False, log_std_init=0.0):
        super().__init__()
        self.discrete, self.shared = discrete, shared
        width = hidden[-1] if hidden else n_obs
        if shared:
            self.trunk = mlp(n_obs, hidden)
        else:
            self.actor_body, self.critic_body = mlp(n_obs, hidden), mlp(n_obs, hidden)
        self.policy_head = layer_init(nn.Linear(width, action_dim), 0.01)
        self.value_head = layer_init(nn.Linear(width, 1), 1.0)
        if not discrete:
            self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def actor_parameters(self):
        """What the actor's optimizer moves (separate networks): body, policy head, log-std."""
        return [p for name, p in self.named_parameters() if not name.startswith(("critic_body", "value_head"))]

    def critic_parameters(self):
        return list(self.critic_body.parameters()) + list(self.value_head.parameters())

    def features(self, obs):
        """(actor features, critic features), each (batch, width): one trunk pass when shared."""
        if self.shared:
            x = self.trunk(obs)
            return x, x
        return self.actor_body(obs), self.critic_body(obs)

    def value(self, obs):
        """V(s): (batch, n_obs) -> (batch,)."""
        x = self.trunk(obs) if self.shared else self.critic_body(obs)
        return self.value_head(x).squeeze(-1)

    def log_prob_entropy(self, out, actions):
        """From the policy head's output (logits or mean, (batch, action_dim)): log pi(a|s) and entropy, (batch,) each."""
        if self.discrete:
            return categorical_log_prob_entropy(out, actions)
        log_std = self.log_std.expand_as(out)
        return gaussian_log_prob(out, log_std, actions), gaussian_entropy(log_std)

    def forward(self, obs, actions):
        """log pi(actions|obs), entropy, V(obs): each (batch,). obs (batch, n_obs); actions (batch,) or (batch, dim)."""
        actor_x, critic_x = self.features(obs)
        log_prob, entropy = self.log_prob_entropy(self.policy_head(actor_x), actions)
        return log_prob, entropy, self.value_head(critic_x).squeeze(-1)


class NumpyPolicy:
    """The actor's forward pass in numpy, for acting one vector step at a time (the hot loop).

    For a 64-64 network and 8 observations numpy takes a few microseconds where torch's per-operation
    dispatch costs several times more. The arrays are views of the torch parameters (`.numpy()` shares
    memory, and optimizers update parameters in place), so this never goes stale and is built once.
    Tests check it against ActorCritic and its samples against the softmax.
    """

    def __init__(self, network, rng):
        body = network.trunk if network.shared else network.actor_body
        linears = [m for m in body if isinstance(m, nn.Linear)] + [network.policy_head]
        self.layers = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linears]
        self.discrete, self.rng = network.discrete, rng
        self.log_std = None if network.discrete else network.log_std.detach().numpy()

    def head(self, obs):
        """Logits or the Gaussian's mean: (batch, n_obs) float32 -> (batch, action_dim)."""
        x = obs
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight + bias
            if i < len(self.layers) - 1:
                x = np.tanh(x)
        return x

    def sample(self, obs):
        """Sampled actions: (batch,) int64, or (batch, action_dim) float32 (unclipped: the env gets them clipped)."""
        out = self.head(obs)
        if self.discrete:
            # Gumbel-max: argmax(logits + Gumbel noise), Gumbel = -log(Exponential(1)), is an exact sample
            # of softmax(logits) without computing the softmax
            return (out - np.log(self.rng.exponential(size=out.shape))).argmax(-1)
        return (out + np.exp(self.log_std) * self.rng.standard_normal(out.shape)).astype(np.float32)

    def greedy(self, obs):
        """The most likely action: argmax of the logits, or the Gaussian's mean."""
        out = self.head(obs)
        return out.argmax(-1) if self.discrete else out

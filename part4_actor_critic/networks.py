"""The actor (a policy pi(a|s)) and the critic (a value V(s)): two networks, or one shared trunk with two heads.

Networks take integers, not env objects. The actor returns a `torch.distributions` object: a Categorical over
`action_dim` logits (Discrete actions), or a diagonal Gaussian whose mean depends on the state and whose log-std
is one learned number per action dimension (Box actions; state-independent, as in the PPO paper). The agent
samples from it when it acts and records the log-probability of what it drew; the update asks the same
distribution, under the new weights, for the log-probability of the same actions and for its entropy.

Orthogonal initialisation with the usual gains (from the PPO/A2C baselines): sqrt(2) for tanh hidden
layers keeps the activations' scale roughly constant through the layers; 0.01 for the policy head makes
the first policy nearly uniform (Discrete) or centred on 0 (Box), so early exploration is not biased by
random weights; 1 for the value head, whose output is a number of the size of the returns.
"""
import math

import torch
from torch import nn
from torch.distributions import Categorical, Independent, Normal


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

    def policy(self, actor_features):
        """pi(.|s) from the actor's features: a distribution over a batch, whose log_prob(actions) and
        entropy() are (batch,) each."""
        out = self.policy_head(actor_features)
        if self.discrete:
            return Categorical(logits=out)
        # Independent(..., 1) sums the log-probabilities and entropies over the action dimensions:
        # the dimensions are drawn independently, so the joint density is the product of theirs
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def distribution(self, obs):
        """pi(.|obs): the actor alone (acting, evaluation). obs (batch, n_obs)."""
        return self.policy(self.trunk(obs) if self.shared else self.actor_body(obs))

    def value(self, obs):
        """V(s): (batch, n_obs) -> (batch,)."""
        x = self.trunk(obs) if self.shared else self.critic_body(obs)
        return self.value_head(x).squeeze(-1)

    def forward(self, obs):
        """pi(.|obs) and V(obs), (batch,), from one pass of the features (one trunk pass when shared)."""
        actor_x, critic_x = self.features(obs)
        return self.policy(actor_x), self.value_head(critic_x).squeeze(-1)

"""Q-networks: observation in, one Q-value per action out. Networks take integers, not env objects.

Three bodies: an MLP for a vector observation, an LSTM over a history of them, and a CNN over a stack of
Atari frames. Two options change the head of every network here (the MLP, the LSTM's and the CNN's head alike):
- `dueling`: Q(s, a) = V(s) + A(s, a) - mean_a A(s, a), a value stream and an advantage stream;
- `noisy`: NoisyLinear layers in place of the plain ones after the first, so the network explores by
  itself (epsilon-greedy is switched off) and learns how much.
"""
import math

import torch
from torch import nn


class NoisyLinear(nn.Module):
    """A linear layer with learned Gaussian noise on its weights (Fortunato et al., 2018, factorised).

    y = (mu_w + sigma_w * eps_w) x + (mu_b + sigma_b * eps_b). Factorised noise draws one vector
    eps_in (in_features,) and one eps_out (out_features,) and sets eps_w = f(eps_out) f(eps_in)^T,
    eps_b = f(eps_out), f(x) = sign(x) sqrt(|x|): in + out random numbers per draw instead of in * out.
    sigma starts at sigma_0 / sqrt(in_features) and is learned by the same gradient as mu: where
    exploring pays, the network keeps sigma; where it does not, sigma shrinks.
    In training mode the layer uses the noise of the last `reset_noise`; in eval mode (`.eval()`) the mean
    weights mu alone, which is what greedy evaluation and test.py use.
    """

    def __init__(self, in_features, out_features, sigma_0=0.5):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma_0 * bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma_0 * bound))
        # the current noise: buffers, so they move with .to(device) (and are saved, harmlessly)
        self.register_buffer("weight_epsilon", torch.zeros(out_features, in_features))
        self.register_buffer("bias_epsilon", torch.zeros(out_features))

    @staticmethod
    def scaled_noise(size, generator):
        """f(x) = sign(x) sqrt(|x|) of `size` standard normal draws, shape (size,)."""
        x = torch.randn(size, generator=generator, device=generator.device if generator is not None else None)
        return x.sign() * x.abs().sqrt()

    @torch.no_grad()
    def reset_noise(self, generator=None):
        """Draw new noise: eps_in (in,), eps_out (out,); eps_w = outer(eps_out, eps_in), eps_b = eps_out."""
        eps_in = self.scaled_noise(self.in_features, generator).to(self.weight_mu.device)
        eps_out = self.scaled_noise(self.out_features, generator).to(self.weight_mu.device)
        self.weight_epsilon.copy_(torch.outer(eps_out, eps_in))
        self.bias_epsilon.copy_(eps_out)

    def forward(self, x):
        if not self.training:  # evaluation: the mean weights, deterministic
            return nn.functional.linear(x, self.weight_mu, self.bias_mu)
        return nn.functional.linear(x, self.weight_mu + self.weight_sigma * self.weight_epsilon,
                                    self.bias_mu + self.bias_sigma * self.bias_epsilon)


def linear(in_features, out_features, noisy):
    return NoisyLinear(in_features, out_features) if noisy else nn.Linear(in_features, out_features)


class QNetwork(nn.Module):
    """MLP: (batch, n_obs) -> (batch, n_actions). ReLU hidden layers, a linear output (Q-values are unbounded).

    `dueling`: the last hidden layer feeds two outputs, V(s) (one number) and A(s, a) (one per action),
    combined as Q = V + A - mean_a A. Q alone does not determine V and A (add c to V and take c from
    every A: the same Q), so the network could let them drift apart; subtracting an aggregate of A pins
    it. The max would make A(s, greedy a) = 0 and V = max Q, the textbook meaning, but then the greedy
    action's advantage jumps whenever the argmax changes; the mean moves smoothly and learned more stably
    in the paper (Wang et al., 2016), at the price of V being Q's mean over actions plus a constant.
    Why it helps: V(s) is learned from every transition, whatever its action, and in many states the
    action hardly matters.
    `noisy`: every layer after the first is a NoisyLinear (the first sees raw observations, where noise
    would only blur the input; `plain_first=False` when the input is an LSTM's output). Without either
    option the layers (and the state_dict) are the classic ones.
    """

    def __init__(self, n_obs, n_actions, hidden=(64, 64), dueling=False, noisy=False, plain_first=True):
        super().__init__()
        self.dueling = dueling
        layers, width = [], n_obs
        for i, size in enumerate(hidden):
            layers += [linear(width, size, noisy and (i > 0 or not plain_first)), nn.ReLU()]
            width = size
        noisy_out = noisy and (len(hidden) > 0 or not plain_first)
        if dueling:
            self.net = nn.Sequential(*layers)       # the shared trunk, (batch, width)
            self.value = linear(width, 1, noisy_out)
            self.advantage = linear(width, n_actions, noisy_out)
        else:
            layers.append(linear(width, n_actions, noisy_out))
            self.net = nn.Sequential(*layers)

    def forward(self, obs):
        if not self.dueling:
            return self.net(obs)
        features = self.net(obs)
        value, advantage = self.value(features), self.advantage(features)   # (batch, 1), (batch, n_actions)
        return value + advantage - advantage.mean(dim=-1, keepdim=True)


class LSTMQNetwork(nn.Module):
    """LSTM over a history of (observation, previous action) rows, then an MLP head on its last output.

    (batch, history, n_inputs) -> (batch, n_actions). The LSTM's hidden size is `hidden[0]`; the head uses
    the remaining sizes (and `dueling`, `noisy`: the head is a QNetwork). Each sample carries its whole
    history, so no hidden state is kept between calls: replay samples stay independent and the replay
    memory needs no sequence bookkeeping.
    """

    def __init__(self, n_inputs, n_actions, hidden=(64, 64), dueling=False, noisy=False):
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden[0], batch_first=True)
        self.head = QNetwork(hidden[0], n_actions, hidden[1:], dueling, noisy, plain_first=False)

    def forward(self, history):
        outputs, _ = self.lstm(history)        # (batch, history, hidden[0])
        return self.head(outputs[:, -1])       # the output after reading the newest row


# The convolutions (out_channels, kernel size, stride) of the two DQN papers' networks
CONVOLUTIONS = {
    "nature": [(32, 8, 4), (64, 4, 2), (64, 3, 1)],  # Mnih et al., 2015 (with hidden [512]): 9.3M multiply-adds per stack
    "small": [(16, 8, 4), (32, 4, 2)],               # Mnih et al., 2013 (with hidden [256]): 3.0M, it played Pong too
}


def smallest_frame(convolutions):
    """The smallest square frame side the `convolutions` of CONVOLUTIONS leave at least one pixel of: each layer
    turns a side s into (s - kernel) // stride + 1, which must stay >= 1 (small: 20, nature: 36)."""
    side = 1
    while True:
        s = side
        for _, kernel, stride in CONVOLUTIONS[convolutions]:
            s = (s - kernel) // stride + 1 if s >= kernel else 0
        if s >= 1:
            return side
        side += 1


class CNNQNetwork(nn.Module):
    """Convolutions over a stack of frames, then an MLP head: (batch, frames, height, width) -> (batch, n_actions).

    The input is raw pixel values 0-255 (the replay memory and the env hand over uint8, a quarter of
    float32's bytes); the network scales them to [0, 1] itself, so every caller feeds the same thing.
    Each convolution is followed by a ReLU; with 84x84 frames the "nature" stack gives 64 maps of 7x7
    (3,136 features), "small" 32 maps of 9x9 (2,592). The head is a QNetwork on the flattened features
    (`hidden` sizes, `dueling`, `noisy`: noise in every linear layer, none in the convolutions, as in
    Rainbow).
    """

    def __init__(self, obs_shape, n_actions, hidden=(512,), convolutions="nature", dueling=False, noisy=False):
        super().__init__()
        layers, channels = [], obs_shape[0]
        for out_channels, kernel, stride in CONVOLUTIONS[convolutions]:
            layers += [nn.Conv2d(channels, out_channels, kernel, stride), nn.ReLU()]
            channels = out_channels
        self.convolutions = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():  # the flattened size, by running one blank stack through
            n_features = self.convolutions(torch.zeros(1, *obs_shape)).shape[1]
        self.head = QNetwork(n_features, n_actions, hidden, dueling, noisy, plain_first=False)

    def forward(self, frames):
        x = frames.to(torch.float32) / 255.0  # uint8 pixels in, [0, 1] inside
        return self.head(self.convolutions(x))


def make_network(kind, obs_shape, n_actions, hidden, dueling=False, noisy=False, convolutions="nature"):
    """The network a config names: "mlp" for observations of shape (n_obs,), "lstm" for (history, n_inputs),
    "cnn" for (frames, height, width) with the `convolutions` of CONVOLUTIONS."""
    if kind == "mlp":
        return QNetwork(obs_shape[-1], n_actions, hidden, dueling, noisy)
    if kind == "lstm":
        return LSTMQNetwork(obs_shape[-1], n_actions, hidden, dueling, noisy)
    if kind == "cnn":
        return CNNQNetwork(obs_shape, n_actions, hidden, convolutions, dueling, noisy)
    raise ValueError(f"unknown network kind {kind!r}")


def reset_noise(network, generator=None):
    """A fresh noise draw for every NoisyLinear in `network` (none: nothing happens)."""
    for module in network.modules():
        if isinstance(module, NoisyLinear):
            module.reset_noise(generator)


def mean_abs_sigma(network):
    """The mean |sigma| over every noisy weight and bias of `network` (nan without noisy layers): how much
    the network still chooses to explore."""
    sigmas = [p.detach().abs().flatten() for m in network.modules() if isinstance(m, NoisyLinear)
              for p in (m.weight_sigma, m.bias_sigma)]
    return torch.cat(sigmas).mean().item() if sigmas else float("nan")

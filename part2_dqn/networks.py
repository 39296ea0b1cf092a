"""Q-networks: observation in, one Q-value per action out. Networks take integers, not env objects."""
from torch import nn


class QNetwork(nn.Module):
    """MLP: (batch, n_obs) -> (batch, n_actions). ReLU hidden layers, a linear output (Q-values are unbounded)."""

    def __init__(self, n_obs, n_actions, hidden=(64, 64)):
        super().__init__()
        layers, width = [], n_obs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, n_actions))
        self.net = nn.Sequential(*layers)

    def forward(self, obs):
        return self.net(obs)


class LSTMQNetwork(nn.Module):
    """LSTM over a history of (observation, previous action) rows, then an MLP head on its last output.

    (batch, history, n_inputs) -> (batch, n_actions). The LSTM's hidden size is `hidden[0]`; the head uses
    the remaining sizes. Each sample carries its whole history, so no hidden state is kept between calls:
    replay samples stay independent and the replay memory needs no sequence bookkeeping.
    """

    def __init__(self, n_inputs, n_actions, hidden=(64, 64)):
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden[0], batch_first=True)
        self.head = QNetwork(hidden[0], n_actions, hidden[1:])

    def forward(self, history):
        outputs, _ = self.lstm(history)        # (batch, history, hidden[0])
        return self.head(outputs[:, -1])       # the output after reading the newest row


def make_network(kind, obs_shape, n_actions, hidden):
    """The network a config names: "mlp" for observations of shape (n_obs,), "lstm" for (history, n_inputs)."""
    if kind == "mlp":
        return QNetwork(obs_shape[-1], n_actions, hidden)
    if kind == "lstm":
        return LSTMQNetwork(obs_shape[-1], n_actions, hidden)
    raise ValueError(f"unknown network kind {kind!r}")

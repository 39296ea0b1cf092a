"""Replay memory: a preallocated float32 ring buffer of transitions, sampled in uniform random minibatches."""
import numpy as np
import torch


class ReplayMemory:
    """Holds the last `capacity` transitions (obs, action, reward, next_obs, terminated, discount).

    Why replay: consecutive transitions are strongly correlated, and a network trained on them in order
    forgets what it learned a minute ago. Sampling old and new transitions at random breaks the
    correlation and reuses each one many times.

    Only `terminated` is stored as the done flag: a transition cut by the time limit (`truncated`) still
    bootstraps from its next state, so for learning it is an ordinary transition.
    `discount` is what the next state's value is multiplied by: gamma, or gamma^k for a k-step transition.
    Arrays are allocated once, up front: no per-step Python lists, no copies at sampling time but one.
    """

    def __init__(self, capacity, obs_shape, seed=0, device="cpu"):
        self.capacity, self.device = capacity, torch.device(device)
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.position, self.size = 0, 0
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.size

    def push(self, obs, action, reward, next_obs, terminated, discount):
        """Store one transition, overwriting the oldest once the memory is full."""
        i = self.position
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i], self.discounts[i] = next_obs, terminated, discount
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size):
        """A uniform random minibatch without replacement, as torch tensors on the memory's device.

        Returns obs (batch, *obs_shape), actions (batch,) int64, rewards (batch,), next_obs (batch, *obs_shape),
        terminated (batch,) 0/1, discounts (batch,); all float32 but the actions.
        """
        return self.gather(self.sample_indices(batch_size))

    def sample_indices(self, batch_size):
        """`batch_size` distinct random positions in the memory, shape (batch_size,)."""
        if batch_size > self.size:
            raise ValueError(f"cannot sample {batch_size} transitions from {self.size}")
        return self.rng.choice(self.size, batch_size, replace=False)

    def gather(self, indices):
        """The transitions at `indices` (any shape, e.g. (batch,)), each field as a tensor of shape
        (*indices.shape, ...) on the memory's device."""
        batch = (self.obs[indices], self.actions[indices], self.rewards[indices], self.next_obs[indices],
                 self.terminated[indices], self.discounts[indices])
        return tuple(torch.from_numpy(x).to(self.device) for x in batch)

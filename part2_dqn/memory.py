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

    def sample(self, batch_size, n_batches=None):
        """Uniform random minibatches, each without replacement, as torch tensors on the memory's device.

        Returns obs (batch, *obs_shape), actions (batch,) int64, rewards (batch,), next_obs (batch, *obs_shape),
        terminated (batch,) 0/1, discounts (batch,); all float32 but the actions. With `n_batches`, every
        tensor gets a leading (n_batches,) axis: a whole update round's minibatches in one gather, instead of
        six small numpy copies and tensor conversions per gradient step.
        """
        if batch_size > self.size:
            raise ValueError(f"cannot sample {batch_size} transitions from {self.size}")
        if n_batches is None:
            i = self.rng.choice(self.size, batch_size, replace=False)  # ~10 us, small next to a gradient step
        else:
            i = np.stack([self.rng.choice(self.size, batch_size, replace=False) for _ in range(n_batches)])
        batch = (self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i], self.terminated[i], self.discounts[i])
        return tuple(torch.from_numpy(x).to(self.device) for x in batch)

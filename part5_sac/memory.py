"""Replay memory for continuous actions: a preallocated float32 ring buffer, sampled in uniform minibatches."""
import numpy as np
import torch


class ReplayMemory:
    """Holds the last `capacity` transitions (obs, action, reward, next_obs, terminated).

    SAC is off-policy: any transition, whichever policy collected it, is a valid sample of the env's
    dynamics, so old experience is reused many times, as in Part 2's DQN. Actions are float vectors in
    [-1, 1] (the agent's own scale; the env wrapper rescales them).

    Only `terminated` is stored as the done flag: a transition cut by the time limit (`truncated`) still
    bootstraps from its next state, so for learning it is an ordinary transition, and `next_obs` is the
    true final observation the env returned, not the first observation of the next episode.
    Arrays are allocated once, up front: no per-step Python lists, one copy at sampling time.
    """

    def __init__(self, capacity, obs_dim, action_dim, seed=0, device="cpu"):
        self.capacity, self.device = capacity, torch.device(device)
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, action_dim), dtype=np.float32)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.position, self.size = 0, 0
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.size

    def push(self, obs, action, reward, next_obs, terminated):
        """Store one transition, overwriting the oldest once the memory is full."""
        i = self.position
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size):
        """A uniform random minibatch (with replacement) as float32 torch tensors on the memory's device.

        Returns obs (batch, obs_dim), actions (batch, action_dim), rewards (batch,), next_obs (batch, obs_dim),
        terminated (batch,) holding 0 or 1.
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty memory")
        i = self.rng.integers(0, self.size, batch_size)
        batch = (self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i], self.terminated[i])
        return tuple(torch.from_numpy(x).to(self.device) for x in batch)

"""Replay memory: a preallocated float32 ring buffer of transitions, sampled in uniform random minibatches,
or (`--per`) by priority through a sum tree. Stacks of Atari frames go to `FrameReplayMemory`, which
stores every frame once, as uint8."""
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

    def push(self, obs, action, reward, next_obs, terminated, discount, steps=1, episode_over=False):
        """Store one transition, overwriting the oldest once the memory is full.

        `steps` (how many env steps next_obs lies ahead of obs) and `episode_over` (this is the episode's
        last transition) are for FrameReplayMemory; a memory of whole observations needs neither."""
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


class SumTree:
    """A binary tree over `capacity` non-negative priorities in which every node holds the sum of its two
    children: the root is the total, a priority changes in O(log n), and the leaf where the running sum
    of priorities first passes a value u (the prefix-sum lookup) is found in O(log n) by walking down.

    Stored as one preallocated float64 array in heap order: node i has children 2i and 2i + 1, the root
    is node 1, and leaf j is node `leaves + j`, where `leaves` is `capacity` rounded up to a power of two
    (so the leaves are in index order and all at the same depth; the extra leaves stay at zero).
    float64, and parents recomputed from their children rather than nudged by differences, so the sums
    do not drift over millions of updates.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        self.leaves = 1 << max(0, (capacity - 1).bit_length())
        self.nodes = np.zeros(2 * self.leaves, dtype=np.float64)

    @property
    def total(self):
        return self.nodes[1]

    def __getitem__(self, indices):
        """The priorities of leaves `indices` (an int or an array)."""
        return self.nodes[self.leaves + np.asarray(indices)]

    def update(self, indices, priorities):
        """Set the priorities of leaves `indices` (an int or an array; repeats allowed, the last one wins) and
        recompute the sums above them, one level at a time."""
        if np.ndim(indices) == 0:  # one leaf (every push): plain Python is quicker than numpy on one number
            node = self.leaves + int(indices)
            self.nodes[node] = priorities
            while node > 1:
                node //= 2
                self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]
            return
        nodes = self.leaves + np.asarray(indices, dtype=np.int64)
        self.nodes[nodes] = priorities
        while nodes[0] > 1:  # all leaves are at one depth, so `nodes` climbs one level per pass
            nodes = nodes // 2  # a parent listed twice gets the same sum twice
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def find(self, values):
        """For each u in `values` (an array in [0, total)), the leaf j with prefix(j) <= u < prefix(j + 1),
        where prefix(j) is the sum of the priorities of leaves 0..j-1. All of `values` walk down together:
        at each node, go left if u falls within the left child's sum, else subtract that sum and go right.
        Returns leaf indices, shape of `values`."""
        values = np.array(values, dtype=np.float64)
        nodes = np.ones(values.shape, dtype=np.int64)
        while nodes[0] < self.leaves:
            left = 2 * nodes
            go_right = values >= self.nodes[left]
            values -= np.where(go_right, self.nodes[left], 0.0)
            nodes = left + go_right
        # float rounding can carry a u at the very top past the last non-zero leaf: step back onto it
        return np.minimum(nodes - self.leaves, self.capacity - 1)


class PrioritizedReplayMemory(ReplayMemory):
    """Proportional prioritized experience replay (Schaul et al., 2016): transition i is sampled with
    probability P(i) = p_i^alpha / sum_k p_k^alpha, where p_i = |TD error_i| + eps from its last update.

    Uniform replay spends most updates on transitions the network already predicts well; sampling by TD
    error spends them where the network is most wrong. alpha = 0 is uniform replay again, alpha = 1 fully
    proportional. The eps keeps every transition reachable.
    - A new transition gets the largest priority seen so far, so it is replayed at least once soon.
    - Sampling by priority changes the data distribution the loss averages over, a bias; the importance
      weights w_i = (N * P(i))^-beta undo it (beta = 1: fully), divided by the largest w in the minibatch
      so they only ever scale updates down. beta is annealed to 1 by the agent: early on, when the
      targets move anyway, the bias matters least.
    - Stratified sampling: the total priority is cut into `batch_size` equal segments and one transition
      is drawn from each, so a minibatch spreads over the whole memory instead of piling on a few peaks.
    The fields, `push`, `gather` and the seeded generator are ReplayMemory's; a SumTree holds p^alpha.
    """

    def __init__(self, capacity, obs_shape, seed=0, device="cpu", alpha=0.6, eps=1e-6, **frame_options):
        super().__init__(capacity, obs_shape, seed, device, **frame_options)
        self.alpha, self.eps = alpha, eps
        self.tree = SumTree(capacity)
        self.max_priority = 1.0  # the largest |TD error| + eps so far: what a new transition starts with

    def push(self, obs, action, reward, next_obs, terminated, discount, steps=1, episode_over=False):
        self.tree.update(self.position, self.max_priority**self.alpha)  # before push moves `position` on
        super().push(obs, action, reward, next_obs, terminated, discount, steps, episode_over)

    def sample_indices(self, batch_size):
        """One position from each of `batch_size` equal segments of the total priority, shape (batch_size,).
        A transition whose priority spans several segments can be drawn more than once."""
        if batch_size > self.size:
            raise ValueError(f"cannot sample {batch_size} transitions from {self.size}")
        segment = self.tree.total / batch_size
        indices = self.tree.find((np.arange(batch_size) + self.rng.random(batch_size)) * segment)
        return np.minimum(indices, self.size - 1)  # float rounding at the top end: the last stored one

    def importance_weights(self, indices, beta):
        """w_i = (N * P(i))^-beta / max_j w_j over the minibatch, as a float32 tensor of shape (batch,)."""
        probabilities = self.tree[indices] / self.tree.total
        weights = (self.size * probabilities) ** -beta
        return torch.from_numpy((weights / weights.max()).astype(np.float32)).to(self.device)

    def update_priorities(self, indices, td_errors):
        """p_i = |TD error_i| + eps for the transitions at `indices`; `td_errors` is a (batch,) tensor or array."""
        if isinstance(td_errors, torch.Tensor):
            td_errors = td_errors.detach().cpu().numpy()
        priorities = np.abs(td_errors.astype(np.float64)) + self.eps
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(indices, priorities**self.alpha)


class FrameReplayMemory(ReplayMemory):
    """Transitions whose observations are stacks of frames (frames, height, width), each frame stored once, uint8.

    A stacked observation shares all frames but its newest with the one before it, and next_obs is the
    following observation: storing obs and next_obs as stacks keeps every frame 2 x 4 = 8 times (100k
    Atari transitions: 5.6 GB). Here every transition stores its observation's newest frame, and the
    stacks are rebuilt at sampling time from the frames around it (100k: 0.7 GB).

    The frames are a stream in the order the env produced them. Transition number g (counting every push
    since the start) keeps its obs's newest frame at stream position g; its next_obs is `steps` positions
    further on (steps = k of a k-step transition). A stack is the 4 positions ending at the newest frame,
    with ZERO frames in place of those before its episode's first, exactly as the env's zero-padded
    FrameStackObservation shows it. An episode's final observation is the obs of no transition: its
    newest frame takes one extra stream position, a slot marked as no transition (never sampled).

    The pushes of one episode must arrive in order (Agent.push guarantees it, n-step windows included),
    with `steps` and `episode_over` (the episode's last transition) given. The frames of each push's
    next_obs are written ahead into the positions of the pushes still to come (n-step: up to n ahead),
    and the frame ring is longer than the transition ring by n + frames - 1 positions, so that no frame a
    stored transition needs is overwritten.
    """

    def __init__(self, capacity, obs_shape, seed=0, device="cpu", n_steps=1):
        self.capacity, self.device = capacity, torch.device(device)
        self.history = obs_shape[0]
        self.frame_capacity = capacity + n_steps + self.history - 1
        self.frames = np.zeros((self.frame_capacity, *obs_shape[1:]), dtype=np.uint8)
        self.stream = np.zeros(capacity, dtype=np.int64)         # the stream position of obs's newest frame
        self.episode_start = np.zeros(capacity, dtype=np.int64)  # the stream position of its episode's first frame
        self.steps = np.zeros(capacity, dtype=np.int64)          # next_obs's newest frame is `steps` positions on
        self.valid = np.zeros(capacity, dtype=bool)              # False: an episode's final frame, no transition
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.position, self.size = 0, 0
        self.next_stream = 0      # the stream position of the next push
        self.current_start = 0    # the stream position where the current episode began
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        """The number of stored transitions (the end-of-episode slots not counted)."""
        return int(np.count_nonzero(self.valid[:self.size]))

    def write_frames(self, stack, newest):
        """Put a stack's frames in the stream, the newest at position `newest`; padding (before the episode) is skipped."""
        for j in range(self.history):
            position = newest - self.history + 1 + j
            if position >= self.current_start:
                self.frames[position % self.frame_capacity] = stack[j]

    def push(self, obs, action, reward, next_obs, terminated, discount, steps=1, episode_over=False):
        g = self.next_stream
        i = self.position
        self.frames[g % self.frame_capacity] = obs[-1]
        self.write_frames(next_obs, g + steps)
        self.stream[i], self.episode_start[i], self.steps[i], self.valid[i] = g, self.current_start, steps, True
        self.actions[i], self.rewards[i], self.terminated[i], self.discounts[i] = action, reward, terminated, discount
        self.advance()
        self.next_stream = g + 1
        if episode_over:  # the final observation's newest frame (written above) holds position g + 1
            self.end_of_episode(self.position, g + 1)
            self.advance()
            self.next_stream = self.current_start = g + 2

    def advance(self):
        self.position = (self.position + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def end_of_episode(self, i, stream_position):
        """Slot `i` holds an episode's final frame at `stream_position`: no transition, never sampled."""
        self.stream[i], self.episode_start[i], self.steps[i], self.valid[i] = stream_position, self.current_start, 0, False

    def sample_indices(self, batch_size):
        """`batch_size` distinct random slots holding transitions, shape (batch_size,)."""
        slots = np.flatnonzero(self.valid[:self.size])
        if batch_size > len(slots):
            raise ValueError(f"cannot sample {batch_size} transitions from {len(slots)}")
        return self.rng.choice(slots, batch_size, replace=False)

    def stacks(self, newest, episode_start):
        """The stacks whose newest frames are at stream positions `newest` (any shape S), zero frames before
        `episode_start` (shape S): uint8 array of shape (*S, frames, height, width)."""
        positions = newest[..., None] + np.arange(1 - self.history, 1)         # (*S, frames), oldest first
        stacks = self.frames[positions % self.frame_capacity]
        stacks[positions < episode_start[..., None]] = 0
        return stacks

    def gather(self, indices):
        """ReplayMemory.gather with the stacks rebuilt: obs and next_obs are uint8 (*indices.shape, frames, h, w)."""
        start = self.episode_start[indices]
        obs = self.stacks(self.stream[indices], start)
        next_obs = self.stacks(self.stream[indices] + self.steps[indices], start)
        batch = (obs, self.actions[indices], self.rewards[indices], next_obs, self.terminated[indices],
                 self.discounts[indices])
        return tuple(torch.from_numpy(x).to(self.device) for x in batch)


class PrioritizedFrameReplayMemory(PrioritizedReplayMemory, FrameReplayMemory):
    """Prioritized replay over frames: PrioritizedReplayMemory's sampling, FrameReplayMemory's storage.
    The end-of-episode slots get priority zero, so the sum tree never picks them."""

    def end_of_episode(self, i, stream_position):
        super().end_of_episode(i, stream_position)
        self.tree.update(i, 0.0)

    def sample_indices(self, batch_size):
        if batch_size > len(self):
            raise ValueError(f"cannot sample {batch_size} transitions from {len(self)}")
        indices = super().sample_indices(batch_size)
        # float rounding at a segment's edge (or the clamp to the last slot) can land on a zero-priority
        # slot: step back to the transition before it (the one an end-of-episode slot follows)
        while not self.valid[indices].all():
            indices = np.where(self.valid[indices], indices, (indices - 1) % self.size)
        return indices


def make_memory(config, obs_shape, device="cpu"):
    """The replay memory a config asks for: prioritized with `config.per`, uniform otherwise; frames stored
    once (FrameReplayMemory) when the observation is a stack of images (frames, height, width)."""
    per = getattr(config, "per", False)
    if len(obs_shape) == 3:
        options = dict(seed=config.seed, device=device, n_steps=config.n_steps)
        if per:
            return PrioritizedFrameReplayMemory(config.buffer_size, obs_shape, alpha=config.per_alpha,
                                                eps=config.per_eps, **options)
        return FrameReplayMemory(config.buffer_size, obs_shape, **options)
    if per:
        return PrioritizedReplayMemory(config.buffer_size, obs_shape, seed=config.seed, device=device,
                                       alpha=config.per_alpha, eps=config.per_eps)
    return ReplayMemory(config.buffer_size, obs_shape, seed=config.seed, device=device)

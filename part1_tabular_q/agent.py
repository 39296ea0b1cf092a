"""Tabular Q-learning: a table, epsilon-greedy exploration, and one line of Bellman update.

The hot loop is one environment step plus a handful of table reads and writes. Rows hold 4 to 11 values,
so we read them with `.tolist()` and use Python's `max`: for arrays this small numpy's per-call overhead
(about a microsecond) costs more than the work itself, and FrozenLake steps in about six microseconds.
"""
import random
import time

import numpy as np


def evaluate(policy, env, episodes, seed=None, on_frame=None):
    """Play `episodes` episodes with `policy(state) -> action`. Returns (mean return, std, success rate).

    Success is the fraction of episodes ending with a positive terminal reward (FrozenLake's goal).
    `seed` seeds the first reset only; later calls continue the env's random stream, so successive
    evaluations see fresh episodes instead of replaying the same ones. `on_frame(episode)` runs after
    each reset and each step with the episode's index (test.py uses it to grab rendered frames).
    """
    returns, successes = np.zeros(episodes), 0
    for episode in range(episodes):
        state, _ = env.reset(seed=seed if episode == 0 else None)
        if on_frame is not None:
            on_frame(episode)
        done = False
        while not done:
            state, reward, terminated, truncated, _ = env.step(policy(state))
            returns[episode] += reward
            done = terminated or truncated
            if on_frame is not None:
                on_frame(episode)
        successes += terminated and reward > 0
    return float(returns.mean()), float(returns.std()), successes / episodes


class QLearningAgent:
    """Q-table of shape (n_states, n_actions), epsilon-greedy with random tie-breaking."""

    def __init__(self, n_states, n_actions, alpha=0.1, gamma=0.99, epsilon=1.0, epsilon_min=0.01,
                 epsilon_decay=0.9999, initial_q=0.0, seed=0):
        self.q_table = np.full((n_states, n_actions), initial_q, dtype=np.float64)
        self.n_actions = n_actions
        self.alpha, self.gamma = alpha, gamma
        self.epsilon, self.epsilon_min, self.epsilon_decay = epsilon, epsilon_min, epsilon_decay
        self.rng = random.Random(seed)  # Python's generator: ~20x cheaper per draw than numpy's for one number
        self.steps = 0                  # environment steps of the current train() call

    def greedy_action(self, state):
        """argmax_a Q(state, a), ties broken uniformly at random.

        Breaking ties at random matters at the start, when every row is all zeros: `argmax` would always
        pick action 0 and a greedy agent would never discover the others.
        """
        q = self.q_values(state)
        best = max(q)
        if q.count(best) == 1:
            return q.index(best)
        return self.rng.choice([a for a, value in enumerate(q) if value == best])

    def q_values(self, state):
        """Q(state, .) as a Python list of n_actions floats."""
        return self.q_table[state].tolist()

    def get_action(self, state, greedy=False):
        """Epsilon-greedy action for one integer state; `greedy=True` never explores."""
        if not greedy and self.rng.random() < self.epsilon:
            return self.rng.randrange(self.n_actions)
        return self.greedy_action(state)

    def update(self, state, action, reward, next_state, terminated):
        """One Q-learning step: Q(s,a) += alpha * (r + gamma * max_a' Q(s',a') - Q(s,a)).

        Pitfall: `terminated` (fell in a hole, reached the goal) means there is no future, so no bootstrap.
        A time-limit truncation is *not* terminal: the state still has a future we just did not see, so we
        bootstrap through it. Treating truncation as terminal teaches the agent that the last states of an
        episode are worth nothing. Returns the TD error.
        """
        target = reward if terminated else reward + self.gamma * max(self.q_values(next_state))
        td_error = target - self.q_table[state, action]
        self.q_table[state, action] += self.alpha * td_error
        return td_error

    def decay_epsilon(self):
        """Per-step multiplicative decay down to a floor."""
        self.epsilon = max(self.epsilon_min, self.epsilon * self.epsilon_decay)

    def evaluate(self, env, episodes, seed=None):
        """Greedy episodes on a separate env. Returns (mean return, std, success rate)."""
        return evaluate(self.greedy_action, env, episodes, seed)

    def train(self, env, total_steps, seed, on_log=None, log_every=10_000, on_eval=None, eval_every=0):
        """Run `total_steps` environment steps of epsilon-greedy Q-learning on `env`.

        Callbacks keep the loop free of logging code: `on_log(step, episode_returns, episode_lengths)` every
        `log_every` steps with the episodes finished since the last call, and `on_eval(step, train_seconds)` every
        `eval_every` steps and once more at the final step if the schedule did not end there, so the final
        policy is always evaluated (and a run shorter than `eval_every` still saves a model).
        Returns the training wall seconds (evaluation excluded, logging included).

        Why not log every episode: each TensorBoard write wakes the writer's background thread, which then
        holds Python's GIL for up to a 5 ms switch interval. Once every 10k steps that is noise; a FrozenLake
        episode lasts about ten steps, so once per episode would pay it thousands of times a second.
        """
        # Local names: attribute lookups inside a loop that runs millions of times are not free.
        step_env, get_action, update, decay = env.step, self.get_action, self.update, self.decay_epsilon
        state, _ = env.reset(seed=seed)
        episode_return, episode_length = 0.0, 0
        episode_returns, episode_lengths = [], []
        next_eval = eval_every if eval_every > 0 and on_eval is not None else total_steps + 1
        train_seconds, start = 0.0, time.perf_counter()
        for step in range(1, total_steps + 1):
            self.steps = step
            action = get_action(state)                                   # epsilon-greedy
            next_state, reward, terminated, truncated, _ = step_env(action)
            update(state, action, reward, next_state, terminated)        # only `terminated` stops the bootstrap
            decay()                                                      # epsilon <- max(epsilon_min, epsilon * decay)
            episode_return += reward
            episode_length += 1
            state = next_state
            if terminated or truncated:                                  # reset on either
                episode_returns.append(episode_return)
                episode_lengths.append(episode_length)
                state, _ = env.reset()
                episode_return, episode_length = 0.0, 0
            if step % log_every == 0 and on_log is not None:
                on_log(step, episode_returns, episode_lengths)
                episode_returns, episode_lengths = [], []
            if step == next_eval:
                train_seconds += time.perf_counter() - start
                on_eval(step, train_seconds)
                next_eval += eval_every
                start = time.perf_counter()
        train_seconds += time.perf_counter() - start
        if on_eval is not None and (eval_every <= 0 or total_steps % eval_every != 0):
            on_eval(total_steps, train_seconds)  # the final policy, when no scheduled evaluation fell on it
        return train_seconds

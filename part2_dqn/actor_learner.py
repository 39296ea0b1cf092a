"""DQN on two cores: an actor process steps the env while the learner takes gradient steps (`--actor-learner`).

The textbook agent (agent.py) takes turns: one env step, then one gradient step, then the next env step.
On Pong a gradient step costs about twenty times an env step with its greedy action, and a second core
would sit idle. Here two processes run at once (pong.md, "Two processes: the actor and the learner"):

- the ACTOR, a child process, is an `Agent` that only collects: epsilon-greedy actions from its copy of
  the Q-network, `Agent.collect_rollouts` and `Agent.push` as they are (n-step windows included), with a
  stand-in for the replay memory (`Outbox`) that hands each transition to the learner instead of storing it;
- the LEARNER, train.py's process, pushes those transitions into its replay memory, in the order the actor
  made them, and takes Agent's gradient steps: `sample_batch` (the minibatch and its Double n-step
  targets), `td_loss`, `apply_gradients` (the step, the target network). Every `sync_every` gradient steps
  it publishes its weights in shared memory; the actor copies them before its next steps.
- With `prefetch` (the default), the learner samples the NEXT minibatch and computes its targets in a
  second thread while the current one's forward and backward passes run, on the core the actor leaves
  mostly idle. Each target then comes from the weights one gradient step before Agent.learn's (the
  target network is as old as ever). --noisy draws its noise while sampling, which the passes beside it
  would read: its runs take Agent.learn's turns.

What stays as the config says: the replay ratio. The learner takes `gradient_steps` per `train_freq` agent
steps; it waits for transitions when it is ahead, and the actor waits when it is more than LEAD steps
ahead of what the learner's gradient steps allow. So a step of training costs the slower of the two
processes instead of their sum, and the actor may act with weights up to `sync_every` gradient steps old:
that lag is the one thing the learning sees of the split. Evaluations happen at the same steps as in
`Agent.train`, with the actor waiting; Ape-X and IMPALA scale this same split out to many actors.

Ctrl-C reaches both processes; the actor ignores it and the learner stops it, so the run ends as a
single-process run does (the best model kept). A learner that dies leaves no actor behind: the actor
checks its parent while it waits, and it is a daemon process.
"""
import concurrent.futures
import copy
import multiprocessing
import queue
import signal
import time

import numpy as np
import torch

from agent import Agent

LEAD = 16       # agent steps the actor may run ahead of the replay ratio
MESSAGE = 16    # at most this many agent steps of transitions per message to the learner
POLL = 0.5      # seconds between the checks that the other process is alive, while waiting


class Outbox:
    """The actor's replay memory: keeps what Agent.push stores, to be sent to the learner's real memory."""

    def __init__(self):
        self.transitions = []

    def push(self, obs, action, reward, next_obs, terminated, discount, steps=1, episode_over=False):
        # copies: an env may hand out the same array again, changed, at its next step
        self.transitions.append((np.array(obs), action, reward, np.array(next_obs), terminated, discount,
                                 steps, episode_over))

    def take(self):
        transitions, self.transitions = self.transitions, []
        return transitions


def run_actor(config, make_env, obs_shape, n_actions, shared_network, version, lock, allowed, outbox, stop):
    """The actor process: collect with the latest published weights, up to the `allowed` step count, and send
    the transitions, the step count, epsilon and the finished episodes to the learner."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the learner decides
    torch.set_num_threads(1)
    env = make_env(config)
    env.action_space.seed(config.seed)
    agent = Agent(config, obs_shape, n_actions)  # its memory is never written: Outbox takes its place
    agent.memory = Outbox()
    seen = None
    try:
        while not stop.is_set():
            if version.value != seen:  # new weights published: copy them under the lock (no half-written tensor)
                with lock:
                    agent.q_network.load_state_dict(shared_network.state_dict())
                    seen = version.value
            room = allowed.value - agent.steps
            if room <= 0:  # ahead of the learner (or an evaluation is on): wait
                if not multiprocessing.parent_process().is_alive():
                    return
                time.sleep(0.0005)
                continue
            agent.collect_rollouts(env, min(room, MESSAGE))
            outbox.put((agent.memory.take(), agent.steps, agent.epsilon, agent.finished_episodes))
            agent.finished_episodes = []
    finally:
        env.close()
        outbox.cancel_join_thread()  # exit even if the learner no longer reads what is still queued


class ActorLearnerAgent(Agent):
    """`Agent` as the learner of an actor-learner pair: `train` runs the actor in a second process; learning,
    acting for evaluation and the saved model are Agent's own."""

    def __init__(self, config, obs_shape, n_actions, device="cpu", make_env=None):
        super().__init__(config, obs_shape, n_actions, device)
        self.obs_shape, self.make_env = tuple(obs_shape), make_env
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch threads inherited by fork
        self.context = context
        self.shared_network = copy.deepcopy(self.q_network).cpu().share_memory()  # the weights the actor reads
        self.lock, self.version = context.Lock(), context.RawValue("q", 0)
        self.allowed = context.RawValue("q", 0)  # the actor may take steps up to this count
        self.actor = None
        self.helper = None    # the prefetching thread, while training
        self.prepared = None  # the next minibatch, sampled with its targets during the last gradient step

    def learn(self, gradient_steps):
        """Agent.learn's steps, each with the next minibatch and its targets prepared beside it (`prefetch`)."""
        if not self.config.prefetch or self.config.noisy:
            return super().learn(gradient_steps)
        if self.helper is None:
            self.helper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dqn-prefetch")
        for _ in range(gradient_steps):
            batch = self.prepared if self.prepared is not None else self.sample_batch()
            prepared = self.helper.submit(self.sample_batch)  # the next minibatch, beside this one's passes
            loss, q = self.td_loss(batch)
            self.optimizer.zero_grad()
            loss.backward()
            self.prepared = prepared.result()  # ready before the step below changes the weights it read
            self.apply_gradients(batch, q)
        return loss.item(), q.detach().mean().item()

    def publish_weights(self):
        """Copy the online network into the shared one, under the lock, and tell the actor."""
        with self.lock, torch.no_grad():
            for shared, online in zip(self.shared_network.state_dict().values(), self.q_network.state_dict().values()):
                shared.copy_(online)
            self.version.value += 1

    def allow(self, limit):
        """Let the actor run LEAD steps past what the next gradient step needs (and past the first minibatch),
        never past `limit`."""
        c = self.config
        needed = c.learning_starts + -(-(self.gradient_steps + 1) * c.train_freq // c.gradient_steps)
        self.allowed.value = min(limit, max(needed, c.batch_size + c.n_steps) + LEAD)

    def may_learn(self):
        """The replay ratio: gradient step g + 1 needs (g + 1) * train_freq / gradient_steps steps past learning_starts."""
        c = self.config
        return (self.steps >= c.learning_starts and len(self.memory) >= c.batch_size and
                (self.gradient_steps + 1) * c.train_freq <= (self.steps - c.learning_starts) * c.gradient_steps)

    def receive(self, outbox, block):
        """Push what the actor sent into the replay memory; with `block`, wait for one message first.
        Returns the number of messages taken."""
        taken = 0
        while True:
            try:
                message = outbox.get(timeout=POLL) if block and taken == 0 else outbox.get_nowait()
            except queue.Empty:
                if block and taken == 0:
                    self.check_actor()
                    continue
                return taken
            transitions, self.steps, self.epsilon, episodes = message
            for transition in transitions:
                self.memory.push(*transition[:6], steps=transition[6], episode_over=transition[7])
            self.finished_episodes += episodes
            taken += 1

    def check_actor(self):
        if not self.actor.is_alive():
            raise RuntimeError(f"the actor process stopped (exit code {self.actor.exitcode})")

    def start_actor(self, outbox, stop):
        self.publish_weights()
        self.actor = self.context.Process(
            target=run_actor, daemon=True, name="dqn-actor",
            args=(self.config, self.make_env, self.obs_shape, self.n_actions, self.shared_network, self.version,
                  self.lock, self.allowed, outbox, stop))
        self.actor.start()

    def stop_actor(self, outbox, stop):
        """Stop the actor and wait for it; no process is left behind."""
        stop.set()
        deadline = time.perf_counter() + 5.0
        while self.actor.is_alive() and time.perf_counter() < deadline:
            try:
                outbox.get(timeout=0.05)  # keep its queue moving so that it can exit
            except queue.Empty:
                pass
        if self.actor.is_alive():
            self.actor.terminate()
        self.actor.join()

    def train(self, env, on_log=None, on_eval=None, on_checkpoint=None):
        """Agent.train's contract with the actor doing the collecting (`env` is left alone: the actor makes its
        own with `make_env`). Saved training states (--checkpoint-every) are the single-process agent's only."""
        c = self.config
        next_eval = (self.steps // c.eval_every + 1) * c.eval_every
        next_log, loss, mean_q = self.steps, float("nan"), float("nan")
        outbox, stop = self.context.Queue(), self.context.Event()
        start = time.perf_counter()
        self.allow(min(next_eval, c.total_steps))
        self.start_actor(outbox, stop)
        try:
            while True:
                limit = min(next_eval, c.total_steps)  # the actor stops here: an evaluation, or the end
                self.receive(outbox, block=self.steps < limit and not self.may_learn())
                if self.may_learn():
                    if c.anneal_lr:
                        self.set_learning_rate(c.learning_rate * (1.0 - self.steps / c.total_steps))
                    loss, mean_q = self.learn(1)
                    if self.gradient_steps % c.sync_every == 0:
                        self.publish_weights()
                self.allow(limit)
                if on_log is not None and self.steps >= next_log and self.finished_episodes:
                    on_log(self.steps, self.finished_episodes, loss, mean_q)
                    self.finished_episodes, next_log = [], self.steps + 1000
                if self.steps >= limit and not self.may_learn():  # the actor waits at `limit`, learning caught up
                    self.train_seconds += time.perf_counter() - start
                    if on_eval is not None and on_eval(self.steps, self.train_seconds):
                        return self.train_seconds  # --stop-at reached
                    if self.steps >= c.total_steps:
                        return self.train_seconds
                    next_eval += c.eval_every
                    self.allow(min(next_eval, c.total_steps))
                    start = time.perf_counter()
        finally:
            self.stop_actor(outbox, stop)
            if self.helper is not None:
                self.helper.shutdown()
                self.helper = None

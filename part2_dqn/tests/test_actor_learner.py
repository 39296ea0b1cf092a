"""The actor-learner split (actor_learner.py): the learner stores exactly what a single-process agent would,
weights reach the actor, the replay ratio holds, and Ctrl-C stops both processes and keeps the best model."""
import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import train
from actor_learner import LEAD, ActorLearnerAgent
from agent import Agent
from plumbing import UserError

PART_DIR = Path(__file__).resolve().parents[1]


def build_pair(argv):
    """A single-process Agent and an ActorLearnerAgent from the same flags and seed, and the env train.build made."""
    config = train.get_config(argv)
    env, _, agent = train.build(config)
    learner_config = train.get_config([*argv, "--actor-learner"])
    learner_env, _, learner = train.build(learner_config)
    assert type(agent) is not ActorLearnerAgent and isinstance(learner, ActorLearnerAgent)
    return (env, agent), (learner_env, learner)


MEMORY_FIELDS = ["obs", "next_obs", "frames", "stream", "episode_start", "steps", "valid", "actions", "rewards",
                 "terminated", "discounts"]


@pytest.mark.parametrize("argv", [
    ["--env-id", "CartPole-v1", "--n-steps", "3", "--epsilon-end", "0.3"],
    ["--env-id", "ALE/Pong-v5", "--buffer-size", "150", "--max-episode-steps", "40", "--batch-size", "8"],
], ids=["cartpole_3_step", "pong_frames"])
def test_the_learner_stores_exactly_what_the_single_process_agent_stores(argv):
    """No learning (learning_starts past the budget), so both act with the same weights and the same
    epsilon draws: the learner's memory, filled from the actor's messages, must equal the memory the
    single-process agent fills itself (n-step windows, episode ends, frames stored once, a wrapped ring).
    Red if the actor drops, reorders or duplicates a transition, or the learner stores it differently."""
    flags = [*argv, "--total-steps", "300", "--learning-starts", "1000", "--eval-every", "300",
             "--exploration-fraction", "0.5"]
    (env, agent), (learner_env, learner) = build_pair(flags)
    agent.train(env)
    learner.train(learner_env)
    assert learner.steps == agent.steps == 300 and learner.epsilon == agent.epsilon
    for field in MEMORY_FIELDS:
        if hasattr(agent.memory, field):
            np.testing.assert_array_equal(getattr(learner.memory, field), getattr(agent.memory, field), err_msg=field)
    assert (learner.memory.position, learner.memory.size) == (agent.memory.position, agent.memory.size)


def prefer(network, action):
    """Make `network` pick `action` in every state: its last layer's bias far above the others."""
    with torch.no_grad():
        last = [m for m in network.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias.fill_(0.0)
        last.bias[action] = 1e6


@pytest.mark.parametrize("action", [0, 1])
def test_the_actor_acts_with_the_learners_weights(action):
    """Greedy acting (epsilon 0), no learning: every action the actor takes is the one the learner's
    network prefers, for either action, so the weights the actor acts with are the learner's, not its own."""
    config = train.get_config(["--env-id", "CartPole-v1", "--actor-learner", "--total-steps", "200",
                               "--learning-starts", "1000", "--eval-every", "200", "--epsilon-start", "0",
                               "--epsilon-end", "0"])
    env, _, learner = train.build(config)
    prefer(learner.q_network, action)
    learner.train(env)
    assert (learner.memory.actions[:learner.memory.size] == action).all()


class SwitchingLearner(ActorLearnerAgent):
    """After its first gradient step, the learner's network prefers action 1 (it preferred 0 before)."""

    def learn(self, gradient_steps):
        result = super().learn(gradient_steps)
        if self.gradient_steps == 1:
            prefer(self.q_network, 1)
            self.switched_at = self.steps
        return result


def test_weights_published_during_training_reach_the_actor():
    """The learner's weights change after its first gradient step; within the next publication (every
    gradient step here) plus the steps the actor may run ahead, the actor's actions follow them.
    Red if the learner never publishes or the actor never copies what is published."""
    config = train.get_config(["--env-id", "CartPole-v1", "--actor-learner", "--total-steps", "400",
                               "--learning-starts", "100", "--batch-size", "32", "--eval-every", "400",
                               "--epsilon-start", "0", "--epsilon-end", "0", "--learning-rate", "1e-9",
                               "--sync-every", "1"])
    env, _, _ = train.build(config)
    learner = SwitchingLearner(config, env.observation_space.shape, int(env.action_space.n), make_env=train.make_env)
    prefer(learner.q_network, 0)
    learner.train(env)
    actions = learner.memory.actions[:learner.memory.size]
    assert (actions[:100] == 0).all()  # before any gradient step, the first published weights
    # taken before the switch arrived: at most the steps the actor may run ahead, and one message
    assert (actions[learner.switched_at + LEAD + 16:] == 1).all()


class RecordingLearner(ActorLearnerAgent):
    def receive(self, outbox, block):
        taken = super().receive(outbox, block)
        if taken:
            self.seen.append((self.steps, self.gradient_steps))
        return taken


@pytest.mark.parametrize("train_freq, gradient_steps", [(1, 1), (4, 1), (2, 3)])
def test_the_replay_ratio_holds(train_freq, gradient_steps):
    """gradient_steps per train_freq agent steps past learning_starts, as the single-process agent takes them:
    at the end exactly, and the actor never more than LEAD steps ahead of what the next gradient step needs."""
    config = train.get_config(["--env-id", "CartPole-v1", "--actor-learner", "--total-steps", "600",
                               "--learning-starts", "100", "--batch-size", "16", "--eval-every", "300",
                               "--train-freq", str(train_freq), "--gradient-steps", str(gradient_steps)])
    env, _, _ = train.build(config)
    learner = RecordingLearner(config, env.observation_space.shape, int(env.action_space.n), make_env=train.make_env)
    learner.seen = []

    def too_long(signum, frame):  # a broken ratio deadlocks the pair (each waits for the other): fail, not hang
        raise TimeoutError("the actor-learner pair did not finish 600 steps in 60 s: is the replay ratio broken?")
    alarm = hasattr(signal, "SIGALRM")  # not on Windows: there a broken ratio hangs the test
    if alarm:
        previous = signal.signal(signal.SIGALRM, too_long)
        signal.alarm(60)
    try:
        learner.train(env)  # its `finally` stops the actor whatever happens
    finally:
        if alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    assert learner.gradient_steps == (600 - 100) * gradient_steps // train_freq
    for steps, updates in learner.seen:
        needed = 100 + -(-(updates + 1) * train_freq // gradient_steps)
        assert steps <= max(needed, 16 + config.n_steps) + LEAD, (steps, updates)


def three_learners(*extra):
    """A prefetching learner, and two textbook Agents with its weights, optimizer and replay memory (and the
    memory's random generator): 400 CartPole transitions, Double DQN, so the online network is in the targets."""
    flags = ["--env-id", "CartPole-v1", "--double", "--learning-rate", "0.01", "--batch-size", "16", *extra]
    env, _, learner = train.build(train.get_config([*flags, "--actor-learner"]))
    assert learner.config.prefetch
    Agent.collect_rollouts(learner, env, 400)
    agents = [train.build(train.get_config([*flags, "--no-fast"]))[2] for _ in range(2)]
    for agent in agents:
        agent.q_network.load_state_dict(learner.q_network.state_dict())
        agent.target_network.load_state_dict(learner.target_network.state_dict())
        agent.memory = copy.deepcopy(learner.memory)
        agent.steps = learner.steps  # PER's importance-weight exponent anneals with the agent steps
        if learner.noise_generator is not None:  # --noisy: the same noise draws from here on
            agent.noise_generator.set_state(learner.noise_generator.get_state())
    return learner, agents


@pytest.mark.parametrize("extra", [[], ["--per"]])
def test_prefetching_prepares_each_minibatch_beside_the_step_before_it(extra):
    """With prefetch, minibatch k+1 is sampled, and its targets computed, while step k's passes run, from
    the weights before step k (with --per, from the priorities before step k's update too): 20 steps of the
    learner equal an Agent that samples one minibatch ahead by hand, and differ from Agent.learn's, whose
    targets are one step fresher. Red if the next minibatch is prepared after the step (it would equal
    Agent.learn) or never (the learner would not sample ahead)."""
    learner, (by_hand, textbook) = three_learners(*extra)
    learner.learn(20)
    learner.helper.shutdown()
    batch = by_hand.sample_batch()
    for _ in range(20):
        ahead = by_hand.sample_batch()  # from the weights before the step below
        loss, q = by_hand.td_loss(batch)
        by_hand.optimizer.zero_grad()
        loss.backward()
        by_hand.apply_gradients(batch, q)
        batch = ahead
    textbook.learn(20)
    for mine, theirs, fresher in zip(learner.q_network.parameters(), by_hand.q_network.parameters(),
                                     textbook.q_network.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert any(not torch.equal(mine, fresher) for mine, fresher in
               zip(learner.q_network.parameters(), textbook.q_network.parameters()))
    assert learner.gradient_steps == by_hand.gradient_steps == 20


@pytest.mark.parametrize("flag", ["--no-prefetch", "--noisy"])
def test_without_prefetch_the_learner_takes_agent_learns_steps(flag):
    """--no-prefetch, and --noisy (its noise is drawn while sampling, which the passes beside it would read):
    Agent.learn's steps exactly. Red if --noisy prefetched: its next minibatch's noise draw would come
    before this step's passes."""
    learner, (_, textbook) = three_learners(*([flag] if flag == "--noisy" else []))
    if flag == "--no-prefetch":
        learner.config.prefetch = False
    learner.learn(3)
    textbook.learn(3)
    for mine, theirs in zip(learner.q_network.parameters(), textbook.q_network.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)


@pytest.mark.parametrize("fast", ["--fast", "--no-fast", "--actor-learner"])
def test_adams_epsilon_is_the_configs(fast):
    """--adam-eps reaches the optimizer of every agent (the learner's included): the textbook torch.optim.AdamW
    and fast.py's FusedAdamW, whose eps the fused kernel takes."""
    config = train.get_config(["--env-id", "CartPole-v1", fast, "--adam-eps", "1.5e-4"])
    _, _, agent = train.build(config)
    optimizer = agent.optimizer
    eps = optimizer.eps if hasattr(optimizer, "eps") else optimizer.param_groups[0]["eps"]
    assert eps == 1.5e-4


def test_pongs_actor_learner_preset_is_the_hours():
    """--actor-learner on Pong takes the hour's settings over Pong's preset (one gradient step per 2 agent
    steps, epsilon over the first 100k agent steps, an evaluation every 20k, 60 minutes), and a flag still
    wins; the single-process run keeps Pong's preset."""
    hour = train.get_config(["--env-id", "ALE/Pong-v5", "--actor-learner"])
    assert (hour.train_freq, hour.gradient_steps, hour.eval_every, hour.max_minutes) == (2, 1, 20_000, 60.0)
    assert hour.exploration_fraction * hour.total_steps == 100_000 and hour.checkpoint_every == 0
    assert hour.n_steps == 3 and hour.double and hour.learning_rate == 1e-4 and hour.stop_at == 19.0
    assert train.get_config(["--env-id", "ALE/Pong-v5", "--actor-learner", "--train-freq", "4"]).train_freq == 4
    single = train.get_config(["--env-id", "ALE/Pong-v5"])
    assert (single.train_freq, single.max_minutes) == (1, float("inf"))


def test_actor_learner_cannot_save_a_training_state():
    with pytest.raises(UserError, match="--checkpoint-every saves the single-process agent's training state"):
        train.get_config(["--actor-learner", "--checkpoint-every", "1000"])
    assert train.get_config(["--env-id", "ALE/Pong-v5", "--actor-learner"]).checkpoint_every == 0
    assert train.get_config(["--env-id", "ALE/Pong-v5"]).checkpoint_every == 25_000


def test_actor_learner_learns_cartpole():
    """The seeded learning test of the split: the CartPole preset reaches a greedy 475 (timing decides which
    weights the actor acts with, so runs differ; every run so far got there well within the budget)."""
    config = train.get_config(["--env-id", "CartPole-v1", "--actor-learner", "--seed", "1"])
    env, eval_env, learner = train.build(config)
    scores = []

    def on_eval(step, seconds):
        scores.append(learner.evaluate(eval_env, 10)[0])
        return scores[-1] >= 475

    learner.train(env, on_eval=on_eval)
    assert max(scores) >= 475, scores


def children(pid):
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("stop", ["ctrl_c", "sigterm"])
def test_ctrl_c_stops_both_processes_and_keeps_the_best_model(tmp_path, stop):
    """Ctrl-C in a terminal signals the whole process group; `kill` (SIGTERM) the learner alone. Either way:
    exit 130, no traceback, the saved model intact, and no process left behind."""
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), "--env-id", "CartPole-v1",
                                "--actor-learner", "--total-steps", "10000000", "--eval-every", "500",
                                "--eval-episodes", "1", "--log-dir", "logs", "--save-dir", "models"],
                               cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True)
    models, deadline = tmp_path / "models", time.time() + 120
    while not (models.is_dir() and list(models.glob("*.pth"))) and time.time() < deadline:
        time.sleep(0.2)
    assert models.is_dir() and list(models.glob("*.pth")), "no model saved within 120 s"
    time.sleep(1.0)
    started = children(process.pid)
    assert started, "the actor process is not running"
    if stop == "ctrl_c":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and "intact" in stderr, stderr
    (model,) = models.glob("*.pth")
    assert "state_dict" in torch.load(model, weights_only=True)
    deadline = time.time() + 10
    while any(alive(pid) for pid in started) and time.time() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in started if alive(pid)], "a process was left behind"


@pytest.mark.parametrize("split", [[], ["--actor-learner"]], ids=["one_process", "actor_learner"])
def test_max_minutes_ends_the_run_at_the_first_evaluation_past_it(tmp_path, capsys, split):
    """--max-minutes: training stops at the first evaluation after that much training (here any amount), and
    the closing lines say why; a model is saved from that evaluation."""
    summary = train.main(["--env-id", "CartPole-v1", *split, "--total-steps", "50000", "--eval-every", "1500",
                          "--eval-episodes", "1", "--max-minutes", "1e-9", "--log-dir", str(tmp_path / "logs"),
                          "--save-dir", str(tmp_path / "models")])
    assert summary["steps"] == 1500 and summary["model"] is not None
    assert "stopped at step 1,500: --max-minutes 1e-09 spent" in capsys.readouterr().out


def test_the_outbox_keeps_copies_of_the_observations_an_env_hands_out_again():
    """An env may return the same array at its next step, changed in place (vector envs and frame stacks do):
    the outbox must hold what each step saw, not a view the next step rewrites."""
    from actor_learner import Outbox

    outbox, frame = Outbox(), np.zeros(3, dtype=np.float32)
    outbox.push(frame, 0, 1.0, frame, False, 0.99)
    frame[:] = 7.0  # the env's next step writes into the same buffer
    outbox.push(frame, 1, 0.0, frame, True, 0.0)
    (obs0, _, _, next0, *_), (obs1, *_) = outbox.take()
    assert obs0.tolist() == [0.0, 0.0, 0.0] and next0.tolist() == [0.0, 0.0, 0.0] and obs1.tolist() == [7.0] * 3
    assert outbox.take() == []  # taken once

"""What each trick of fast.py buys: the textbook Agent, each trick alone, and FastAgent, taking turns in one process.

    python part2_dqn/speed_tricks.py                       # CartPole preset: half a minute to minutes (load)
    python part2_dqn/speed_tricks.py --rounds 4 --threads  # also FastAgent on two torch threads

Every variant starts from the same seed (the same initial weights) and a copy of the same replay memory
(5,000 CartPole steps collected by the textbook agent), with its own CartPole env seeded alike. Then the
variants take turns, round robin: in each round every variant runs `--turn` training rounds of the preset
(collect 256 env steps, then 128 gradient steps of 64 transitions), the loop `Agent.train` runs. Taking
turns in one process exposes every variant to the same machine load, so the ratios hold even when the
absolute speeds swing (on a shared 2-core machine, 2-5x). One torch thread unless a variant says otherwise.

Prints a markdown table: for each variant the median over rounds of (the textbook's time / its time) for a
gradient step, for an env step of collection, and for the whole loop (env steps per second), with the
range over rounds, then the absolute medians. At the end, the largest weight difference from the
textbook after the warm-up turn: the variants compute the same updates, so it is float rounding.
"""
import argparse
import copy
import dataclasses
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import train
from agent import Agent, td_target
from fast import FastAgent, FusedAdamW, NumpyQNetwork, clip_grad_norm, sample_round
from plumbing import run_main

PREFILL_STEPS = 5_000  # env steps in the shared starting memory (epsilon has decayed to its end by then)


def textbook_step(agent, obs, actions, target):
    """Agent.learn's update for one minibatch (zero_grad, backward, clip_grad_norm_, AdamW.step)."""
    q = agent.q_network(obs).gather(1, actions).squeeze(1)
    loss = F.smooth_l1_loss(q, target)
    agent.optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.q_network.parameters(), agent.config.max_grad_norm)
    agent.optimizer.step()
    agent.gradient_steps += 1
    if agent.gradient_steps % agent.config.target_update_interval == 0:
        agent.update_target()
    return loss, q


class RoundDrawn(Agent):
    """Trick 2 alone: a round's minibatches drawn in one gather; then the textbook update, one at a time."""

    def learn(self, gradient_steps):
        c = self.config
        batches = sample_round(self.memory, c.batch_size, gradient_steps)
        for obs, actions, rewards, next_obs, terminated, discounts in zip(*(x.unbind(0) for x in batches)):
            with torch.no_grad():
                next_q_online = self.q_network(next_obs) if c.double else None
                target = td_target(rewards, self.target_network(next_obs), terminated, discounts, next_q_online)
            loss, q = textbook_step(self, obs, actions.unsqueeze(1), target)
        return loss.item(), q.detach().mean().item()


class BulkTargets(Agent):
    """Tricks 1 and 2 (bulk targets need the round drawn first): FastAgent.learn with the textbook step."""
    learn = FastAgent.learn
    gradient_step = textbook_step


class NumpyActing(Agent):
    """Trick 3 alone: greedy actions from NumpyQNetwork instead of a torch forward pass."""
    greedy_action = FastAgent.greedy_action

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.numpy_q_network = NumpyQNetwork(self.q_network)


class LeanStep(Agent):
    """Trick 4 alone: FastAgent's gradient step (autograd.grad, clip only when over, FusedAdamW), textbook
    minibatch-by-minibatch order."""
    gradient_step = FastAgent.gradient_step
    set_learning_rate = FastAgent.set_learning_rate

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.params = list(self.q_network.parameters())
        self.optimizer = FusedAdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay)

    def learn(self, gradient_steps):
        c = self.config
        for _ in range(gradient_steps):
            obs, actions, rewards, next_obs, terminated, discounts = self.memory.sample(c.batch_size)
            with torch.no_grad():
                next_q_online = self.q_network(next_obs) if c.double else None
                target = td_target(rewards, self.target_network(next_obs), terminated, discounts, next_q_online)
            loss, q = self.gradient_step(obs, actions.unsqueeze(1), target)
        return loss.item(), q.detach().mean().item()


class LeanStepPublic(LeanStep):
    """Trick 4 on public torch API only: the same step with torch.optim.AdamW(fused=True) (which runs the
    same kernel) and torch.nn.utils' get_total_norm / clip_grads_with_norm_ instead of the private
    torch._fused_adamw_ and torch._foreach_norm / _foreach_mul_. What the private ops buy."""
    set_learning_rate = Agent.set_learning_rate

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                           fused=True)

    def gradient_step(self, obs, actions, target):
        q = self.q_network(obs).gather(1, actions).squeeze(1)
        loss = F.smooth_l1_loss(q, target)
        grads = torch.autograd.grad(loss, self.params)
        for p, g in zip(self.params, grads):
            p.grad = g
        norm = torch.nn.utils.get_total_norm(grads)
        if norm > self.config.max_grad_norm:
            torch.nn.utils.clip_grads_with_norm_(self.params, self.config.max_grad_norm, norm)
        self.optimizer.step()
        self.gradient_steps += 1
        if self.gradient_steps % self.config.target_update_interval == 0:
            self.update_target()
        return loss, q


# (name, agent class, torch threads)
VARIANTS = [
    ("textbook `Agent` (agent.py)", Agent, 1),
    ("minibatches drawn at once (2)", RoundDrawn, 1),
    ("targets in bulk (1, with 2)", BulkTargets, 1),
    ("acting in numpy (3)", NumpyActing, 1),
    ("lean update step (4)", LeanStep, 1),
    ("lean update step, public API only (4)", LeanStepPublic, 1),
    ("`FastAgent` (fast.py, all four)", FastAgent, 1),
]


def prefilled(config, steps=PREFILL_STEPS):
    """A textbook agent after `steps` epsilon-greedy steps: its memory, step count and network start every
    variant."""
    env, _, agent = train.build(dataclasses.replace(config, fast=False))
    agent.collect_rollouts(env, steps)
    return agent


def make_variant(agent_class, config, start):
    torch.manual_seed(config.seed)
    env = train.make_env(config)
    agent = agent_class(config, env.observation_space.shape, int(env.action_space.n))
    agent.q_network.load_state_dict(start.q_network.state_dict())
    agent.target_network.load_state_dict(start.target_network.state_dict())
    agent.memory = copy.deepcopy(start.memory)
    agent.steps, agent.epsilon = start.steps, start.epsilon
    return agent, env


def largest_weight_difference(agents):
    """max |w - w_textbook| over every weight of every variant's Q-network (agents[0] is the textbook)."""
    with torch.no_grad():
        reference = list(agents[0][0].q_network.parameters())
        return max(float((p - r).abs().max()) for agent, _ in agents[1:]
                   for p, r in zip(agent.q_network.parameters(), reference))


def turn(agent, env, config, training_rounds):
    """`training_rounds` of (collect train_freq steps, learn gradient_steps); returns (collect s, learn s)."""
    collect = learn = 0.0
    for _ in range(training_rounds):
        t0 = time.perf_counter()
        agent.collect_rollouts(env, config.train_freq)
        t1 = time.perf_counter()
        agent.learn(config.gradient_steps)
        t2 = time.perf_counter()
        collect, learn = collect + t1 - t0, learn + t2 - t1
    return collect, learn


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="turns each variant takes (after one warm-up turn)")
    parser.add_argument("--turn", type=int, default=2, help="training rounds (256 env steps + 128 gradient steps) per turn")
    parser.add_argument("--threads", action="store_true", help="add FastAgent on two torch threads")
    args = parser.parse_args()
    config = train.get_config(["--env-id", "CartPole-v1", "--torch-threads", "1"])
    variants = VARIANTS + ([("`FastAgent`, two torch threads", FastAgent, 2)] if args.threads else [])

    load_before = os.getloadavg()[0]
    torch.set_num_threads(1)
    start = prefilled(config)
    agents = [make_variant(agent_class, config, start) for _, agent_class, _ in variants]
    times = [[] for _ in variants]  # per variant, per round: (collect seconds, learn seconds)
    for round_ in range(args.rounds + 1):  # round 0 warms up (first calls, allocations) and is not counted
        for i, ((_, _, threads), (agent, env)) in enumerate(zip(variants, agents)):
            torch.set_num_threads(threads)
            seconds = turn(agent, env, config, args.turn)
            if round_ > 0:
                times[i].append(seconds)
        if round_ == 0:
            drift_after_warmup = largest_weight_difference(agents)
    torch.set_num_threads(1)

    env_steps, grad_steps = args.turn * config.train_freq, args.turn * config.gradient_steps
    base = times[0]

    def ratio_cell(i, seconds):
        ratios = [seconds(b) / seconds(t) for b, t in zip(base, times[i])]
        return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"

    print(f"CartPole-v1 preset, {args.rounds} rounds of {env_steps:,} env steps and {grad_steps:,} gradient "
          f"steps per variant, taking turns in one process; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch thread unless stated, torch {torch.__version__}")
    print("\nSpeed-up over the textbook Agent: median over rounds (range).\n")
    print("| variant | per gradient step | per env step collected | env steps per second, whole loop |")
    print("|---|---|---|---|")
    for i, (name, _, _) in enumerate(variants):
        print(f"| {name} | {ratio_cell(i, lambda t: t[1])} | {ratio_cell(i, lambda t: t[0])} | "
              f"{ratio_cell(i, lambda t: t[0] + t[1])} |")
    print("\nAbsolute medians over rounds (they depend on the machine and its load):\n")
    print("| variant | ms per gradient step | µs per env step collected | env steps per second |")
    print("|---|---|---|---|")
    for i, (name, _, _) in enumerate(variants):
        learn = statistics.median(t[1] for t in times[i]) / grad_steps * 1e3
        collect = statistics.median(t[0] for t in times[i]) / env_steps * 1e6
        rate = statistics.median(env_steps / (t[0] + t[1]) for t in times[i])
        print(f"| {name} | {learn:.3f} | {collect:.1f} | {rate:,.0f} |")
    drift = largest_weight_difference(agents)
    print(f"\nLargest weight difference from the textbook: {drift_after_warmup:.1e} after the warm-up turn "
          f"({grad_steps:,} gradient steps; float rounding: the variants compute the same updates), {drift:.1e} "
          f"at the end.")
    if drift > 1e-3:
        print("Over thousands of steps a rounding difference flipped a greedy action, and from there the runs "
              "collected different transitions; the cost of a step does not depend on which transitions they are.")
    print(f"Load average (1 min) on {os.cpu_count()} cores: {load_before:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end.")


if __name__ == "__main__":
    run_main(main)  # Ctrl-C, SIGTERM: one line, exit 130

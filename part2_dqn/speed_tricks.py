"""What each trick of fast.py buys: the textbook Agent, each trick alone, and FastAgent, taking turns in one process.

    python part2_dqn/speed_tricks.py                       # CartPole preset: half a minute to minutes (load)
    python part2_dqn/speed_tricks.py --rounds 4 --threads  # also FastAgent on two torch threads
    python part2_dqn/speed_tricks.py --private-ops         # each private torch op against its public equivalent

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

`--private-ops` measures instead what each private torch op fast.py could use buys over the public code that
computes the same thing, on the preset's network and gradients, the two taking turns (see private_ops).
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
        self.optimizer = FusedAdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                    eps=config.adam_eps)

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
    """Trick 4 on public torch API only: the same step with torch.optim.AdamW(fused=True), which runs the same
    kernel, instead of FusedAdamW's direct call of the private torch._fused_adamw_. What the private op buys."""
    set_learning_rate = Agent.set_learning_rate

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                           eps=config.adam_eps, fused=True)

    def gradient_step(self, obs, actions, target):
        q = self.q_network(obs).gather(1, actions).squeeze(1)
        loss = F.smooth_l1_loss(q, target)
        grads = torch.autograd.grad(loss, self.params)
        clip_grad_norm(grads, self.config.max_grad_norm)
        for p, g in zip(self.params, grads):
            p.grad = g
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


def private_ops(config, start, rounds, calls=100):
    """Each private torch op fast.py could use against the public code computing the same thing, on the CartPole
    preset's network and the gradients of one of its minibatches, the jobs taking turns (`calls` calls each per
    turn, `rounds` turns after a warm-up one):

    - the AdamW update: torch._fused_adamw_, as FusedAdamW calls it, against torch.optim.AdamW(fused=True), which
      runs the same kernel (its .grad fields set first);
    - clipping: the gradients' joint norm and, over the limit, their rescaling: torch._foreach_norm and
      torch._foreach_mul_ against one torch.linalg.vector_norm and one mul_ per tensor (and against
      torch.nn.utils.get_total_norm + clip_grads_with_norm_); each half alone too;
    - the whole gradient step they are part of, with each AdamW (FastAgent.gradient_step; LeanStepPublic's).
    Times are CPU time of this process (`time.process_time`), so that the other programs on a shared machine
    drop out of microsecond timings. Prints the median microseconds per call (range over the rounds) and, for
    each public job, the median of its time over the private job's (range): what the private op buys."""
    agents = {name: make_variant(agent_class, config, start)[0]
              for name, agent_class in (("private", FastAgent), ("public", LeanStepPublic))}
    obs, actions, rewards, next_obs, terminated, discounts = start.memory.sample(config.batch_size)
    with torch.no_grad():
        target = td_target(rewards, start.target_network(next_obs), terminated, discounts)
    actions = actions.unsqueeze(1)
    loss = F.smooth_l1_loss(start.q_network(obs).gather(1, actions).squeeze(1), target)
    grads = [g.clone() for g in torch.autograd.grad(loss, list(start.q_network.parameters()))]
    # one copy of the weights per optimizer, the same gradients; a tiny learning rate keeps the weights, and
    # with them the cost of every call, what they are
    private_params, public_params = ([p.detach().clone() for p in start.q_network.parameters()] for _ in range(2))
    fused = FusedAdamW(private_params, lr=1e-9, weight_decay=config.weight_decay)
    public = torch.optim.AdamW(public_params, lr=1e-9, weight_decay=config.weight_decay, fused=True)
    scale = torch.ones(())  # a clipping factor max_norm / norm is a 0-d tensor; 1 leaves the gradients as they are

    def public_adamw():
        for p, g in zip(public_params, grads):
            p.grad = g
        public.step()

    def private_norm():
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))

    def public_norm():
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))

    def private_rescale():
        torch._foreach_mul_(grads, scale)

    def public_rescale():
        for g in grads:
            g.mul_(scale)

    # (what is measured, how; the first of each kind is the private one the others are compared with)
    jobs = [
        ("gradient step", "FastAgent.gradient_step, AdamW by torch._fused_adamw_",
         lambda: agents["private"].gradient_step(obs, actions, target)),
        ("gradient step", "the same with torch.optim.AdamW(fused=True), public",
         lambda: agents["public"].gradient_step(obs, actions, target)),
        ("AdamW update", "torch._fused_adamw_ (FusedAdamW.step)", lambda: fused.step(grads)),
        ("AdamW update", "torch.optim.AdamW(fused=True), public", public_adamw),
        ("clipping, over the limit", "torch._foreach_norm, torch._foreach_mul_", lambda: (private_norm(), private_rescale())),
        ("clipping, over the limit", "one vector_norm, one mul_ per tensor, public", lambda: (public_norm(), public_rescale())),
        ("clipping, over the limit", "get_total_norm, clip_grads_with_norm_, public", lambda: (
            torch.nn.utils.clip_grads_with_norm_(public_params, 1.0, torch.nn.utils.get_total_norm(grads)))),
        ("norm", "torch._foreach_norm", private_norm),
        ("norm", "one torch.linalg.vector_norm per tensor, public", public_norm),
        ("rescale", "torch._foreach_mul_", private_rescale),
        ("rescale", "one mul_ per tensor, public", public_rescale),
    ]
    times = [[] for _ in jobs]
    for round_ in range(rounds + 1):  # round 0 warms up
        for i, (_, _, job) in enumerate(jobs):
            started = time.process_time()
            for _ in range(calls):
                job()
            if round_ > 0:
                times[i].append((time.process_time() - started) / calls * 1e6)

    print(f"CartPole-v1 preset's network ({config.hidden}, {len(grads)} weight tensors), batch {config.batch_size}; "
          f"{rounds} rounds of {calls} calls per job, taking turns in one process; {torch.get_num_threads()} torch "
          f"thread, torch {torch.__version__}; load average (1 min) {os.getloadavg()[0]:.1f}\n")
    print("| step | done by | CPU µs per call, median (range) | its time / the private one's, median (range) |")
    print("|-|-|-|-|")
    private = {}
    for (kind, how, _), t in zip(jobs, times):
        ratio = ""
        if kind in private:
            ratios = [mine / theirs for mine, theirs in zip(t, private[kind])]
            ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        else:
            private[kind] = t
        print(f"| {kind} | {how} | {statistics.median(t):.1f} ({min(t):.1f}-{max(t):.1f}) | {ratio} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="turns each variant takes (after one warm-up turn)")
    parser.add_argument("--turn", type=int, default=2, help="training rounds (256 env steps + 128 gradient steps) per turn")
    parser.add_argument("--threads", action="store_true", help="add FastAgent on two torch threads")
    parser.add_argument("--private-ops", action="store_true", help="only measure each private torch op against "
                        "its public equivalent (see private_ops)")
    args = parser.parse_args()
    config = train.get_config(["--env-id", "CartPole-v1", "--torch-threads", "1"])
    if args.private_ops:
        torch.set_num_threads(1)
        return private_ops(config, prefilled(config), args.rounds)
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

"""Long runs survive an interruption: the agent's whole training state, saved and put back (--resume).

A first reading can skip this file. With `--checkpoint-every N`, train.py saves, in the run folder, everything
learning depends on: both networks, the optimizer's moments, the replay memory (with its random stream and
sum tree), the step counters, epsilon, the random generators. `--resume RUN_FOLDER` builds the agent from the
run's own config and puts all of it back, so the resumed run samples the same minibatches and reaches the
same weights as the original would have (tests/test_resume.py). The run's own bookkeeping (its folder, best
model, logs) is plumbing.py's Run; this file is the agent's and the memory's side.

    agent_state(agent)                 the agent's training state, as plain data torch.save writes
    load_agent_state(agent, state)     the inverse, into an agent built with the same config
    continue_from(agent, eval_env, s)  a resumed run's agent and evaluation env, from a saved state
"""
import collections

import numpy as np
import torch

from memory import SumTree


def agent_state(agent):
    """Everything needed to continue this run: networks, optimizer, memory, counters, random streams.
    Taken between episodes (Agent.train's on_checkpoint), so no transition is half stored."""
    if agent.pending or agent.episode_length:
        raise RuntimeError("the training state is taken between episodes only")
    return dict(q_network=agent.q_network.state_dict(), target_network=agent.target_network.state_dict(),
                optimizer=agent.optimizer.state_dict(), memory=memory_state(agent.memory),
                steps=agent.steps, gradient_steps=agent.gradient_steps, epsilon=agent.epsilon,
                train_seconds=agent.train_seconds, rng=agent.rng.getstate(), torch_rng=torch.get_rng_state(),
                noise_generator=None if agent.noise_generator is None else agent.noise_generator.get_state(),
                finished_episodes=[list(episode) for episode in agent.finished_episodes])


def load_agent_state(agent, state):
    """The inverse of `agent_state`, into an agent built with the same config. The training env starts a
    fresh episode (seeded by the step) on the next collect_rollouts: an emulator's state is not saved."""
    agent.q_network.load_state_dict(state["q_network"])
    agent.target_network.load_state_dict(state["target_network"])
    agent.optimizer.load_state_dict(state["optimizer"])
    load_memory_state(agent.memory, state["memory"])
    agent.steps, agent.gradient_steps, agent.epsilon = state["steps"], state["gradient_steps"], state["epsilon"]
    agent.train_seconds = state["train_seconds"]
    agent.rng.setstate(state["rng"])
    torch.set_rng_state(state["torch_rng"])
    if agent.noise_generator is not None:
        agent.noise_generator.set_state(state["noise_generator"])
    agent.finished_episodes = [tuple(episode) for episode in state["finished_episodes"]]
    agent.obs, agent.pending, agent.episode_return, agent.episode_length = None, collections.deque(), 0.0, 0


def continue_from(agent, eval_env, state):
    """Put a run's saved training state (plumbing.load_training_state's) into the agent train.build made from
    its config; the evaluation env starts fresh episodes, not the run's first ones again."""
    load_agent_state(agent, state["agent"])
    eval_env.reset(seed=agent.config.seed + 10_000 + agent.steps)


# ---------- a replay memory as plain data, and back ----------

def memory_state(memory):
    """Everything a memory holds, as plain data torch.save writes and `torch.load(weights_only=True)` reads:
    arrays as tensors sharing their memory (no copy of 0.7 GB of Atari frames), random generators as their
    states, the sum tree as its own such dict."""
    state = {}
    for name, value in vars(memory).items():
        if isinstance(value, np.ndarray):
            state[name] = torch.from_numpy(value)
        elif isinstance(value, np.random.Generator):
            state[name] = value.bit_generator.state
        elif isinstance(value, SumTree):
            state[name] = memory_state(value)
        elif isinstance(value, (int, float, np.generic)):
            state[name] = value.item() if isinstance(value, np.generic) else value
    return state


def load_memory_state(memory, state):
    """Put `memory_state`'s output back into a memory built with the same config (arrays filled in place)."""
    for name, saved in state.items():
        value = getattr(memory, name)
        if isinstance(value, np.ndarray):
            if tuple(saved.shape) != value.shape:
                raise ValueError(f"memory field {name}: saved shape {tuple(saved.shape)}, this memory {value.shape}")
            value[...] = saved.numpy()
        elif isinstance(value, np.random.Generator):
            value.bit_generator.state = saved
        elif isinstance(value, SumTree):
            load_memory_state(value, saved)
        else:
            setattr(memory, name, saved)

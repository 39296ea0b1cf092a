"""Saving and restoring SAC's whole training state, for train.py's --checkpoint-every and --resume.

A first reading can skip this file: it is not how SAC learns, it is how a two-hour run survives Ctrl-C.
plumbing.Run keeps the run's own bookkeeping (its folder, its best model, its counters, the state file);
this module gives it what SAC's learning depends on and restores it:

    the actor, both critics and their targets, the temperature, the optimizers' moments,
    the filled part of the replay memory, the step counters, and every random stream
    (the agent's, the memory's, torch's, and both envs')

so a resumed run replays the uninterrupted one exactly (tests/test_resume.py checks it number for number).
The state is taken between episodes only: an env between episodes is nothing but its random stream.
"""
import torch

from plumbing import UserError

NETWORKS = ("actor", "critic1", "critic2", "critic1_target", "critic2_target")
MEMORY_ARRAYS = ("obs", "actions", "rewards", "next_obs", "terminated")


def training_state(agent, env, eval_env):
    """What run.save_state stores beside the run's own bookkeeping: the agent's state and both envs' streams."""
    return dict(agent=agent_state(agent), env_rng=env_rng_state(env), eval_env_rng=env_rng_state(eval_env))


def restore(agent, env, eval_env, state, run_dir):
    """The inverse of `training_state`, into a freshly built agent and envs; a UserError if it does not fit."""
    try:
        load_agent_state(agent, state["agent"])
    except (KeyError, RuntimeError, ValueError) as e:  # saved by another version of this part
        raise UserError(f"the training state in {str(run_dir)!r} does not fit this agent ({type(e).__name__})") from None
    # both envs continue their random streams: the resumed run replays the uninterrupted one exactly
    set_env_rng_state(env, state["env_rng"])
    set_env_rng_state(eval_env, state["eval_env_rng"])


# ---------- the agent ----------

def optimizers(agent):
    return dict(actor=agent.actor_optimizer, critic=agent.critic_optimizer, alpha=agent.alpha_optimizer)


def agent_state(agent):
    """Everything learning depends on, as plain tensors and numbers (loadable with weights_only=True)."""
    if agent.obs is not None:
        raise RuntimeError("the training state is taken between episodes only")
    return dict(**{name: getattr(agent, name).state_dict() for name in NETWORKS},
                log_alpha=agent.log_alpha.detach().clone(),
                optimizers={name: o.state_dict() for name, o in optimizers(agent).items() if o is not None},
                memory=memory_state(agent.memory), rng=agent.rng.bit_generator.state,
                torch_rng=torch.get_rng_state(),
                cuda_rng=torch.cuda.get_rng_state(agent.device) if agent.device.type == "cuda" else None,
                steps=agent.steps, gradient_steps=agent.gradient_steps, train_seconds=agent.train_seconds,
                finished_episodes=[list(episode) for episode in agent.finished_episodes])


def load_agent_state(agent, state):
    """The inverse of `agent_state`, into an agent built with the same config (tensors filled in place, so
    the optimizers keep pointing at them)."""
    for name in NETWORKS:
        getattr(agent, name).load_state_dict(state[name])
    with torch.no_grad():
        agent.log_alpha.copy_(state["log_alpha"])
    for name, optimizer in optimizers(agent).items():
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizers"][name])
    load_memory_state(agent.memory, state["memory"])
    agent.rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    if agent.device.type == "cuda" and state.get("cuda_rng") is not None:  # the policy's noise is drawn there
        torch.cuda.set_rng_state(state["cuda_rng"], agent.device)
    agent.steps, agent.gradient_steps = state["steps"], state["gradient_steps"]
    agent.train_seconds = state["train_seconds"]
    agent.finished_episodes = [tuple(episode) for episode in state["finished_episodes"]]
    agent.obs, agent.episode_return, agent.episode_length = None, 0.0, 0


# ---------- the replay memory ----------

def memory_state(memory):
    """The filled rows, the ring's position and the sampling stream: a restored memory samples what this one would."""
    n = memory.size
    return dict(**{name: torch.from_numpy(getattr(memory, name)[:n].copy()) for name in MEMORY_ARRAYS},
                position=memory.position, size=n, rng=memory.rng.bit_generator.state)


def load_memory_state(memory, state):
    """The inverse of `memory_state`, into a memory of the same capacity and shapes (ValueError otherwise)."""
    n = state["size"]
    if n > memory.capacity or state["obs"].shape[1:] != memory.obs.shape[1:] or \
            state["actions"].shape[1:] != memory.actions.shape[1:]:
        raise ValueError(f"a saved memory of {n} transitions of shapes {tuple(state['obs'].shape[1:])}, "
                         f"{tuple(state['actions'].shape[1:])} does not fit this one of {memory.capacity} "
                         f"transitions of shapes {memory.obs.shape[1:]}, {memory.actions.shape[1:]}")
    for name in MEMORY_ARRAYS:
        getattr(memory, name)[:n] = state[name].numpy()
    memory.position, memory.size = state["position"], n
    memory.rng.bit_generator.state = state["rng"]


# ---------- the envs ----------

def env_rng_state(env):
    """The env's random stream (between episodes it is all of the env's state that the next episode depends on)."""
    return env.unwrapped.np_random.bit_generator.state


def set_env_rng_state(env, state):
    env.unwrapped.np_random.bit_generator.state = state  # np_random is created on first access if need be

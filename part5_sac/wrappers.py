"""The env factory: any gymnasium env with a flat Box observation and a bounded Box action.

The actor's tanh squashes every action into [-1, 1]. Envs want their own ranges (Pendulum's torque is in
[-2, 2]), so `RescaleAction` maps [-1, 1] linearly onto the env's bounds: the agent, its replay memory and
its networks only ever see actions in [-1, 1], whatever the env.
"""
import gymnasium as gym
import numpy as np

from plumbing import UserError, env_spec


class RescaleAction(gym.ActionWrapper):
    """The agent acts in [-1, 1]^n; the env receives low + (a + 1) / 2 * (high - low), inside its own bounds."""

    def __init__(self, env):
        super().__init__(env)
        space = env.action_space
        self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, space.shape, np.float32)

    def action(self, action):
        # The clip guards against float rounding only: tanh already keeps the action inside [-1, 1].
        scaled = self.low + (np.asarray(action, dtype=np.float64) + 1.0) * 0.5 * (self.high - self.low)
        return np.clip(scaled, self.low, self.high).astype(self.env.action_space.dtype)


def make_env(env_id, max_episode_steps=0, render_mode=None):
    """The env SAC trains on: flat Box observation, actions in [-1, 1] rescaled to the env's bounds.

    `max_episode_steps` > 0 replaces the env's own time limit. Raises UserError for an env SAC cannot use.
    """
    env_spec(env_id)  # an unknown id, or an Atari game (image observations): one line, before making anything
    kwargs = {"max_episode_steps": max_episode_steps} if max_episode_steps > 0 else {}
    try:
        env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise UserError(f"{env_id!r} needs an extra package: {e}") from None
    except gym.error.Error as e:
        raise UserError(f"cannot create {env_id!r}: {e}") from None
    act, obs = env.action_space, env.observation_space
    if isinstance(act, gym.spaces.Discrete):
        env.close()
        raise UserError(f"{env_id!r} has discrete actions ({act}): SAC's actor is a Gaussian over real-valued actions "
                        "and its critics take the action as an input, so SAC needs a Box action; for discrete actions "
                        "use DQN (part2_dqn), REINFORCE (part3_reinforce) or actor-critic (part4_actor_critic)")
    if not isinstance(act, gym.spaces.Box) or len(act.shape) != 1 or not (np.all(np.isfinite(act.low)) and np.all(np.isfinite(act.high))):
        env.close()
        raise UserError(f"{env_id!r} has actions {act}; SAC needs a flat Box action with finite bounds")
    if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        env.close()
        raise UserError(f"{env_id!r} has observations {obs}; this SAC needs a flat Box observation "
                        "(a vector of numbers), not images or dictionaries")
    return RescaleAction(env)

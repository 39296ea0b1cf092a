"""Environments for DQN: Pendulum with discrete torques and scaled signals, and the LSTM history wrapper.

DQN outputs one Q-value per action, so the action set must be finite. Pendulum's torque is continuous;
`DiscretePendulum` replaces it by Gaussian-spaced discrete torques (the construction of Part 1, written
out again here because each part stands alone) and scales observations and rewards to ranges a network
likes. Any env with a flat Box observation and Discrete actions (CartPole, LunarLander, ...) is used as is;
a Discrete observation (FrozenLake's cell number) is one-hot encoded, MultiBinary and MultiDiscrete ones
are passed on as float vectors (`FloatObservation`). An Atari game (`ALE/Pong-v5`, any ALE id) gets
gymnasium's own Atari wrappers (`make_atari_env`): the observation is then a stack of 4 grayscale 84x84
uint8 frames.
"""
import importlib.util
import math

import gymnasium as gym
import numpy as np

from plumbing import UserError, env_spec

PENDULUM_MIN_REWARD = -(math.pi**2 + 0.1 * 8.0**2 + 0.001 * 2.0**2)  # -16.2736: theta=pi, full speed, full torque


def gaussian_actions(n_actions, max_action, sigma=0.5):
    """`n_actions` torques in [-max_action, max_action]: symmetric, zero included, denser near zero.

    The torques sit at evenly spaced quantiles of a Gaussian kernel exp(-u^2 / (2 sigma^2)) on [-1, 1],
    scaled by max_action: crowded near zero (fine control to balance), spread out near the ends (swinging
    up only needs "push hard"). A larger sigma gives a more even spacing. Shape (n_actions,), float32.
    """
    if n_actions < 3 or n_actions % 2 == 0:
        raise UserError(f"the number of discrete actions must be odd and >= 3 (so zero is one of them), got {n_actions}")
    if sigma <= 0:
        raise UserError(f"sigma must be positive, got {sigma}")
    u = np.linspace(-1.0, 1.0, 20_001)
    cdf = np.array([math.erf(v / (sigma * math.sqrt(2))) for v in u])  # the kernel's integral, up to scale
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])                           # ... rescaled to run from 0 to 1
    actions = np.interp(np.linspace(0.0, 1.0, n_actions), cdf, u) * max_action
    actions[n_actions // 2] = 0.0
    return actions.astype(np.float32)


class DiscretePendulum(gym.Wrapper):
    """A one-dimensional Box-action env with discrete torques, observations in [-1, 1], rewards in [-1, 0].

    - action i applies torque `torques[i]` (Gaussian-spaced, see `gaussian_actions`);
    - observation / high: Pendulum's (cos, sin, speed / 8) all lie in [-1, 1], so no input dominates;
    - reward / |min reward|: Pendulum's rewards lie in [-16.27, 0]; scaled to [-1, 0] the Q-values stay
      of order 1/(1 - gamma) whatever the env, and one learning rate fits.
    The scaled reward is what the agent learns from; `info["raw_reward"]` keeps the env's own scale
    (test.py and evaluation report that one). Any env with a one-dimensional symmetric Box action and a
    bounded observation works (MountainCarContinuous, ...); its rewards are divided by `reward_scale`,
    which make_env sets to Pendulum's 16.27 for Pendulum and leaves at 1 elsewhere.
    """

    def __init__(self, env, n_actions, sigma=0.5, reward_scale=1.0):
        super().__init__(env)
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(act_space, gym.spaces.Box) or act_space.shape != (1,) or not np.isclose(-act_space.low[0], act_space.high[0]):
            raise UserError(f"can only discretize a one-dimensional Box action symmetric around 0, got {act_space}")
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1 or not np.all(np.isfinite(obs_space.high)):
            raise UserError(f"need a flat Box observation with finite bounds to scale, got {obs_space}")
        self.torques = gaussian_actions(n_actions, float(act_space.high[0]), sigma)
        self._as_arrays = [np.array([t], dtype=np.float32) for t in self.torques]  # built once, not per step
        self.obs_scale = np.maximum(np.abs(obs_space.low), np.abs(obs_space.high)).astype(np.float32)
        self.reward_scale = reward_scale
        self.action_space = gym.spaces.Discrete(n_actions)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, obs_space.shape, np.float32)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        return obs / self.obs_scale, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(self._as_arrays[action])
        info["raw_reward"] = reward
        return obs / self.obs_scale, reward / self.reward_scale, terminated, truncated, info


class FloatObservation(gym.ObservationWrapper):
    """Discrete, MultiBinary or MultiDiscrete observations as a flat float32 vector a network can read.

    Discrete(n) becomes a one-hot vector of length n: cell 5 of FrozenLake is (0, 0, 0, 0, 0, 1, 0, ...).
    Feeding the number 5 itself would tell the network that cell 5 lies "between" cells 4 and 6 and
    halfway to cell 10, an order the states do not have; one-hot gives each state its own input weight,
    which makes a linear layer a lookup table (Part 1's Q-table, learned by gradient descent).
    MultiBinary (0/1 flags) and MultiDiscrete (small counts) are passed as their values, flattened.
    """

    def __init__(self, env):
        super().__init__(env)
        space = env.observation_space
        if isinstance(space, gym.spaces.Discrete):
            self.size, self.start = int(space.n), int(space.start)
            self.observation_space = gym.spaces.Box(0.0, 1.0, (self.size,), np.float32)
        else:
            high = np.ones(space.shape) if isinstance(space, gym.spaces.MultiBinary) else space.nvec - 1
            self.size = None
            self.observation_space = gym.spaces.Box(0.0, np.asarray(high, np.float32).reshape(-1), dtype=np.float32)

    def observation(self, obs):
        if self.size is None:
            return np.asarray(obs, dtype=np.float32).reshape(-1)
        one_hot = np.zeros(self.size, dtype=np.float32)
        one_hot[int(obs) - self.start] = 1.0
        return one_hot


class HistoryWrapper(gym.Wrapper):
    """Observation = the last `history` (observation, previous action) pairs, shape (history, obs_dim + n_actions).

    The previous action is one-hot. After `reset` the history is zeros except the last row, which holds the
    first observation with an all-zero action ("no action yet"); each step shifts the rows up by one and
    appends (new observation, one-hot of the action just taken). An LSTM reads the rows oldest first.
    """

    def __init__(self, env, history):
        super().__init__(env)
        if history < 1:
            raise UserError(f"--history must be at least 1, got {history}")
        self.obs_dim, self.n_actions = env.observation_space.shape[0], env.action_space.n
        self.buffer = np.zeros((history, self.obs_dim + self.n_actions), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, self.buffer.shape, np.float32)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.buffer[:] = 0.0
        self.buffer[-1, :self.obs_dim] = obs
        return self.buffer.copy(), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.buffer[:-1] = self.buffer[1:]
        self.buffer[-1] = 0.0
        self.buffer[-1, :self.obs_dim] = obs
        self.buffer[-1, self.obs_dim + action] = 1.0
        return self.buffer.copy(), reward, terminated, truncated, info


class ClipRewardSign(gym.RewardWrapper):
    """Train on sign(reward) in {-1, 0, +1}; `info["raw_reward"]` keeps the game's own score.

    DQN's Atari recipe (Mnih et al., 2015): one learning rate and one Huber loss then fit every game,
    whether a point is worth 1 (Pong) or 1000. Evaluation, the logged returns and test.py add up
    `raw_reward`, so they report the game's real score (-21 to 21 in Pong).
    """

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["raw_reward"] = reward
        return obs, float(np.sign(reward)), terminated, truncated, info


HISTORY_FRAMES = 4  # an Atari observation is the last 4 frames: one frame shows where the ball is, not where it goes


def find_spec(env_id):
    """gymnasium's spec of `env_id`, or a UserError naming it (plumbing.env_spec, which has the ALE register its
    games for an `ALE/...` id). The ALE's older ids (`PongNoFrameskip-v4`) exist only once it has too: an id
    gymnasium does not know is looked up again after that."""
    try:
        return env_spec(env_id, images=True)
    except UserError:
        if importlib.util.find_spec("ale_py") is None:
            raise
        import ale_py
        gym.register_envs(ale_py)
        return env_spec(env_id, images=True)


def is_atari(env_id):
    """Whether `env_id` is an Atari game (False for an id gymnasium does not know: make_env says so)."""
    try:
        return str(find_spec(env_id).entry_point).startswith("ale_py")
    except UserError:
        return False


def make_atari_env(env_id, repeat_action_probability=-1.0, max_episode_steps=0, render_mode=None, screen_size=84):
    """An Atari game as DQN sees it, built from gymnasium's own wrappers; observations (4, 84, 84) uint8
    (`screen_size` other than 84: (4, screen_size, screen_size)).

    - `frameskip=1` at make: AtariPreprocessing does the frame skipping itself (4 frames per action, the
      max of the last two, because the Atari drew some objects only every other frame and a single frame
      can miss them), after 1-30 random no-op actions at reset so that episodes do not all start alike;
    - 84x84 grayscale: colour tells nothing in Pong, and a smaller image is a cheaper network input;
    - FrameStackObservation(4) with zero padding: the last 4 frames, so the network sees motion; the
      first observation of an episode is three zero frames and the first frame (the replay memory
      rebuilds stacks the same way);
    - ClipRewardSign: the agent learns from the reward's sign, evaluation reports the game's score.
    `repeat_action_probability` is ALE's "sticky actions": with that probability the emulator repeats the
    previous action instead of the chosen one. -1 keeps the id's own: 0.25 for ALE/*-v5, 0 for *-v4 (the
    deterministic emulator of the published DQN results). `max_episode_steps` > 0 cuts episodes after
    that many agent steps (each 4 frames).
    """
    import ale_py
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on every env made
    kwargs = dict(frameskip=1)
    if repeat_action_probability >= 0:
        kwargs["repeat_action_probability"] = repeat_action_probability
    try:
        env = gym.make(find_spec(env_id).id, render_mode=render_mode, **kwargs)
    except gym.error.Error as e:
        raise UserError(f"cannot create {env_id!r}: {e}") from None
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=screen_size, grayscale_obs=True)
    if max_episode_steps > 0:
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
    env = ClipRewardSign(env)
    return gym.wrappers.FrameStackObservation(env, HISTORY_FRAMES, padding_type="zero")


def make_env(env_id, discrete_actions=0, sigma=0.5, max_episode_steps=0, history=0, render_mode=None,
             repeat_action_probability=-1.0, screen_size=84):
    """The env DQN trains on: Box observation, Discrete actions; Box actions only via `discrete_actions`.

    `max_episode_steps` > 0 replaces the env's own time limit (Pendulum: 200); `history` > 0 wraps the env
    for the LSTM network. An Atari id gets `make_atari_env` (with `repeat_action_probability` and
    `screen_size`).
    """
    if is_atari(env_id):
        if history > 0:
            raise UserError(f"{env_id!r} is an Atari game: use --network cnn (it sees a stack of frames), not lstm")
        return make_atari_env(env_id, repeat_action_probability, max_episode_steps, render_mode, screen_size)
    find_spec(env_id)  # an unknown id: one line
    kwargs = {"max_episode_steps": max_episode_steps} if max_episode_steps > 0 else {}
    try:
        env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise UserError(f"{env_id!r} needs an extra package: {e}") from None
    except gym.error.Error as e:
        raise UserError(f"cannot create {env_id!r}: {e}") from None
    if isinstance(env.action_space, gym.spaces.Box):
        if env.action_space.shape != (1,):
            raise UserError(continuous_actions_advice(env_id, env.action_space))
        if discrete_actions <= 0:
            raise UserError(f"{env_id!r} has continuous actions {env.action_space}; DQN needs a discrete set: "
                            "pass --discrete-actions N (odd) to discretize them")
        scale = abs(PENDULUM_MIN_REWARD) if env.spec.name == "Pendulum" else 1.0
        env = DiscretePendulum(env, discrete_actions, sigma, reward_scale=scale)
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise UserError(f"{env_id!r} has actions {env.action_space}; DQN needs Discrete actions")
    if isinstance(env.observation_space, (gym.spaces.Discrete, gym.spaces.MultiBinary, gym.spaces.MultiDiscrete)):
        env = FloatObservation(env)
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        raise UserError(f"{env_id!r} has observations {env.observation_space}; this DQN needs a flat Box "
                        "(a vector of numbers) or an Atari game's frames, not other images or dictionaries")
    if history > 0:
        env = HistoryWrapper(env, history)
    return env


def continuous_actions_advice(env_id, action_space):
    """What to do with an env of several continuous actions, which DQN cannot learn: its discrete version if
    gymnasium has one (LunarLanderContinuous-v3 -> LunarLander-v3), else Part 5's SAC."""
    twin, instead = env_id.replace("Continuous", ""), ""
    if twin != env_id and twin in gym.registry:
        instead = f"train {twin!r}, its discrete version, or "
    return (f"{env_id!r} has {int(np.prod(action_space.shape))} continuous actions {action_space}; DQN needs a discrete set, "
            f"and --discrete-actions discretizes one action only (a torque like Pendulum's): {instead}learn the "
            f"continuous actions with Part 5's SAC (python part5_sac/train.py --env-id {env_id})")

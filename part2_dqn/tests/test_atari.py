"""Pong from pixels: the Atari env, frames stored once, the CNN, and the agent on frames.

No Pong training here: the real env is run for a few steps, everything else on a tiny synthetic image
env whose frames say which episode and step they come from.

    the env is gymnasium's own wrappers: frameskip 1 at make, AtariPreprocessing, 4 zero-padded frames
    the agent learns from the reward's sign; evaluation and the logged returns are the game's score
    FrameReplayMemory rebuilds exactly the stacks a naive store of the same transitions holds (n-step,
    PER, terminations, truncations, the ring wrapping), never crossing an episode's start
    the CNN takes uint8 pixels and scales them itself; FastAgent reaches Agent's weights on it
"""
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import plumbing
import train
from agent import Agent
from fast import FastAgent
from memory import FrameReplayMemory, PrioritizedFrameReplayMemory, ReplayMemory, make_memory
from networks import CNNQNetwork, NoisyLinear, smallest_frame
from plumbing import UserError
from resume import agent_state, load_agent_state
from wrappers import ClipRewardSign, make_env

SIZE = 36  # the smallest square image both CNNs take (8x8 stride 4, 4x4 stride 2, 3x3)


class Flashes(gym.Env):
    """A tiny image env: frame t of episode e is noise with pixel (0, 0) = e + 1 and (0, 1) = t + 1, so a
    stack shows where each of its frames came from (a zero frame: padding). Episodes last 1 to 7 steps
    and end by termination or truncation at random. Reward r_t = 100 * (t + 1) - 250 * action."""

    observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def __init__(self):
        self.episode = -1

    def frame(self):
        image = self.np_random.integers(1, 256, (SIZE, SIZE), dtype=np.uint8)
        image[0, 0], image[0, 1] = self.episode + 1, self.t + 1
        return image

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        self.length, self.ends_by = int(self.np_random.integers(1, 8)), self.np_random.choice(["term", "trunc"])
        return self.frame(), {}

    def step(self, action):
        reward = 100.0 * (self.t + 1) - 250.0 * action
        self.t += 1
        over = self.t == self.length
        return self.frame(), reward, over and self.ends_by == "term", over and self.ends_by == "trunc", {}


def flashes(stack=4):
    """Flashes as make_atari_env wraps a game: sign rewards for training, 4 frames, zero padding."""
    return gym.wrappers.FrameStackObservation(ClipRewardSign(Flashes()), stack, padding_type="zero")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as train.py runs: two collapse (10x slower convolutions) when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def image_agent(agent_class=Agent, **changes):
    settings = dict(env_id="ALE/Pong-v5", network="cnn", convolutions="small", hidden=[16], batch_size=8,
                    buffer_size=500, learning_starts=0, seed=0, n_steps=1, total_steps=10_000)
    config = dataclasses.replace(train.get_config(["--env-id", "ALE/Pong-v5"]), **{**settings, **changes})
    torch.manual_seed(0)
    return agent_class(config, (4, SIZE, SIZE), 3)


# ---------- the env ----------

def test_pong_is_gymnasiums_atari_wrappers_with_zero_padded_frames():
    env = make_env("ALE/Pong-v5")
    chain, layer = [], env
    while isinstance(layer, gym.Wrapper):
        chain.append(type(layer).__name__)
        layer = layer.env
    assert chain[:3] == ["FrameStackObservation", "ClipRewardSign", "AtariPreprocessing"]
    preprocessing = env.env.env
    assert preprocessing.frame_skip == 4 and preprocessing.noop_max == 30
    assert env.unwrapped._frameskip == 1  # the emulator steps single frames; the wrapper skips and max-pools
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)  # v5's own
    obs, _ = env.reset(seed=0)
    assert not obs[:3].any() and obs[3].any()  # three zero frames, then the first
    for _ in range(3):
        next_obs, reward, *_ = env.step(0)
        np.testing.assert_array_equal(next_obs[:3], obs[1:])  # the stack moves on by one frame
        obs = next_obs
    assert obs[1:].all(axis=(1, 2)).any()
    env.close()


def test_pong_preset_uses_the_deterministic_emulator_and_the_cnn():
    config = train.get_config(["--env-id", "ALE/Pong-v5"])
    assert config.network == "cnn" and config.repeat_action_probability == 0.0
    # a minibatch after every agent step (the Pong runs that learn fast), a target copy every 1,000; ends at 19
    assert (config.train_freq, config.gradient_steps, config.target_update_interval) == (1, 1, 1_000)
    assert config.stop_at == 19.0 and train.get_config(["--env-id", "PongNoFrameskip-v4"]).stop_at == float("inf")
    env = train.make_env(config)
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    sticky = train.make_env(dataclasses.replace(config, repeat_action_probability=0.25))
    assert sticky.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    # any other Atari id gets the Atari settings with its own emulator
    other = train.get_config(["--env-id", "PongNoFrameskip-v4"])
    assert other.network == "cnn" and other.repeat_action_probability == -1.0
    assert train.make_env(other).unwrapped.ale.getFloat("repeat_action_probability") == 0.0


@pytest.mark.parametrize("args,words", [
    (["--env-id", "ALE/Pong-v5", "--network", "mlp"], ["cnn"]),
    (["--env-id", "CartPole-v1", "--network", "cnn"], ["cnn"]),
    (["--env-id", "ALE/Pong-v5", "--convolutions", "huge"], ["nature", "small"]),
    # ALE itself takes a probability of 2 without a word (the emulator then ignores every action)
    (["--env-id", "ALE/Pong-v5", "--repeat-action-probability", "2"], ["--repeat-action-probability", "[0, 1]"]),
    # a negative probability other than -1 would silently mean "the id's own" (0.25 for v5)
    (["--env-id", "ALE/Pong-v5", "--repeat-action-probability", "-0.5"], ["--repeat-action-probability", "-1"]),
    # frames the convolutions would shrink to nothing: one line naming the flag and the smallest that fits
    (["--env-id", "ALE/Pong-v5", "--screen-size", "19"], ["--screen-size 19", "small", "at least 20"]),
    (["--env-id", "ALE/Pong-v5", "--convolutions", "nature", "--screen-size", "35"], ["--screen-size 35", "at least 36"]),
    (["--env-id", "ALE/Pong-v5", "--screen-size", "0"], ["--screen-size", "at least 1"]),
])
def test_atari_bad_input_is_one_line(args, words):
    with pytest.raises(UserError) as error:
        train.get_config(args)
    assert all(word in str(error.value) for word in words)


def test_the_agent_learns_from_the_reward_sign_and_reports_the_score():
    agent = image_agent(epsilon_start=1.0, epsilon_end=1.0)  # random actions: rewards of all signs
    env = flashes()
    agent.collect_rollouts(env, 60)
    rewards = agent.memory.rewards[agent.memory.valid]
    assert set(np.unique(rewards)) <= {-1.0, 0.0, 1.0} and len(np.unique(rewards)) >= 2
    # the logged returns add up the game's own rewards (multiples of 50), not the signs
    returns = [r for r, _ in agent.finished_episodes]
    assert any(abs(r) > 7 for r in returns) and all(r % 50 == 0 for r in returns)
    # greedy evaluation reports the game's score too
    mean, _ = agent.evaluate(flashes(), 3, seed=5)
    assert round(3 * mean) % 50 == 0 and abs(mean) > 7


@pytest.mark.parametrize("env_id", ["ALE/Pongg-v5", "ALE/Pong-v4", "Pong-v5"])
def test_a_misspelled_atari_id_is_one_line(env_id):
    """Ids gymnasium only knows once the ALE has registered its games: still one line, no traceback."""
    with pytest.raises(UserError) as error:
        train.build(train.get_config(["--env-id", env_id]))
    assert str(error.value).startswith(f"unknown environment {env_id!r}") and "\n" not in str(error.value)


def test_atari_time_limit_counts_agent_steps():
    """--max-episode-steps N cuts an Atari episode after N agent steps (of 4 frames each), not N frames."""
    config = train.get_config(["--env-id", "ALE/Pong-v5", "--max-episode-steps", "5"])
    env = train.make_env(config)
    env.reset(seed=0)
    ale = env.unwrapped.ale
    for step in range(1, 6):
        frame = ale.getEpisodeFrameNumber()
        _, _, terminated, truncated, _ = env.step(0)
        assert ale.getEpisodeFrameNumber() - frame == 4  # one agent step is four emulator frames
        assert not terminated and truncated == (step == 5)
    env.close()


# ---------- the memory: frames stored once, stacks rebuilt ----------

def agent_pair(n_steps, per, capacity):
    """Two agents from one seed on Flashes: one with a naive memory of whole stacks that never wraps, one
    with the frame memory `capacity` slots long. Epsilon 1: the same random actions on both sides."""
    agents = []
    for naive in (True, False):
        agent = image_agent(n_steps=n_steps, per=per, buffer_size=capacity, epsilon_start=1.0, epsilon_end=1.0)
        if naive:
            agent.memory = ReplayMemory(10_000, (4, SIZE, SIZE), seed=0)
        agents.append((agent, flashes()))
    return agents


def fill_both(n_steps, per, capacity, chunks=(1, 2, 97, 200), on_chunk=None):
    """agent_pair's agents after the same rounds of collection (of several lengths, as train_freq makes
    them); `on_chunk(naive, frames)` runs after each round, where training would sample."""
    agents = agent_pair(n_steps, per, capacity)
    for chunk in chunks:
        for agent, env in agents:
            agent.collect_rollouts(env, chunk)
        if on_chunk is not None:
            on_chunk(agents[0][0], agents[1][0])
    return agents[0][0], agents[1][0]


def check_stacks(naive, frames, capacity):
    """The frame memory's transitions are the naive store's newest ones, stacks and all."""
    memory = frames.memory
    slots = np.flatnonzero(memory.valid[:memory.size])
    slots = slots[np.argsort(memory.stream[slots])]  # oldest first
    assert len(slots) <= capacity and len(slots) == len(memory)
    n = len(naive.memory)
    if n == 0:  # n-step: the first round was shorter than a window
        assert len(slots) == 0
        return None
    expected = naive.memory.gather(np.arange(n - len(slots), n))  # the same transitions, whole stacks
    gathered = memory.gather(slots)
    for name, mine, theirs in zip(["obs", "actions", "rewards", "next_obs", "terminated", "discounts"],
                                  gathered, expected):
        assert torch.equal(mine.to(theirs.dtype), theirs), name
    obs, next_obs = gathered[0], gathered[3]
    assert obs.dtype == torch.uint8 and next_obs.dtype == torch.uint8
    # the stacks never reach into another episode: every real frame carries the episode of the newest
    for stacks in (obs, next_obs):
        episodes = stacks[:, :, 0, 0]
        assert ((episodes == 0) | (episodes == episodes[:, -1:])).all()
    # sampling draws transitions only, never an episode's end-of-episode slot
    for _ in range(20):
        assert memory.valid[memory.sample_indices(min(32, len(memory)))].all()
    return obs


@pytest.mark.parametrize("n_steps,per,capacity", [(1, False, 1000), (1, False, 61), (3, False, 67),
                                                  (3, True, 64), (5, False, 50)],
                         ids=["1step", "1step-wrapped", "3step-wrapped", "3step-per", "5step-wrapped"])
def test_frame_memory_rebuilds_the_stacks_of_a_naive_store(n_steps, per, capacity):
    starts, open_windows = [], []  # checked after every round of collection: training samples between rounds

    def check(naive, frames):
        starts.append(check_stacks(naive, frames, capacity))
        open_windows.append(len(frames.pending))

    naive, frames = fill_both(n_steps, per, capacity, on_chunk=check)
    assert isinstance(frames.memory, PrioritizedFrameReplayMemory if per else FrameReplayMemory)
    if capacity < 300:
        assert frames.memory.size == capacity  # the ring wrapped
    assert (starts[-1][:, :, 0, 0] == 0).any()  # some stacks start an episode (zero frames), and are tested
    assert n_steps == 1 or max(open_windows) > 0  # n-step: rounds that ended with windows still open


@pytest.mark.parametrize("n_steps,capacity", [(3, 67), (5, 50)], ids=["3step", "5step"])
def test_frame_memory_stacks_stay_right_after_every_step_of_a_wrapping_ring(n_steps, capacity):
    """The frame stream keeps n_steps + history - 1 positions beyond the capacity: an n-step transition's
    next_obs lies n_steps frames on, and the newest window's frames must not have overwritten the oldest
    transition's stacks yet. Checked after every single step, so that every phase of the wrap is seen
    (the test above checks only after rounds of collection, which can miss a too-small margin)."""
    checked = []

    def check(naive, frames):
        check_stacks(naive, frames, capacity)
        checked.append(frames.memory.size)

    _, frames = fill_both(n_steps, False, capacity, chunks=[1] * 300, on_chunk=check)
    assert frames.memory.size == capacity and checked.count(capacity) > 200  # wrapped, and checked wrapped


def test_frame_memory_holds_each_frame_once():
    obs_shape = (4, 84, 84)
    frames = FrameReplayMemory(1000, obs_shape, n_steps=3)
    naive = ReplayMemory(1000, obs_shape)
    bytes_of = lambda m: sum(v.nbytes for v in vars(m).values() if isinstance(v, np.ndarray))
    assert bytes_of(frames) / 1000 < 84 * 84 * 1.01 + 64  # one uint8 frame and a few numbers per transition
    assert bytes_of(naive) / 1000 > 8 * 84 * 84 * 4  # two float32 stacks of four
    config = train.get_config(["--env-id", "ALE/Pong-v5", "--buffer-size", "100"])
    assert isinstance(make_memory(config, obs_shape), FrameReplayMemory)
    assert isinstance(make_memory(dataclasses.replace(config, per=True), obs_shape), PrioritizedFrameReplayMemory)


def test_frame_memory_end_of_episode_slots_have_zero_priority():
    _, frames = fill_both(3, True, 64, chunks=(120,))
    memory = frames.memory
    ends = np.flatnonzero(~memory.valid[:memory.size])
    assert len(ends) > 0 and (memory.tree[ends] == 0).all()
    assert (memory.tree[np.flatnonzero(memory.valid)] > 0).all()


def test_prioritized_frame_memory_never_samples_an_episode_end_at_the_top_of_the_sum():
    """A draw at the very top of the last segment (u just under 1: (31 + u) rounds to 32, the value to the
    total) walks past every non-zero leaf; clamped to the last slot, it lands on the end-of-episode slot
    that follows an episode's last transition. sample_indices steps back to that transition."""
    memory = PrioritizedFrameReplayMemory(100, (4, SIZE, SIZE), n_steps=1)
    env = flashes()
    obs, _ = env.reset(seed=0)
    while True:
        next_obs, reward, terminated, truncated, _ = env.step(0)
        over = terminated or truncated
        memory.push(obs, 0, reward, next_obs, terminated, 0.99, steps=1, episode_over=over)
        obs = env.reset()[0] if over else next_obs
        if over and len(memory) >= 32:
            break  # the memory's last slot is now an end-of-episode slot, of priority zero
    assert memory.size < memory.capacity
    assert not memory.valid[memory.size - 1] and memory.tree[memory.size - 1] == 0

    class TopOfEachSegment:
        def random(self, n):
            return np.full(n, np.nextafter(1.0, 0.0))  # a value rng.random can return

    memory.rng = TopOfEachSegment()
    indices = memory.sample_indices(32)
    assert memory.valid[indices].all()
    assert indices[-1] == memory.size - 2  # the episode's last transition


# ---------- the network ----------

def test_cnn_shapes_and_sizes_by_hand():
    # 84 -> (84 - 8) / 4 + 1 = 20 -> (20 - 4) / 2 + 1 = 9 -> 9 - 3 + 1 = 7: 64 x 7 x 7 = 3,136 features
    nature = CNNQNetwork((4, 84, 84), 6, [512], "nature")
    small = CNNQNetwork((4, 84, 84), 6, [256], "small")  # 32 x 9 x 9 = 2,592
    assert nature.head.net[0].in_features == 3136 and small.head.net[0].in_features == 2592
    count = lambda net: sum(p.numel() for p in net.parameters())
    assert count(nature) == (4 * 32 * 64 + 32) + (32 * 64 * 16 + 64) + (64 * 64 * 9 + 64) + (3136 * 512 + 512) + (512 * 6 + 6)
    assert count(small) == (4 * 16 * 64 + 16) + (16 * 32 * 16 + 32) + (2592 * 256 + 256) + (256 * 6 + 6)
    assert nature(torch.zeros(5, 4, 84, 84, dtype=torch.uint8)).shape == (5, 6)
    # 42x42 frames (--screen-size 42): 42 -> (42 - 8) / 4 + 1 = 9 -> (9 - 4) / 2 + 1 = 3: 32 x 3 x 3 = 288
    assert CNNQNetwork((4, 42, 42), 6, [256], "small").head.net[0].in_features == 288
    # the smallest frames each stack leaves one pixel of: small 20 -> 4 -> 1; nature 36 -> 8 -> 3 -> 1
    assert (smallest_frame("small"), smallest_frame("nature")) == (20, 36)
    assert CNNQNetwork((4, 20, 20), 6, [8], "small").head.net[0].in_features == 32
    assert CNNQNetwork((4, 36, 36), 6, [8], "nature").head.net[0].in_features == 64


def test_cnn_takes_uint8_pixels_and_scales_them_itself():
    torch.manual_seed(0)
    net = CNNQNetwork((4, SIZE, SIZE), 3, [16], "small")
    pixels = torch.randint(0, 256, (2, 4, SIZE, SIZE), dtype=torch.uint8)
    out = net(pixels)
    torch.testing.assert_close(out, net.head(net.convolutions(pixels.float() / 255.0)))
    assert not torch.allclose(out, net.head(net.convolutions(pixels.float())))  # unscaled would differ


def test_cnn_dueling_and_noisy_heads():
    net = CNNQNetwork((4, SIZE, SIZE), 3, [16], "nature", dueling=True, noisy=True)
    assert net.head.dueling and all(isinstance(m, NoisyLinear) for m in (net.head.net[0], net.head.value, net.head.advantage))
    assert not any(isinstance(m, NoisyLinear) for m in net.convolutions.modules())
    assert net(torch.zeros(2, 4, SIZE, SIZE, dtype=torch.uint8)).shape == (2, 3)


# ---------- the agent on frames ----------

@pytest.mark.parametrize("changes", [dict(double=True, n_steps=3, tau=1.0, target_update_interval=3),
                                     dict(double=False, n_steps=1, tau=0.5, target_update_interval=2, per=True)],
                         ids=["double-3step-hardcopy", "per"])
def test_fast_agent_reaches_the_textbook_weights_on_frames(changes):
    agents = []
    for agent_class in (Agent, FastAgent):
        agent = image_agent(agent_class, learning_rate=1e-3, epsilon_start=1.0, epsilon_end=1.0, **changes)
        agent.collect_rollouts(flashes(), 80)
        agents.append(agent)
    textbook, fast = agents
    start = [p.clone() for p in textbook.q_network.parameters()]
    losses = [[agent.learn(steps) for steps in (3, 4)] for agent in agents]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4, atol=1e-6)
    for a, b in zip(textbook.q_network.parameters(), fast.q_network.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert all(not torch.allclose(p, q) for p, q in zip(textbook.q_network.parameters(), start))


def test_test_py_plays_an_atari_checkpoint_and_writes_a_gif(tmp_path, capsys):
    import test as test_script

    config = train.get_config(["--env-id", "ALE/Pong-v5", "--buffer-size", "32", "--max-episode-steps", "20"])
    env, _, agent = train.build(config)
    path = tmp_path / "pong.pth"
    plumbing.save_checkpoint(path, {"part": "part2_dqn", "algo": "dqn", "state_dict": agent.q_network.state_dict(),
                                 "config": dataclasses.asdict(config), "obs_shape": list(env.observation_space.shape),
                                 "n_actions": int(env.action_space.n), "eval_return": 0.0, "step": 0})
    gif = tmp_path / "pong.gif"
    test_script.main([str(path), "--episodes", "2", "--gif", str(gif), "--json"])
    result = capsys.readouterr().out
    assert '"episodes": 2' in result and '"network": "cnn"' in result
    from PIL import Image
    with Image.open(gif) as image:
        # the game's own screen; one episode of 20 steps (Pillow merges repeated frames: the serve repeats some)
        assert image.size == (160, 210) and 1 < image.n_frames <= 20
        # real time, 15 agent steps a second (an agent step is 4 frames of the 60 Hz console); GIFs count 10 ms
        assert 60 <= image.info["duration"] <= 70
    test_script.main([str(path), "--episodes", "1", "--gif", str(gif), "--gif-frames", "3", "--json"])
    with Image.open(gif) as image:
        assert image.n_frames <= 3


def test_test_py_rebuilds_the_cnn_and_the_wrappers_from_the_checkpoint_alone(tmp_path):
    """A checkpoint trained with settings the preset does not have (the Nature CNN, a 32-unit dueling
    head, sticky actions at 0.1, neither the preset's 0 nor v5's 0.25, a 7-step time limit, 42x42 frames):
    test.py's env and network are the checkpoint's, not the preset's, the Config defaults' or the env id's own."""
    import test as test_script

    config = train.get_config(["--env-id", "ALE/Pong-v5", "--convolutions", "nature", "--hidden", "32", "--dueling",
                               "--repeat-action-probability", "0.1", "--max-episode-steps", "7", "--screen-size", "42",
                               "--buffer-size", "32", "--seed", "3"])
    env, _, agent = train.build(config)
    path = tmp_path / "pong.pth"
    plumbing.save_checkpoint(path, {"part": "part2_dqn", "algo": "dqn", "state_dict": agent.q_network.state_dict(),
                                 "config": dataclasses.asdict(config), "obs_shape": list(env.observation_space.shape),
                                 "n_actions": int(env.action_space.n), "eval_return": 0.0, "step": 0})
    played, played_env, _ = test_script.rebuild(path)
    net = played.q_network
    assert isinstance(net, CNNQNetwork) and len(net.convolutions) == 7  # three convolutions, their ReLUs, Flatten
    assert net.head.dueling and net.head.net[0].out_features == 32
    obs, _ = played_env.reset(seed=0)
    torch.testing.assert_close(net(torch.as_tensor(obs).unsqueeze(0)), agent.q_network(torch.as_tensor(obs).unsqueeze(0)))
    assert played_env.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.1)
    assert played_env.observation_space.shape == (4, 42, 42) and obs.shape == (4, 42, 42)
    steps = []
    played.evaluate(played_env, 1, seed=0, on_frame=lambda: steps.append(1))
    assert len(steps) == 7
    env.close()
    played_env.close()


def test_a_checkpoint_from_before_screen_size_plays_on_84x84_frames(tmp_path):
    """A file written before --screen-size existed has no such config key: test.py rebuilds it on the 84x84
    frames it was trained on (the shipped Pong model, the key taken out if it has one)."""
    import test as test_script

    checkpoint = torch.load(plumbing.REPO / "models" / "part2_dqn" / "ALE-Pong-v5__dqn_cnn.pth", map_location="cpu",
                            weights_only=True)
    checkpoint["config"].pop("screen_size", None)
    torch.save(checkpoint, old := tmp_path / "pong.pth")
    agent, env, _ = test_script.rebuild(old)
    assert env.observation_space.shape == (4, 84, 84)
    for name, tensor in agent.q_network.state_dict().items():
        torch.testing.assert_close(tensor, checkpoint["state_dict"][name])
    env.close()


@pytest.mark.parametrize("screen", [[], ["--screen-size", "42"]], ids=["84x84", "42x42"])
def test_train_py_on_pong_saves_a_flat_model_file_and_a_loadable_checkpoint(tmp_path, capsys, screen):
    """Through train.main with a tiny budget: the frame memory and the CNN in use, the model saved as
    ALE-Pong-v5__dqn_cnn__1__{time}.pth, named like its run (the id's '/' would make a folder), and a
    checkpoint test.py rebuilds; with --screen-size 42 all of it on 42x42 frames."""
    import test as test_script

    train.main(["--env-id", "ALE/Pong-v5", "--total-steps", "120", "--learning-starts", "60", "--batch-size", "8",
                "--buffer-size", "200", "--eval-every", "120", "--eval-episodes", "1", "--max-episode-steps", "30",
                "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path / "models"), *screen])
    (run_dir,) = (tmp_path / "logs").iterdir()
    assert run_dir.name.startswith("ALE-Pong-v5__dqn_cnn__1__")
    model = tmp_path / "models" / f"{run_dir.name}.pth"
    assert f"model saved to {model}" in capsys.readouterr().out
    assert list((tmp_path / "models").iterdir()) == [model]
    assert (run_dir / "evaluations.csv").read_text().splitlines()[1].startswith("120,")
    agent, env, checkpoint = test_script.rebuild(model)
    side = 42 if screen else 84
    assert checkpoint["config"]["convolutions"] == "small" and checkpoint["obs_shape"] == [4, side, side]
    assert isinstance(agent.q_network, CNNQNetwork) and isinstance(agent.memory, FrameReplayMemory)
    assert env.observation_space.shape == (4, side, side)


@pytest.mark.parametrize("per", [False, True])
def test_an_atari_agent_resumed_from_its_training_state_samples_and_learns_as_the_original(tmp_path, per):
    """train.py --resume on frames: the frame ring, stream positions, episode starts (and the sum tree)
    come back, so the rebuilt stacks, the minibatches and the updates are the original's."""
    original, env = image_agent(FastAgent, per=per, n_steps=3, buffer_size=60), flashes()
    original.collect_rollouts(env, 100)  # wrapped around the 60 slots
    while original.episode_length:
        original.collect_rollouts(env, 1)
    original.learn(2)
    torch.save(agent_state(original), tmp_path / "state.pth")
    restored = image_agent(FastAgent, per=per, n_steps=3, buffer_size=60, seed=5)
    load_agent_state(restored, torch.load(tmp_path / "state.pth", weights_only=True))
    indices = original.memory.sample_indices(8)
    assert np.array_equal(indices, restored.memory.sample_indices(8))
    for a, b in zip(original.memory.gather(indices), restored.memory.gather(indices)):
        assert torch.equal(a, b)
    original.learn(3)
    restored.learn(3)
    for a, b in zip(original.q_network.parameters(), restored.q_network.parameters()):
        assert torch.equal(a, b)

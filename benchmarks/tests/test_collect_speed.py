"""collect_speed.py: collection and random-action stepping take turns in one process, each on its own identical
vector env, and the rates are the steps each side counted over the time it took."""
import json
import types

import collect_speed


class Clock:
    """A clock that moves only when the fake work says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_two_sides_take_turns_and_each_rate_is_its_own():
    clock, turns, steps = Clock(), [], [0]

    def collect():  # a batch of 10 env steps takes 0.1 s: 100 steps/s
        if not turns or turns[-1] != "collect":
            turns.append("collect")
        clock.now += 0.1
        steps[0] += 10

    def step():  # a vector step of 4 sub-envs takes 0.01 s: 400 steps/s
        if turns[-1] != "raw":
            turns.append("raw")
        clock.now += 0.01
        return 4

    collected, collect_time, raw, raw_time, rounds = collect_speed.take_turns(
        collect, lambda: steps[0], step, seconds=2.0, slice_=0.25, clock=clock)
    assert rounds >= 2 and turns == ["collect", "raw"] * rounds  # never two turns of one side in a row
    assert abs(collected / collect_time - 100.0) < 1e-6 and abs(raw / raw_time - 400.0) < 1e-6
    assert collected == steps[0]


def fake_part(tmp_path):
    """A part whose train.py builds an agent with start/collect_rollouts and a vector env that counts its steps."""
    (tmp_path / "partx").mkdir()
    (tmp_path / "partx" / "train.py").write_text('''
import types

calls = []


class Space:
    def seed(self, seed):
        calls.append(("seed", seed))

    def sample(self):
        return [0, 0]


class Envs:
    num_envs = 2
    action_space = Space()

    def reset(self, seed=None):
        calls.append(("reset", seed))

    def step(self, actions):
        calls.append("raw step")


class Agent:
    steps = 0

    def start(self, envs, seed=None):
        calls.append(("start", seed))

    def collect_rollouts(self, envs):
        calls.append("collect")
        self.steps += 10


def get_config(argv):
    return types.SimpleNamespace(seed=int(argv[argv.index("--seed") + 1]), torch_threads=1)


def make_envs(config):
    return Envs()


def build(config, device="cpu"):
    return Envs(), None, Agent()
''')
    return tmp_path


def test_it_builds_the_run_as_train_py_does_and_prints_one_json_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(collect_speed, "REPO", fake_part(tmp_path))
    monkeypatch.setattr(collect_speed, "SLICE", 0.01)
    collect_speed.main(["partx", "train.py", "--seed", "7", "--seconds", "0.05"])
    line = json.loads(capsys.readouterr().out.strip())
    assert set(line) == {"collect_steps_per_second", "raw_steps_per_second", "ratio", "rounds", "seconds"}
    assert line["rounds"] >= 2 and line["ratio"] == round(line["collect_steps_per_second"] /
                                                           line["raw_steps_per_second"], 3)


def test_part_3s_collect_episodes_is_timed_too():
    """Part 3's agent collects whole episodes (`collect_episodes`): the first call seeds the reset."""
    seen = []
    agent = types.SimpleNamespace(collect_episodes=lambda envs, seed=None: seen.append(seed))
    collect = collect_speed.collector(agent, "envs", 7)
    collect(), collect()
    assert seen == [7, None]

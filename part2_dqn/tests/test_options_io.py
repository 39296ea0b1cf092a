"""The options outside the agent: the --rainbow preset, checkpoints that record the options and
rebuild the right network from the file alone (old ones still load), and one-hot observations."""
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import test as test_py
import train
from memory import PrioritizedReplayMemory
from networks import LSTMQNetwork, NoisyLinear, QNetwork
from plumbing import UserError
from wrappers import FloatObservation, make_env

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ALL = sorted(p for p in (REPO / "models" / "part2_dqn").glob("*.pth") if p.stem.count("__") == 1)
SHIPPED = [p for p in SHIPPED_ALL if p.stem.split("__")[1] in ("dqn_mlp", "dqn_lstm")]  # plain DQN, no options
# The config keys the options added: a checkpoint written before them (the shipped CartPole model before
# commit c5a739d, for one) has every other key and none of these.
OPTION_KEYS = ("dueling", "fast", "noisy", "per", "per_alpha", "per_beta", "per_eps", "rainbow")
SHIPPED_WITH_OPTIONS = [p for p in SHIPPED_ALL if p not in SHIPPED]  # e.g. LunarLander-v3__dqn_mlp_dueling_noisy_per


def test_rainbow_preset_sits_over_the_env_preset_under_the_flags():
    config = train.get_config(["--env-id", "CartPole-v1", "--rainbow"])
    assert (config.double, config.dueling, config.noisy, config.per, config.n_steps) == (True, True, True, True, 3)
    assert config.hidden == [256, 256] and config.batch_size == 64            # CartPole's preset still applies
    config = train.get_config(["--rainbow", "--n-steps", "5", "--no-double", "--env-id", "LunarLander-v3"])
    assert (config.n_steps, config.double, config.noisy, config.per) == (5, False, True, True)
    plain = train.get_config(["--env-id", "CartPole-v1"])
    assert not (plain.dueling or plain.noisy or plain.per or plain.rainbow)   # defaults: every option off
    assert train.algo_name(config) == "dqn_mlp_dueling_noisy_per" and train.algo_name(plain) == "dqn_mlp"


def test_rainbow_on_lunarlander_adds_its_tuned_settings_and_only_under_rainbow(monkeypatch):
    tuned = ("eval_episodes", "anneal_lr", "buffer_size")
    rainbow = train.get_config(["--env-id", "LunarLander-v3", "--rainbow"])
    assert tuple(getattr(rainbow, k) for k in tuned) == (20, True, 100_000)
    plain = train.get_config(["--env-id", "LunarLander-v3"])
    zoo = {k: train.PRESETS["LunarLander-v3"].get(k, train.Config.__dataclass_fields__[k].default) for k in tuned}
    assert {k: getattr(plain, k) for k in tuned} == zoo and zoo != dict(zip(tuned, (20, True, 100_000)))
    flags_win = train.get_config(["--env-id", "LunarLander-v3", "--rainbow", "--buffer-size", "30000",
                                  "--no-anneal-lr", "--eval-episodes", "5"])
    assert tuple(getattr(flags_win, k) for k in tuned) == (5, False, 30_000)
    cartpole, cartpole_plain = (train.get_config(["--env-id", "CartPole-v1", *rainbow_flag]) for rainbow_flag
                                in (["--rainbow"], []))
    assert {k: getattr(cartpole, k) for k in tuned} == {k: getattr(cartpole_plain, k) for k in tuned}
    monkeypatch.setattr(train, "RAINBOW_PRESETS", {})                        # without the tuned settings
    assert tuple(getattr(train.get_config(["--env-id", "LunarLander-v3", "--rainbow"]), k) for k in tuned) == \
        tuple(zoo.values())


@pytest.mark.parametrize("network", ["mlp", "lstm"])
def test_checkpoint_records_the_options_and_test_py_rebuilds_them(tmp_path, network):
    train.main(["--rainbow", "--network", network, "--total-steps", "300", "--eval-every", "300",
                "--eval-episodes", "1", "--learning-starts", "100", "--batch-size", "16", "--max-episode-steps", "50",
                "--hidden", "16", "16", "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path)])
    (path,) = tmp_path.glob("*.pth")
    assert path.name.startswith(f"Pendulum-v1__dqn_{network}_dueling_noisy_per__1__")  # named like its run
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert {k: checkpoint["config"][k] for k in ("dueling", "noisy", "per", "n_steps", "rainbow")} == \
        dict(dueling=True, noisy=True, per=True, n_steps=3, rainbow=True)
    agent, env, _ = test_py.rebuild(str(path))                        # from the file alone
    head = agent.q_network if network == "mlp" else agent.q_network.head
    assert isinstance(agent.q_network, QNetwork if network == "mlp" else LSTMQNetwork)
    assert head.dueling and isinstance(head.advantage, NoisyLinear) and not agent.q_network.training
    for name, tensor in agent.q_network.state_dict().items():
        torch.testing.assert_close(tensor, checkpoint["state_dict"][name])
    first = agent.evaluate(env, 1, seed=3)
    assert agent.evaluate(env, 1, seed=3) == first                    # the mean weights: deterministic


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_models_still_load(path):
    agent, env, checkpoint = test_py.rebuild(str(path))
    assert not any(checkpoint["config"].get(key) for key in ("dueling", "noisy", "per", "rainbow"))  # plain DQN
    assert not any(isinstance(m, NoisyLinear) for m in agent.q_network.modules())
    assert not getattr(agent.q_network, "dueling", getattr(getattr(agent.q_network, "head", None), "dueling", True))
    obs, _ = env.reset(seed=0)
    assert 0 <= agent.greedy_action(obs) < agent.n_actions


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_checkpoint_from_before_the_options_still_loads(path, tmp_path):
    """A file written before --dueling, --noisy and --per existed lacks their config keys: test.py rebuilds
    the plain network from it, with the same weights."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["config"] = {k: v for k, v in checkpoint["config"].items() if k not in OPTION_KEYS}
    torch.save(checkpoint, old := tmp_path / path.name)
    agent, env, _ = test_py.rebuild(str(old))
    assert not any(isinstance(m, NoisyLinear) for m in agent.q_network.modules())
    assert not getattr(agent.q_network, "dueling", getattr(getattr(agent.q_network, "head", None), "dueling", True))
    for name, tensor in agent.q_network.state_dict().items():
        torch.testing.assert_close(tensor, checkpoint["state_dict"][name])
    obs, _ = env.reset(seed=0)
    assert 0 <= agent.greedy_action(obs) < agent.n_actions


@pytest.mark.parametrize("path", SHIPPED_WITH_OPTIONS, ids=[p.stem for p in SHIPPED_WITH_OPTIONS])
def test_shipped_models_with_options_rebuild_them_from_the_file(path):
    agent, env, checkpoint = test_py.rebuild(str(path))
    options = checkpoint["config"]
    assert train.algo_name(train.Config(**{k: v for k, v in options.items() if k in train.Config.__dataclass_fields__})) \
        == path.stem.split("__")[1]                                  # the file's name says its options
    network = agent.q_network
    assert any(isinstance(m, NoisyLinear) for m in network.modules()) == options["noisy"]
    assert getattr(network, "dueling", getattr(getattr(network, "head", None), "dueling", None)) == options["dueling"]
    obs, _ = env.reset(seed=0)
    assert 0 <= agent.greedy_action(obs) < agent.n_actions


def test_one_hot_and_float_observations():
    env = make_env("FrozenLake-v1")
    assert env.observation_space.shape == (16,)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.tolist() == [1.0] + [0.0] * 15    # cell 0, the start
    assert env.observation(5).tolist() == [0.0] * 5 + [1.0] + [0.0] * 10     # cell 5: its own input
    offset = FloatObservation(gym.make("FrozenLake-v1"))
    offset.start = 2                                                   # Discrete(n, start=2): cell 2 is index 0
    assert offset.observation(2)[0] == 1.0
    for space, value in [(gym.spaces.MultiBinary((2, 2)), np.array([[1, 0], [0, 1]])),
                         (gym.spaces.MultiDiscrete([3, 5]), np.array([2, 4]))]:
        wrapped = FloatObservation(_Constant(space, value))
        assert wrapped.observation_space.shape == (value.size,)
        assert wrapped.observation(value).tolist() == value.reshape(-1).astype(float).tolist()


class _Constant(gym.Env):
    action_space = gym.spaces.Discrete(2)

    def __init__(self, space, value):
        self.observation_space, self.value = space, value


def test_frozen_lake_trains_through_the_agent(tmp_path):
    """`--env-id FrozenLake-v1` (refused before) runs: one-hot states in the memory, a greedy evaluation."""
    config = train.get_config(["--env-id", "FrozenLake-v1", "--total-steps", "400", "--learning-starts", "100",
                               "--eval-episodes", "3", "--per"])
    env, eval_env, agent = train.build(config)
    agent.collect_rollouts(env, 400)
    states = agent.memory.obs[:400]
    assert states.shape == (400, 16) and (states.sum(axis=1) == 1).all()
    assert isinstance(agent.memory, PrioritizedReplayMemory)
    agent.learn(5)
    mean, _ = agent.evaluate(eval_env, 3)
    assert 0.0 <= mean <= 1.0


def test_compare_py_writes_the_curves_the_figure_and_the_table(tmp_path):
    import compare

    compare.main(["--variants", "DQN", "Rainbow", "--seeds", "1", "--total-steps", "300", "--eval-every", "150",
                  "--final-episodes", "1", "--out", str(tmp_path)])
    rows = (tmp_path / "evaluations.csv").read_text().splitlines()
    assert rows[0] == "variant,seed,step,train_seconds,mean" and len(rows) == 1 + 2 * 2   # 2 variants x 2 evaluations
    assert [r.split(",")[:3] for r in rows[1:]] == [["DQN", "1", "150"], ["DQN", "1", "300"],
                                                     ["Rainbow", "1", "150"], ["Rainbow", "1", "300"]]
    table = (tmp_path / "table.md").read_text()
    assert table.splitlines()[2].startswith("| DQN | 1 |") and "| never (0/1) |" in table and "| Rainbow | 1 |" in table
    assert (tmp_path / "compare.png").stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["DQN__seed1.json", "Rainbow__seed1.json"]


def test_compare_py_keeps_finished_runs_and_reports_from_them(tmp_path, monkeypatch, capsys):
    """A comparison runs in pieces: a run with a file is not run again; --report-only draws from the files."""
    import compare

    argv = ["--variants", "DQN", "--seeds", "1", "--total-steps", "300", "--eval-every", "150",
            "--final-episodes", "1", "--out", str(tmp_path)]
    compare.main(argv)
    first = (tmp_path / "runs" / "DQN__seed1.json").read_text()

    def no_run(*args):
        raise AssertionError("a finished run was run again")
    monkeypatch.setattr(compare, "run", no_run)
    compare.main(argv)                                        # kept, not rerun
    assert (tmp_path / "runs" / "DQN__seed1.json").read_text() == first
    compare.main([*argv[:2], "--seeds", "1", "2", *argv[4:], "--report-only"])   # seed 2 missing: left out, said so
    assert "not run yet, left out: DQN seed 2" in capsys.readouterr().out
    assert "| DQN | 1 |" in (tmp_path / "table.md").read_text()
    compare.main(["--variants", "PER", "--seeds", "1", "--out", str(tmp_path), "--report-only"])  # PER: none yet
    assert "| DQN | 1 |" in (tmp_path / "table.md").read_text()   # the folder's runs are drawn all the same
    with pytest.raises(UserError, match="no finished runs"):
        compare.main(["--variants", "PER", "--seeds", "1", "--out", str(tmp_path / "empty"), "--report-only"])

def test_compare_py_draws_every_finished_run_of_the_variants_with_success_from_the_best_models(tmp_path):
    """Plain DQN on ten seeds beside the options on five: the table and figure take every run file under --out
    (here seeds 1-4, though the command names seed 1); success is the best model's final test, not an evaluation."""
    import json

    import compare

    (tmp_path / "runs").mkdir()
    finals = {1: 100.0, 2: 210.0, 3: 220.0, 4: 300.0}
    firsts = {1: [150.0, 205.0], 2: [205.0, 150.0], 3: [120.0, 230.0], 4: [250.0, 310.0]}  # evaluations at 10k, 20k
    for seed, final in finals.items():
        run = dict(variant="DQN", seed=seed, evaluations=[[10_000, 5.0, firsts[seed][0]], [20_000, 10.0, firsts[seed][1]]],
                   final=final, steps_per_second=1000.0)
        (tmp_path / "runs" / f"DQN__seed{seed}.json").write_text(json.dumps(run))
    compare.main(["--env-id", "LunarLander-v3", "--variants", "DQN", "--seeds", "1", "--out", str(tmp_path),
                  "--report-only"])
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert "| success at 200 | first evaluation >= 200 (median; seeds reaching it) |" in lines[0]
    row = lines[2]
    # IQM of 100, 210, 220, 300: the middle two, 215.0; success: the best models of seeds 2-4 reach 200, 3/4
    # (seed 1 touched 205 in an evaluation, but its best model scores 100); the first evaluation >= 200 at 20k
    # (seeds 1 and 3) and 10k (seeds 2 and 4): median 15,000, all 4 seeds
    assert row == "| DQN | 4 | 215.0 (100.0 to 300.0) | 3/4 | 15,000 (4/4) | 10 | 1,000 |"
    assert len((tmp_path / "evaluations.csv").read_text().splitlines()) == 1 + 4 * 2


def test_compare_py_refuses_runs_evaluated_at_other_steps_and_names_them(tmp_path):
    """One folder, one comparison: a run of another budget or schedule (a quick look at 10k steps beside the
    150k runs) would be drawn against the wrong steps; the report names it instead."""
    import json

    import compare

    (tmp_path / "runs").mkdir()
    for seed, steps in ((1, [10_000, 20_000]), (2, [10_000, 20_000]), (3, [5_000, 10_000])):
        run = dict(variant="Dueling", seed=seed, evaluations=[[s, 1.0, 0.0] for s in steps], final=0.0,
                   steps_per_second=1.0)
        (tmp_path / "runs" / f"Dueling__seed{seed}.json").write_text(json.dumps(run))
    with pytest.raises(UserError, match=r"Dueling__seed3.json under .* were evaluated at other steps than "
                                        r"Dueling__seed1.json"):
        compare.main(["--env-id", "LunarLander-v3", "--out", str(tmp_path), "--report-only"])

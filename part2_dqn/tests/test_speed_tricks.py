"""speed_tricks.py measures what it says: every variant computes the textbook's updates, by its own code."""
import dataclasses

import torch

import speed_tricks
import train
from agent import Agent
from fast import FusedAdamW


def small_config():
    """The CartPole preset shrunk: a small network, small rounds, a target update every 4 gradient steps,
    and a clipping norm small enough to clip."""
    return dataclasses.replace(train.get_config(["--env-id", "CartPole-v1"]), hidden=[32, 32], batch_size=16,
                               train_freq=32, gradient_steps=12, target_update_interval=4, total_steps=4000,
                               max_grad_norm=0.05)


def count_calls(module):
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_every_variant_reaches_the_textbook_weights_by_its_own_code():
    config = small_config()
    start = speed_tricks.prefilled(config, steps=300)
    variants = {name: speed_tricks.make_variant(agent_class, config, start)
                for name, agent_class, _ in speed_tricks.VARIANTS}
    calls = {name: (count_calls(agent.q_network), count_calls(agent.target_network))
             for name, (agent, _) in variants.items()}
    for agent, env in variants.values():
        assert len(agent.memory) == len(start.memory) > 250 and agent.epsilon == start.epsilon
        speed_tricks.turn(agent, env, config, training_rounds=3)
    assert len(variants) == len(speed_tricks.VARIANTS)
    textbook = variants["textbook `Agent` (agent.py)"][0]
    assert textbook.gradient_steps == 36 and textbook.steps == 300 + 3 * 32
    for name, (agent, _) in variants.items():
        assert agent.gradient_steps == 36, name
        for p, q in zip(agent.q_network.parameters(), textbook.q_network.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6, msg=name)
    assert any(not torch.equal(p, q) for p, q in zip(textbook.q_network.parameters(), start.q_network.parameters()))

    # each trick is in its variant (and only the textbook's update is in the textbook)
    q_calls, target_calls = {n: len(c[0]) for n, c in calls.items()}, {n: len(c[1]) for n, c in calls.items()}
    assert target_calls["textbook `Agent` (agent.py)"] == 36
    assert target_calls["targets in bulk (1, with 2)"] == 9  # one pass per frozen target network: 36 / 4
    assert target_calls["minibatches drawn at once (2)"] == 36
    acting = q_calls["textbook `Agent` (agent.py)"] - 36  # the forward passes of greedy actions
    assert acting > 0 and q_calls["acting in numpy (3)"] == 36  # numpy acting: no torch forward pass to act
    assert isinstance(variants["lean update step (4)"][0].optimizer, FusedAdamW)
    public = variants["lean update step, public API only (4)"][0].optimizer
    assert type(public) is torch.optim.AdamW and public.defaults["fused"]
    assert all(type(agent.optimizer) is torch.optim.AdamW and not agent.optimizer.defaults["fused"]
               for name, (agent, _) in variants.items()
               if name not in ("lean update step (4)", "lean update step, public API only (4)",
                               "`FastAgent` (fast.py, all four)"))
    assert speed_tricks.VARIANTS[0][1] is Agent


def test_every_private_torch_op_in_fast_py_has_its_measured_line_in_the_readme():
    """fast.py calls a private torch function only with a README line saying what it buys, measured by
    speed_tricks.py --private-ops (which measures each against its public equivalent)."""
    import re
    from pathlib import Path

    part = Path(speed_tricks.__file__).resolve().parent
    code = "\n".join(line.split("#")[0] for line in (part / "fast.py").read_text().splitlines())
    called = set(re.findall(r"torch\.(_[a-z_]+)\(", code))
    readme = (part / "README.md").read_text()
    section = readme[readme.index("**Private torch ops.**"):readme.index("**With the options.**")]
    bullets = [" ".join(item.split()) for item in re.findall(r"^- `torch\._.*?(?=\n\n|\n- )", section, re.S | re.M)]
    assert called and {re.match(r"- `torch\.(_[a-z_]+)`", item).group(1) for item in bullets} == called
    assert all(re.search(r"\d\.\d\dx \(\d\.\d\d-\d\.\d\d\)", item) for item in bullets)  # a measured ratio, its range
    harness = (part / "speed_tricks.py").read_text()
    assert all(f"torch.{op}" in harness for op in called)


def test_private_ops_times_each_private_op_against_its_public_equivalent(capsys):
    config = small_config()
    speed_tricks.private_ops(config, speed_tricks.prefilled(config, steps=300), rounds=1, calls=2)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][1:]  # after the header
    kinds = {}
    for row in rows:
        kind, how, _, ratio, _ = [cell.strip() for cell in row.split("|")[1:]]
        kinds.setdefault(kind, []).append((how, ratio))
    assert set(kinds) == {"gradient step", "AdamW update", "clipping, over the limit", "norm", "rescale"}
    for kind, jobs in kinds.items():
        assert jobs[0][1] == "" and all(ratio.endswith(")") for _, ratio in jobs[1:]), kind  # vs the first
        assert "public" not in jobs[0][0] and all("public" in how for how, _ in jobs[1:]), kind

"""The options, by hand and at the call site: the sum tree and prioritized replay (--per), the
dueling head (--dueling), Noisy Nets (--noisy).

    the sum tree's totals and prefix-sum lookups; updates; sampling frequencies proportional to priority
    importance weights w = (N P)^-beta / max w; new transitions at the largest priority
    Agent.learn weights the loss and sets the sampled priorities to |TD error| + eps (both agents)
    Q = V + A - mean A; NoisyLinear's factorised noise; evaluation on the mean weights, epsilon off
"""
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import train
from agent import Agent
from fast import FastAgent
from memory import PrioritizedReplayMemory, ReplayMemory, SumTree
from networks import LSTMQNetwork, NoisyLinear, QNetwork, mean_abs_sigma, reset_noise

AGENTS = [Agent, FastAgent]


# ---------- the sum tree ----------

def test_sum_tree_totals_and_prefix_sum_lookups_by_hand():
    tree = SumTree(4)
    tree.update(np.arange(4), [1.0, 2.0, 3.0, 4.0])
    # heap order: root 1 holds 10, its children 1 + 2 = 3 and 3 + 4 = 7, then the leaves
    assert tree.nodes[1:].tolist() == [10, 3, 7, 1, 2, 3, 4] and tree.total == 10
    # prefix sums 0 | 1 | 3 | 6 | 10: u in [0, 1) -> leaf 0, [1, 3) -> 1, [3, 6) -> 2, [6, 10) -> 3
    u = [0.0, 0.999, 1.0, 2.5, 3.0, 5.999, 6.0, 9.999]
    assert tree.find(u).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_sum_tree_updates_recompute_every_sum_above():
    tree = SumTree(4)
    tree.update(np.arange(4), [1.0, 2.0, 3.0, 4.0])
    tree.update(1, 5.0)                                     # one leaf: 1 + 5 = 6 on the left, total 13
    assert tree.nodes[1:4].tolist() == [13, 6, 7]
    tree.update(np.array([3, 0, 3]), [0.5, 2.0, 1.0])     # a batch with a repeat: the last one wins
    assert tree[np.arange(4)].tolist() == [2, 5, 3, 1] and tree.nodes[1:4].tolist() == [11, 7, 4]
    assert tree.find([6.999, 7.0, 10.999]).tolist() == [1, 2, 3]
    tree.update(2, 0.0)                                     # a zero priority is never found
    assert 2 not in tree.find(np.linspace(0, tree.total, 1000, endpoint=False)).tolist()


def test_sum_tree_of_any_capacity_never_finds_an_empty_leaf():
    tree = SumTree(5)                                       # 8 leaves, the last three stay 0
    tree.update(np.arange(5), [1.0, 1.0, 1.0, 1.0, 1.0])
    assert tree.leaves == 8 and tree.total == 5
    assert tree.find([4.5, np.nextafter(5.0, 0.0), 5.0]).tolist() == [4, 4, 4]


# ---------- prioritized replay ----------

def per_memory(priorities, alpha=1.0, eps=0.5, seed=0, capacity=None):
    """A memory holding len(priorities) transitions whose priorities (|TD| + eps) are `priorities`."""
    n = len(priorities)
    memory = PrioritizedReplayMemory(capacity or n, (2,), seed=seed, alpha=alpha, eps=eps)
    for i in range(n):
        memory.push(np.full(2, i), 0, 0.0, np.full(2, i), False, 0.9)
    memory.update_priorities(np.arange(n), np.asarray(priorities, dtype=np.float64) - eps)
    return memory


def test_priorities_are_td_error_plus_eps_to_the_alpha():
    memory = per_memory([1.0, 4.0, 9.0, 16.0], alpha=0.5)
    assert memory.tree[np.arange(4)].tolist() == pytest.approx([1, 2, 3, 4])
    memory.update_priorities(np.array([0]), torch.tensor([-8.5]))   # |TD error|: the sign does not matter
    assert memory.tree[0] == pytest.approx(3.0)


def test_new_transitions_get_the_largest_priority_so_far():
    memory = PrioritizedReplayMemory(8, (2,), alpha=0.5, eps=0.5)
    memory.push(np.zeros(2), 0, 0.0, np.zeros(2), False, 0.9)
    assert memory.tree[0] == 1.0                                      # before any update: 1
    memory.update_priorities(np.array([0]), np.array([8.5]))          # 9, the largest so far
    memory.update_priorities(np.array([0]), np.array([0.5]))          # now 1, but the maximum stays 9
    memory.push(np.zeros(2), 0, 0.0, np.zeros(2), False, 0.9)
    assert memory.tree[1] == pytest.approx(3.0) and memory.tree[0] == pytest.approx(1.0)


def test_sampling_frequencies_are_proportional_to_priority():
    priorities = [1.0, 2.0, 3.0, 4.0, 0.5, 5.5, 8.0, 16.0]      # total 40
    memory = per_memory(priorities, alpha=1.0, seed=5, capacity=12)  # not full: 8 of 12 slots
    counts = np.bincount(np.concatenate([memory.sample_indices(8) for _ in range(8000)]), minlength=12)
    frequencies = counts / counts.sum()
    assert counts[8:].sum() == 0                                  # never an empty slot
    # 64,000 stratified draws: each frequency within 0.004 of p_i / sum p (uniform would be off by 0.3)
    np.testing.assert_allclose(frequencies[:8], np.array(priorities) / 40, atol=0.004)


def test_stratified_sampling_takes_one_draw_per_segment():
    memory = per_memory([1.0] * 8, seed=1)                        # equal priorities: segment k holds leaf k
    for _ in range(20):
        assert sorted(memory.sample_indices(8).tolist()) == list(range(8))


def test_importance_weights_by_hand():
    memory = per_memory([1.0, 2.0, 3.0, 4.0])                     # P = 0.1, 0.2, 0.3, 0.4; N = 4
    # w_i = (N P_i)^-beta: beta = 0.5 gives 0.4^-0.5, 0.8^-0.5, 1.2^-0.5, 1.6^-0.5; divided by the largest
    # (the first), w_i = (P_0 / P_i)^0.5 = 1, sqrt(1/2), sqrt(1/3), 1/2
    weights = memory.importance_weights(np.arange(4), beta=0.5)
    assert weights.dtype == torch.float32
    assert weights.tolist() == pytest.approx([1.0, math.sqrt(0.5), math.sqrt(1 / 3), 0.5])
    assert memory.importance_weights(np.array([3, 1]), beta=1.0).tolist() == pytest.approx([0.5, 1.0])
    assert memory.importance_weights(np.array([3, 1]), beta=0.0).tolist() == [1.0, 1.0]


def test_uniform_memory_is_untouched_by_per():
    assert type(train.make_agent(train.get_config(["--env-id", "CartPole-v1", "--buffer-size", "1000"]), (4,), 2).memory) is ReplayMemory
    agent = train.make_agent(train.get_config(["--env-id", "CartPole-v1", "--buffer-size", "1000", "--per"]), (4,), 2)
    assert isinstance(agent.memory, PrioritizedReplayMemory) and agent.memory.alpha == 0.6


def make_agent(agent_class, **changes):
    settings = dict(env_id="CartPole-v1", hidden=[16], batch_size=8, buffer_size=64, seed=0, learning_rate=1e-2,
                    total_steps=1000, double=True, per=True, per_alpha=0.7, per_beta=0.4, per_eps=0.01, n_steps=3)
    config = dataclasses.replace(train.get_config([]), **{**settings, **changes})
    torch.manual_seed(0)
    return agent_class(config, (4,), 2)


@pytest.mark.parametrize("agent_class", AGENTS)
def test_learn_weights_the_loss_and_updates_the_sampled_priorities(agent_class, monkeypatch):
    agent = make_agent(agent_class)
    rng = np.random.default_rng(0)
    for i in range(40):
        agent.push(rng.standard_normal(4), i % 2, float(rng.standard_normal()), rng.standard_normal(4),
                   i % 7 == 6, episode_over=i % 7 == 6)               # n-step windows, through Agent.push
    agent.memory.update_priorities(np.arange(len(agent.memory)), rng.uniform(0, 3, len(agent.memory)))
    agent.steps = 500                                                # beta = 0.4 + 0.6 * 500 / 1000 = 0.7
    drawn = []
    sample_indices = agent.memory.sample_indices
    monkeypatch.setattr(agent.memory, "sample_indices", lambda b: drawn.append(sample_indices(b)) or drawn[-1])
    m = agent.memory
    before = [p.detach().clone() for p in agent.q_network.parameters()]
    # by hand, from the networks before the step (rng of the memory is replayed on a copy to find the draw)
    preview = np.random.default_rng()
    preview.bit_generator.state = m.rng.bit_generator.state
    segment = m.tree.total / 8
    indices = np.minimum(m.tree.find((np.arange(8) + preview.random(8)) * segment), m.size - 1)
    obs, actions, rewards, next_obs, terminated, discounts = m.gather(indices)
    with torch.no_grad():
        a_star = agent.q_network(next_obs).argmax(1, keepdim=True)
        target = rewards + discounts * (1 - terminated) * agent.target_network(next_obs).gather(1, a_star).squeeze(1)
        q = agent.q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        probabilities = torch.from_numpy(m.tree[indices] / m.tree.total)
        weights = (len(m) * probabilities) ** -0.7
        weights = (weights / weights.max()).float()
        expected_loss = (weights * F.smooth_l1_loss(q, target, reduction="none")).mean().item()
    loss, _ = agent.learn(1)
    assert drawn[0].tolist() == indices.tolist()
    assert loss == pytest.approx(expected_loss, rel=1e-5)          # importance-weighted, with the annealed beta
    assert not torch.allclose(weights, torch.ones(8))                # (so weighting made a difference)
    new = (np.abs((target - q).numpy().astype(np.float64)) + 0.01) ** 0.7
    last = {int(i): k for k, i in enumerate(indices)}                # a repeated draw: its last TD error
    for i, k in last.items():
        assert m.tree[i] == pytest.approx(new[k], rel=1e-5)
    assert not all(torch.equal(a, b) for a, b in zip(before, agent.q_network.parameters()))
    assert agent.gradient_steps == 1


@pytest.mark.parametrize("agent_class", AGENTS)
def test_beta_is_annealed_to_one_over_the_run(agent_class):
    agent = make_agent(agent_class, per_beta=0.4, total_steps=1000)
    assert agent.beta() == pytest.approx(0.4)
    agent.steps = 250
    assert agent.beta() == pytest.approx(0.55)
    agent.steps = 1000
    assert agent.beta() == 1.0


# ---------- dueling ----------

def test_dueling_aggregation_by_hand():
    net = QNetwork(2, 3, hidden=(), dueling=True)
    with torch.no_grad():
        net.value.weight.copy_(torch.tensor([[1.0, 0.0]]))
        net.value.bias.fill_(0.5)
        net.advantage.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        net.advantage.bias.zero_()
    # obs (2, 4): V = 2 + 0.5 = 2.5; A = (2, 4, 6), mean 4; Q = V + A - mean A = (0.5, 2.5, 4.5)
    assert net(torch.tensor([[2.0, 4.0]])).tolist() == [[0.5, 2.5, 4.5]]


@pytest.mark.parametrize("kind", ["mlp", "lstm"])
def test_dueling_q_averages_to_the_value_stream(kind):
    torch.manual_seed(0)
    net = QNetwork(5, 4, (16, 8), dueling=True) if kind == "mlp" else LSTMQNetwork(5, 4, (16, 8), dueling=True)
    head = net if kind == "mlp" else net.head
    values = []
    head.value.register_forward_hook(lambda module, args, out: values.append(out))
    x = torch.randn(6, 5) if kind == "mlp" else torch.randn(6, 3, 5)
    q = net(x)
    assert q.shape == (6, 4)
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), values[0])  # mean_a Q(s, a) = V(s)


def test_options_off_keep_the_classic_network():
    keys = list(QNetwork(4, 2, (8, 8)).state_dict())
    assert keys == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight", "net.4.bias"]


# ---------- noisy nets ----------

def test_noisy_linear_factorised_noise_shapes():
    layer = NoisyLinear(5, 3)
    assert layer.weight_sigma.shape == (3, 5) and layer.bias_sigma.shape == (3,)
    assert torch.allclose(layer.weight_sigma, torch.full((3, 5), 0.5 / math.sqrt(5)))   # sigma_0 / sqrt(in)
    generator = torch.Generator().manual_seed(3)
    layer.reset_noise(generator)
    # by hand: 5 + 3 normal draws (eps_in first), f(x) = sign(x) sqrt(|x|), eps_w = outer(f(eps_out), f(eps_in))
    draws = torch.randn(8, generator=torch.Generator().manual_seed(3))
    f = draws.sign() * draws.abs().sqrt()
    torch.testing.assert_close(layer.weight_epsilon, torch.outer(f[5:], f[:5]))
    torch.testing.assert_close(layer.bias_epsilon, f[5:])
    assert torch.linalg.matrix_rank(layer.weight_epsilon) == 1


def test_noisy_linear_mean_path_is_deterministic_and_noise_path_is_not():
    torch.manual_seed(0)
    layer, x = NoisyLinear(4, 3), torch.randn(2, 4)
    layer.reset_noise()
    noisy_1 = layer(x)
    layer.reset_noise()
    noisy_2 = layer(x)
    assert not torch.allclose(noisy_1, noisy_2)                     # training mode: the noise shows
    torch.testing.assert_close(noisy_2, x @ (layer.weight_mu + layer.weight_sigma * layer.weight_epsilon).T
                               + layer.bias_mu + layer.bias_sigma * layer.bias_epsilon)
    layer.eval()
    mean_1 = layer(x)
    layer.reset_noise()
    torch.testing.assert_close(layer(x), mean_1)                    # eval mode: the mean weights only
    torch.testing.assert_close(mean_1, x @ layer.weight_mu.T + layer.bias_mu)


def test_noisy_replaces_the_layers_after_the_first():
    kinds = [type(m).__name__ for m in QNetwork(4, 2, (8, 8), noisy=True).modules() if m.__class__ is not QNetwork]
    assert [k for k in kinds if k != "ReLU" and k != "Sequential"] == ["Linear", "NoisyLinear", "NoisyLinear"]
    dueling = QNetwork(4, 2, (8, 8), dueling=True, noisy=True)
    assert isinstance(dueling.value, NoisyLinear) and isinstance(dueling.advantage, NoisyLinear)
    lstm = LSTMQNetwork(4, 2, (8,), noisy=True)                     # after the LSTM, the head is noisy
    assert isinstance(lstm.head.net[-1], NoisyLinear)
    assert mean_abs_sigma(QNetwork(4, 2, (8,), noisy=True)) == pytest.approx(0.5 / math.sqrt(8))
    assert math.isnan(mean_abs_sigma(QNetwork(4, 2, (8,))))


@pytest.mark.parametrize("agent_class", AGENTS)
def test_noisy_agent_acts_at_random_while_the_memory_warms_up_and_never_after(agent_class, monkeypatch):
    """--noisy: the first learning_starts steps act uniformly at random (from noise alone a new network can
    take one action in every state, and never learn the others' values); from then on, never."""
    agent = make_agent(agent_class, noisy=True, dueling=True, per=False, hidden=[16, 16], learning_starts=12,
                       epsilon_start=0.5)
    env = train.make_env(agent.config)
    random_actions = []
    original = agent.rng.randrange
    monkeypatch.setattr(agent.rng, "randrange", lambda n: random_actions.append(agent.steps) or original(n))
    agent.collect_rollouts(env, 12)
    assert random_actions == list(range(12))  # every warm-up step, whatever epsilon_start says
    assert agent.epsilon == 0.0
    agent.collect_rollouts(env, 30)
    assert random_actions == list(range(12))  # none after: the noise explores
    assert agent.epsilon == 0.0


@pytest.mark.parametrize("agent_class", AGENTS)
def test_noisy_agent_explores_by_noise_and_evaluates_on_the_mean(agent_class, monkeypatch):
    agent = make_agent(agent_class, noisy=True, dueling=True, per=False, epsilon_start=1.0, hidden=[16, 16],
                       learning_starts=0)
    env = train.make_env(agent.config)
    assert agent.epsilon == 0.0
    monkeypatch.setattr(agent.rng, "random", lambda: 0.0)          # any epsilon > 0 would now act at random
    monkeypatch.setattr(agent.rng, "randrange", lambda n: pytest.fail("a random action with --noisy"))
    draws = []
    original = NoisyLinear.reset_noise
    monkeypatch.setattr(NoisyLinear, "reset_noise", lambda self, g=None: draws.append(self) or original(self, g))
    agent.collect_rollouts(env, 30)
    assert agent.epsilon == 0.0
    n_noisy = sum(isinstance(m, NoisyLinear) for m in agent.q_network.modules())   # 3: hidden 2, V, A
    assert n_noisy == 3 and len(draws) == 30 * n_noisy                # a fresh draw for every acting step
    draws.clear()
    agent.learn(4)
    assert len(draws) == 4 * 2 * n_noisy                              # every minibatch, online and target
    # greedy evaluation: the mean weights, whatever the current noise, and training mode again afterwards;
    # large sigmas, so that acting on noisy weights would pick other actions
    with torch.no_grad():
        for module in agent.q_network.modules():
            if isinstance(module, NoisyLinear):
                module.weight_sigma.fill_(2.0)
                module.bias_sigma.fill_(2.0)
    reset_noise(agent.q_network)
    mean_network = QNetwork(4, 2, (16, 16), dueling=True)
    mean_network.load_state_dict({k.replace("_mu", ""): v for k, v in agent.q_network.state_dict().items()
                                  if "sigma" not in k and "epsilon" not in k})
    seen = []

    class Recorder:
        def __init__(self, env):
            self.env = env

        def reset(self, seed=None):
            obs, info = self.env.reset(seed=seed)
            seen.append(obs)
            return obs, info

        def step(self, action):
            with torch.no_grad():
                assert action == int(mean_network(torch.as_tensor(seen[-1])).argmax())
            obs, *rest = self.env.step(action)
            seen.append(obs)
            return (obs, *rest)

    first = agent.evaluate(Recorder(train.make_env(agent.config)), 2, seed=1)
    reset_noise(agent.q_network)
    assert agent.evaluate(Recorder(train.make_env(agent.config)), 2, seed=1) == first
    assert agent.q_network.training

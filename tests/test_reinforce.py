"""The REINFORCE controller strategy (strategies/reinforce.py): seeding, learning, failures, resume, arguments."""
import json
import math

import numpy as np
import pytest
import torch
from conftest import drive

from nni_effnas.space import CategoricalSpace
from nni_effnas.strategies import STRATEGIES, create_strategy
from nni_effnas.strategies.reinforce import REINFORCE

pytestmark = pytest.mark.usefixtures("one_thread")


def toy_reward(sample):
    """The contract tests' toy objective: unique optimum at a=3, b='z', c=True."""
    return sample["a"] + {"x": 0, "y": 1, "z": 2}[sample["b"]] + (0.5 if sample["c"] else 0)


@pytest.fixture(scope="module")
def wide_space():
    """5 labels of 5 choices (3125 samples): room to learn without running out of unseen samples."""
    return CategoricalSpace.from_dict({f"e{i}": list(range(5)) for i in range(5)})


def sum_reward(sample):
    return float(sum(sample.values()))


def params_of(strategy):
    return {name: t.detach().clone() for name, t in strategy.controller_.params.items()}


def same_params(a, b):
    return all(torch.equal(a[name], b[name]) for name in a)


def test_registered_with_aliases():
    for name in ("reinforce", "rl", "reinforce_controller"):
        assert STRATEGIES.get(name) is REINFORCE


def test_same_seed_same_trajectory_other_seed_another(toy_space):
    a = drive(create_strategy("reinforce", seed=5), toy_space, 30, toy_reward)
    b = drive(create_strategy("reinforce", seed=5), toy_space, 30, toy_reward)
    c = drive(create_strategy("reinforce", seed=6), toy_space, 30, toy_reward)
    assert a == b
    assert a != c


def test_the_global_torch_generator_is_never_used(toy_space):
    before = torch.random.get_rng_state()
    drive(create_strategy("reinforce", seed=0), toy_space, 15, toy_reward)
    assert torch.equal(before, torch.random.get_rng_state())


def test_learns_the_optimum_of_a_toy_objective(wide_space):
    strategy = create_strategy("reinforce", seed=0)
    strategy.setup(wide_space)
    start = strategy.probabilities()[4]
    rewards = []
    for _ in range(200):
        sample = strategy.ask()
        rewards.append(sum_reward(sample))
        strategy.tell(sample, rewards[-1])
    assert start == pytest.approx(0.2, abs=0.02)  # near uniform at the start
    assert strategy.probabilities()[4] > 0.5  # the best choice of the first label
    assert np.mean(rewards[-50:]) > np.mean(rewards[:50]) + 3  # out of a range of 0..20


def test_any_positive_affine_transform_of_the_rewards_gives_the_same_trajectory(toy_space):
    plain = drive(create_strategy("reinforce", seed=2), toy_space, 40, toy_reward)
    scaled = drive(create_strategy("reinforce", seed=2), toy_space, 40, lambda s: 100 * toy_reward(s) - 7)
    assert plain == scaled


def test_failed_and_non_finite_results_do_not_update(toy_space):
    strategy = create_strategy("reinforce", seed=1)
    strategy.setup(toy_space)
    first = strategy.ask()
    strategy.tell(first, 1.0)
    before, baseline = params_of(strategy), strategy.baseline
    for reward in (None, float("nan"), float("inf"), -float("inf")):
        strategy.tell(strategy.ask(), reward)
    assert same_params(before, params_of(strategy))
    assert strategy.baseline == baseline and strategy.updates == 0
    strategy.tell(strategy.ask(), 2.0)
    assert strategy.updates == 1 and not same_params(before, params_of(strategy))


def test_first_reward_and_a_constant_objective_make_no_update(toy_space):
    strategy = create_strategy("reinforce", seed=1)
    strategy.setup(toy_space)
    before = params_of(strategy)
    for _ in range(20):
        strategy.tell(strategy.ask(), 0.7)
    assert strategy.updates == 0 and strategy.baseline == 0.7
    assert same_params(before, params_of(strategy))


def test_failures_among_successes_keep_the_policy_finite(toy_space):
    """Labels of different sizes (4, 3, 2) exercise the padded log-softmax: no NaN may reach the weights."""
    strategy = create_strategy("reinforce", seed=3, batch_size=2)
    strategy.setup(toy_space)
    for i in range(60):
        sample = strategy.ask()
        strategy.tell(sample, None if i % 3 == 0 else toy_reward(sample))
    assert strategy.updates > 10
    assert all(torch.isfinite(t).all() for t in strategy.controller_.params.values())


def test_batches_update_once_per_batch_size_rewards(wide_space):
    strategy = create_strategy("reinforce", seed=0, batch_size=4)
    drive(strategy, wide_space, 12, sum_reward)
    assert strategy.updates == 3


@pytest.mark.parametrize("batch_size", [1, 3])
def test_state_dict_resumes_the_same_trajectory(toy_space, batch_size):
    full = drive(create_strategy("reinforce", seed=3, batch_size=batch_size), toy_space, 40, toy_reward)
    first = create_strategy("reinforce", seed=3, batch_size=batch_size)
    head = drive(first, toy_space, 25, toy_reward)  # 25 tells: with batch_size 3, one is pending
    state = json.loads(json.dumps(first.state_dict()))
    second = create_strategy("reinforce", seed=999, batch_size=batch_size)
    second.setup(toy_space)
    second.load_state_dict(state)
    tail = []
    for _ in range(15):
        sample = second.ask()
        tail.append(sample)
        second.tell(sample, toy_reward(sample))
    assert head + tail == full


def test_state_of_another_space_is_refused(toy_space, wide_space):
    strategy = create_strategy("reinforce", seed=0)
    drive(strategy, toy_space, 3, toy_reward)
    other = create_strategy("reinforce", seed=0)
    other.setup(wide_space)
    with pytest.raises(ValueError, match=r"label sizes \[4, 3, 2\]"):
        other.load_state_dict(strategy.state_dict())


def test_sampling_follows_the_controller_probabilities(wide_space):
    """The step-by-step sampler and the fused scorer compute the same distribution."""
    strategy = create_strategy("reinforce", seed=4)
    drive(strategy, wide_space, 40, sum_reward)  # a non-uniform policy
    draws = strategy.controller_.sample(np.random.default_rng(0).random((20000, 5)))
    first = strategy.probabilities()
    freq = np.bincount(draws[:, 0], minlength=5) / len(draws)
    assert freq == pytest.approx([first[k] for k in range(5)], abs=0.015)
    given = strategy.probabilities({"e0": 4})
    rows = draws[draws[:, 0] == 4]
    freq = np.bincount(rows[:, 1], minlength=5) / len(rows)
    assert freq == pytest.approx([given[k] for k in range(5)], abs=0.03)
    assert sum(strategy.probabilities({"e0": 0, "e1": 2}).values()) == pytest.approx(1.0)


def test_probabilities_of_labels_with_fewer_choices_sum_to_one(toy_space):
    strategy = create_strategy("reinforce", seed=0)
    drive(strategy, toy_space, 10, toy_reward)
    assert set(strategy.probabilities({"a": 1})) == {"x", "y", "z"}
    for prefix in ({}, {"a": 1}, {"a": 3, "b": "z"}):
        assert sum(strategy.probabilities(prefix).values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="prefix must fix the first labels"):
        strategy.probabilities({"b": "x"})


def test_resampling_avoids_seen_and_infeasible_samples(toy_space):
    unique = drive(create_strategy("reinforce", seed=0, resample=50), toy_space, 12, toy_reward)
    assert len({toy_space.key(s) for s in unique}) == 12
    plain = drive(create_strategy("reinforce", seed=0, resample=0), toy_space, 30, toy_reward)
    assert len({toy_space.key(s) for s in plain}) < 24  # 30 draws from 24 samples repeat
    feasible = drive(create_strategy("reinforce", seed=0, resample=30), toy_space, 12, toy_reward,
                     feasible=lambda s: s["a"] != 0)
    assert all(s["a"] != 0 for s in feasible)


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden_size": 0}, "hidden_size must be an int >= 1, got 0"),
    ({"hidden_size": 32.0}, "hidden_size must be an int >= 1, got 32.0"),
    ({"batch_size": True}, "batch_size must be an int >= 1, got True"),
    ({"resample": -1}, "resample must be an int >= 0, got -1"),
    ({"lr": 0}, "lr must be a finite number > 0, got 0"),
    ({"lr": math.nan}, "lr must be a finite number > 0, got nan"),
    ({"entropy_weight": -0.1}, "entropy_weight must be a finite number >= 0, got -0.1"),
    ({"baseline_decay": 1.0}, r"baseline_decay must be in \[0, 1\), got 1.0"),
    ({"temperature": "hot"}, "temperature must be a finite number > 0, got 'hot'"),
    ({"tanh_constant": 0.0}, "tanh_constant must be a finite number > 0, got 0.0"),
])
def test_bad_arguments_raise_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        create_strategy("reinforce", **kwargs)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="bad arguments for strategy 'reinforce'"):
        create_strategy("reinforce", learning_rate=0.1)


def test_ask_before_setup_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"setup\(space\) must be called"):
        REINFORCE(seed=0).ask()

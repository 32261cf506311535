"""Multi-objective strategies: Optuna's NSGA-II / NSGA-III / MOTPE wrappers and mo_bananas (EHVI)."""
import json
import logging

import numpy as np
import pytest
from conftest import additive_reward, drive

from nni_effnas.loop import run_search
from nni_effnas.nb201 import load_table
from nni_effnas.pareto import non_dominated
from nni_effnas.strategies import STRATEGIES, create_strategy
from nni_effnas.strategies.mo_bananas import MOBananas, expected_hv_improvement
from nni_effnas.strategies.multiobjective import resolve_cost_model
from nni_effnas.tabular import TabularBenchmark

FAST = {"predictor_args": {"epochs": 20}}


def toy_cost(sample):
    """Larger ``a`` and ``b`` cost more: accuracy and cost conflict on the toy space."""
    return 1.0 + sample["a"] + 0.5 * {"x": 0, "y": 1, "z": 2}[sample["b"]]


def run(strategy, space, n, *, feasible=None, report_cost=True):
    """``n`` steps on the toy space; trials report their ``latency_ms`` unless ``report_cost`` is false."""
    metrics = (lambda s: {"latency_ms": toy_cost(s)}) if report_cost else (lambda s: {})
    return drive(strategy, space, n, additive_reward, feasible=feasible, metrics=metrics)


def test_cost_model_specs():
    table = load_table()
    latency = resolve_cost_model("nb201:latency:pixel2")
    params = resolve_cost_model("nb201:params@cifar100")
    sample = table.sample(123)
    assert latency(sample) == pytest.approx(table.query(123)["latency_ms"]["pixel2"])
    assert params(sample) == pytest.approx(table.query(123, "cifar100")["params_M"])
    from nni_effnas.costs.nb201_counts import nb201_flops_M

    assert resolve_cost_model("nb201:flops@imagenet16")(sample) == pytest.approx(nb201_flops_M(sample, dataset="imagenet16"))
    assert resolve_cost_model(toy_cost) is toy_cost and resolve_cost_model(None) is None
    with pytest.raises(ValueError, match="unknown latency device 'nope'"):
        resolve_cost_model("nb201:latency:nope")
    with pytest.raises(ValueError, match="bad cost_model 'flops'"):
        resolve_cost_model("flops")


@pytest.mark.parametrize("name", ["nsga2", "nsga3", "motpe"])
def test_optuna_samplers_record_both_objectives_and_resume(name, toy_space):
    args = {"sampler_args": {"population_size": 4}} if name.startswith("nsga") else {}
    strategy = create_strategy(name, seed=0, **args)
    asked = run(strategy, toy_space, 12)
    distinct = {toy_space.key(s) for s in asked}  # Optuna may propose a sample twice: one observation
    assert len(strategy.observations) == len(distinct)
    assert all(c == toy_cost(s) for s, _, c in strategy.observations)
    trials = strategy.study.get_trials()
    assert [t.values for t in trials] == [[additive_reward(s), toy_cost(s)] for s in asked]
    points = [(r, c) for _, r, c in strategy.observations]
    expected = {(r, c) for (r, c), keep in zip(points, non_dominated(points)) if keep}
    assert {(r, c) for _, r, c in strategy.front()} == expected
    state = json.loads(json.dumps(strategy.state_dict()))
    restored = create_strategy(name, seed=7, **args)
    restored.setup(toy_space)
    restored.load_state_dict(state)
    assert len(restored.study.get_trials()) == len(distinct) and restored.front() == strategy.front()
    assert restored.ask() is not None


def test_nsga3_builds_without_warning_and_starts_like_nsga2(toy_space):
    """Optuna marks NSGA-III experimental (warned once per sampler: silenced); its first generation is the same
    random draw as NSGA-II's for the same seed (what the 10 % benchmark rows show)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nsga3 = create_strategy("nsga3", seed=3)
        first = run(nsga3, toy_space, 6)
    assert first == run(create_strategy("nsga2", seed=3), toy_space, 6)


def test_failed_trials_and_missing_costs_are_not_observations(toy_space, caplog):
    strategy = create_strategy("nsga2", seed=0, sampler_args={"population_size": 4})
    strategy.setup(toy_space)
    first = strategy.ask()
    strategy.tell(first, None)
    second = strategy.ask()
    with caplog.at_level(logging.WARNING):
        strategy.tell(second, 3.0, {})
    assert strategy.observations == [] and "no finite 'latency_ms'" in caplog.text
    assert [t.state.name for t in strategy.study.get_trials()] == ["FAIL", "FAIL"]
    with_model = create_strategy("motpe", seed=0, cost_model=toy_cost)
    run(with_model, toy_space, 3, report_cost=False)
    assert [c for _, _, c in with_model.observations] == [toy_cost(s) for s, _, _ in with_model.observations]


def test_constraint_is_respected_when_feasible_samples_exist(toy_space):
    feasible = lambda s: toy_cost(s) <= 3.0  # noqa: E731
    strategy = create_strategy("nsga2", seed=1, sampler_args={"population_size": 4})
    asked = run(strategy, toy_space, 10, feasible=feasible)
    assert all(feasible(s) for s in asked)


def test_expected_hv_improvement_matches_monte_carlo():
    front = np.array([[80.0, 2.0], [90.0, 5.0]])
    reference = (70.0, 10.0)
    mean, std, cost = np.array([85.0, 95.0, 60.0, 88.0]), np.array([3.0, 1.0, 5.0, 0.0]), np.array([1.0, 6.0, 1.0, 3.0])

    def improvement(draws, c):  # area each draw adds to the front's dominated region, sweeping the cost axis
        grid = np.linspace(c, reference[1], 4001)[:-1] + (reference[1] - c) / 8000
        attained = np.array([max([reference[0]] + [fr for fr, fc in front if fc <= x]) for x in grid])
        return np.maximum(draws[:, None] - attained[None, :], 0).mean(axis=1) * (reference[1] - c)

    rng = np.random.default_rng(0)
    exact = expected_hv_improvement(mean, std, cost, front, reference)
    for i in range(len(mean)):
        draws = rng.normal(mean[i], std[i], 4000) if std[i] > 0 else np.array([mean[i]])
        sampled = improvement(draws, cost[i]).mean()
        assert exact[i] == pytest.approx(sampled, rel=0.08, abs=0.05)
    assert exact[3] == pytest.approx((88 - 80) * (5 - 3))  # deterministic: the step up to the next front point
    assert expected_hv_improvement(mean, std, np.full(4, 11.0), front, reference).tolist() == [0, 0, 0, 0]


def test_mo_bananas_needs_a_cost_model_and_spreads_its_initial_samples(toy_space):
    with pytest.raises(ValueError, match="needs a cost_model"):
        create_strategy("mo_bananas", seed=0)
    with pytest.raises(ValueError, match="acquisition"):
        create_strategy("mo_bananas", seed=0, cost_model=toy_cost, acquisition="ei")
    assert STRATEGIES.get("ehvi") is MOBananas
    strategy = create_strategy("mo_bananas", seed=0, cost_model=toy_cost, initial=4, **FAST)
    asked = run(strategy, toy_space, 24)
    costs = sorted(toy_cost(s) for s in asked[:4])
    assert costs[0] <= 2.0 and costs[-1] >= 4.5  # the cheapest and the costliest quarter of the pool
    keys = [toy_space.key(s) for s in asked]
    assert len(set(keys)) == len(keys) == 24 and strategy.ask() is None  # the whole space, never twice


def test_mo_bananas_resumes_the_same_trajectory(toy_space):
    args = {"cost_model": toy_cost, "initial": 3, **FAST}
    full = run(create_strategy("mo_bananas", seed=5, **args), toy_space, 10)
    first = create_strategy("mo_bananas", seed=5, **args)
    head = run(first, toy_space, 6)
    state = json.loads(json.dumps(first.state_dict()))
    second = create_strategy("mo_bananas", seed=1, **args)
    second.setup(toy_space)
    second.load_state_dict(state)
    tail = []
    for _ in range(4):
        tail.append(second.ask())
        second.tell(tail[-1], additive_reward(tail[-1]), {"latency_ms": toy_cost(tail[-1])})
    assert head + tail == full
    assert len(second.observations) == 10


def test_mo_bananas_finds_a_better_front_than_random_on_nb201():
    from nni_effnas.bench_multiobjective import device_reference, front_ratios, nb201_devices, _evaluator

    bench = TabularBenchmark.nb201("cifar10")
    device = nb201_devices(bench, "pixel2")[0]
    ref = device_reference(bench, device)
    ratios = {}
    for name in ("random", "mo_bananas"):
        args = {"cost_model": "nb201:latency:pixel2", **FAST} if name == "mo_bananas" else {}
        ratios[name] = np.mean([front_ratios(run_search(create_strategy(name, seed=s, **args), bench.space,
                                                        _evaluator(bench, device), max_trials=20),
                                             ref["scale"], ref["true_hv"])[0] for s in range(5)])
    assert ratios["mo_bananas"] > ratios["random"] + 0.05


@pytest.mark.parametrize("name", ["nsga2", "optuna_tpe"])
def test_a_constraint_that_rejects_everything_does_not_break_the_study(name, toy_space):
    strategy = create_strategy(name, seed=0)
    strategy.setup(toy_space, feasible=lambda s: False)
    for _ in range(2):
        sample = strategy.ask()  # 100 infeasible proposals; the last one comes back untold
        strategy.tell(sample, None)  # the loop rejects it: told as a failure, no "cannot tell a FAIL trial"
    assert {t.state.name for t in strategy.study.get_trials()} == {"FAIL"}


def test_a_sample_told_twice_is_one_observation_and_bad_costs_fall_back_to_the_model(toy_space):
    strategy = create_strategy("motpe", seed=0, cost_model=toy_cost)
    strategy.setup(toy_space)
    sample = strategy.ask()
    strategy.tell(sample, 2.0, {"latency_ms": "fast"})  # not a number: the cost model's value
    strategy.tell(sample, 2.0, {"latency_ms": 1.0})
    assert strategy.observations == [(sample, 2.0, toy_cost(sample))]

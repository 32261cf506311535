import pytest

from nni_effnas.api import search
from nni_effnas.nb201 import load_table


def test_benchmark_search_in_process():
    res = search(strategy="evolution", space="nb201", evaluator="benchmark",
                 evaluator_args={"dataset": "cifar10"}, time_budget_s=20_000, seed=0)
    assert 100 < len(res.trials) < 300
    best = res.best
    assert best.metrics["test_acc"] == pytest.approx(load_table().query(best.metrics["index"])["test_acc_200ep"], abs=1e-4)
    assert best.metrics["test_acc"] > 92.0
    assert res.clock_s >= 20_000


def test_same_seed_same_result():
    a = search(strategy="random", max_trials=15, seed=4)
    b = search(strategy="random", max_trials=15, seed=4)
    assert [t.sample for t in a.trials] == [t.sample for t in b.trials]


def test_checkpointed_search_resumes(tmp_path):
    ckpt = tmp_path / "run.json"
    search(strategy="evolution", max_trials=12, seed=2, checkpoint=ckpt)
    more = search(strategy="evolution", max_trials=30, seed=2, checkpoint=ckpt)
    full = search(strategy="evolution", max_trials=30, seed=2)
    assert [t.sample for t in more.trials] == [t.sample for t in full.trials]
    with pytest.raises(ValueError, match=r"was written with evaluator_args=\{\}, this search has "
                                         r"evaluator_args=\{'dataset': 'cifar100'\}"):
        search(strategy="evolution", max_trials=40, seed=2, checkpoint=ckpt, evaluator_args={"dataset": "cifar100"})
    assert len(search(strategy="evolution", max_trials=30, seed=2, checkpoint=ckpt, evaluator="bench").trials) == 30


@pytest.mark.parametrize("kwargs, message", [
    ({"space": "nasbench101"}, "unknown search space 'nasbench101'"),
    ({"strategy": "no_such_strategy"}, "unknown strategy 'no_such_strategy'"),
    ({"evaluator": "oracle"}, "unknown evaluator 'oracle'"),
    ({"evaluator_args": {"dataset": "svhn"}}, "unknown NAS-Bench-201 dataset 'svhn'"),
    ({"evaluator_args": {"epochs": 3}}, "bad arguments for evaluator 'benchmark'"),
    ({"space": "darts"}, "the benchmark evaluator has no table for space 'darts'"),  # before any trial, not each
    ({"strategy_args": {"seed": 1}}, "strategy_args must not set seed"),
    ({"strategy_args": [1]}, "strategy_args must be a dict"),
    ({"max_trials": "3"}, "max_trials must be an int >= 0, got '3'"),
    ({"time_budget_s": float("nan")}, "time_budget_s must be a finite number >= 0"),
])
def test_bad_names_are_clear(kwargs, message):
    with pytest.raises(ValueError, match=message):
        search(**{"max_trials": 1, **kwargs})


def test_search_with_a_constraint_and_a_zero_cost_strategy():
    from nni_effnas.nb201 import load_table

    table = load_table()
    small = lambda s: table.query(s, "cifar10")["params_M"] <= 0.5  # noqa: E731
    result = search(strategy="zero_cost_warmup", strategy_args={"proxies": "params", "pool_size": 20, "warmup": 3,
                                                               "model_kwargs": {"channels": 4, "num_cells": 1},
                                                               "cache": False},
                    evaluator_args={"dataset": "cifar10"}, max_trials=6, seed=0, feasible=small)
    assert len(result.trials) == 6
    assert all(small(t.sample) for t in result.trials)
    warm = [t.metrics["params_M"] for t in result.trials[:3]]
    assert warm == sorted(warm, reverse=True)  # the warmup proposes the pool's largest feasible cells first

import json
import math

import pytest

from nni_effnas.loop import FAILED, SUCCEEDED, run_search
from nni_effnas.strategies import create_strategy


def objective(sample):
    return {"default": float(sample["a"]), "cost": 10.0}


def test_time_budget_counts_the_crossing_trial(toy_space):
    res = run_search(create_strategy("random", seed=0), toy_space, objective, time_budget_s=95.0)
    # 10 s per trial: after 9 trials the clock is ~90 < 95, the 10th crosses the budget and still counts
    assert len(res.trials) == 10
    assert res.clock_s == pytest.approx(100.0, abs=0.5)
    assert all(t.status == SUCCEEDED for t in res.trials)


def test_clock_includes_strategy_compute(toy_space):
    res = run_search(create_strategy("random", seed=0), toy_space, objective, max_trials=5)
    assert res.strategy_time_s > 0
    assert res.clock_s == pytest.approx(50.0 + res.strategy_time_s)
    assert [t.clock_s for t in res.trials] == sorted(t.clock_s for t in res.trials)


def test_wall_clock_when_no_cost_is_reported(toy_space):
    res = run_search(create_strategy("random", seed=0), toy_space, lambda s: {"default": 1.0}, max_trials=3)
    assert all(0 <= t.cost_s < 1 for t in res.trials)


def test_failing_and_nan_trials_are_failed_and_search_goes_on(toy_space):
    calls = []

    def flaky(sample):
        calls.append(sample)
        if len(calls) % 3 == 1:
            raise RuntimeError("out of memory")
        if len(calls) % 3 == 2:
            return {"default": math.nan, "cost": 1.0}
        return {"default": 1.0, "cost": 1.0}

    res = run_search(create_strategy("regularized_evolution", seed=0, population_size=2, sample_size=1),
                     toy_space, flaky, max_trials=9)
    assert [t.status for t in res.trials] == [FAILED, FAILED, SUCCEEDED] * 3
    assert "RuntimeError: out of memory" in res.trials[0].error
    assert "'default' is nan" in res.trials[1].error
    assert res.best.reward == 1.0


@pytest.mark.parametrize("metrics, error", [
    ({"default": 1.0, "cost": "ten"}, "metric 'cost' is 'ten', expected a finite number >= 0"),
    ({"default": 1.0, "cost": math.nan}, "metric 'cost' is nan, expected a finite number >= 0"),
    ({"default": 1.0, "cost": -5.0}, "metric 'cost' is -5.0, expected a finite number >= 0"),
    ({"default": True, "cost": 1.0}, "metric 'default' is True, expected a finite number"),
    ({"default": "93.5", "cost": 1.0}, "metric 'default' is '93.5', expected a finite number"),
])
def test_a_bad_cost_or_reward_fails_the_trial_and_the_clock_stays_a_number(toy_space, metrics, error):
    calls = []

    def sometimes_bad(sample):
        calls.append(sample)
        return metrics if len(calls) == 2 else {"default": 1.0, "cost": 10.0}

    res = run_search(create_strategy("random", seed=0), toy_space, sometimes_bad, max_trials=3)
    assert [t.status for t in res.trials] == [SUCCEEDED, FAILED, SUCCEEDED]
    assert res.trials[1].error == error and res.trials[1].reward is None
    assert 0 <= res.trials[1].cost_s < 1 if "cost" in error else res.trials[1].cost_s == 1.0
    assert math.isfinite(res.clock_s) and res.clock_s >= 20.0


def test_constraint_rejects_before_evaluation_at_no_cost(toy_space):
    evaluated = []

    def ev(sample):
        evaluated.append(sample)
        return objective(sample)

    res = run_search(create_strategy("random", seed=0), toy_space, ev, max_trials=10,
                     feasible=lambda s: s["a"] < 2)
    assert all(s["a"] < 2 for s in evaluated)
    assert res.rejected > 0
    assert res.clock_s == pytest.approx(100.0 + res.strategy_time_s)


def test_infeasible_constraint_raises(toy_space):
    with pytest.raises(ValueError, match="rejected 50 samples in a row"):
        run_search(create_strategy("random", seed=0), toy_space, objective, max_trials=3,
                   feasible=lambda s: False, max_rejections=50)


def test_needs_a_stopping_rule(toy_space):
    with pytest.raises(ValueError, match="max_trials or time_budget_s"):
        run_search(create_strategy("random", seed=0), toy_space, objective)


def test_checkpoint_resume_continues_without_losing_results(toy_space, tmp_path):
    ckpt = tmp_path / "search.json"
    full = run_search(create_strategy("regularized_evolution", seed=5, population_size=3, sample_size=2),
                      toy_space, objective, max_trials=20)
    run_search(create_strategy("regularized_evolution", seed=5, population_size=3, sample_size=2),
               toy_space, objective, max_trials=8, checkpoint=ckpt)
    assert len(json.loads(ckpt.read_text())["trials"]) == 8
    resumed = run_search(create_strategy("regularized_evolution", seed=5, population_size=3, sample_size=2),
                         toy_space, objective, max_trials=20, checkpoint=ckpt)
    assert [t.sample for t in resumed.trials] == [t.sample for t in full.trials]
    assert not (tmp_path / "search.json.tmp").exists()


def test_checkpoint_of_another_strategy_is_refused(toy_space, tmp_path):
    ckpt = tmp_path / "search.json"
    run_search(create_strategy("random", seed=0), toy_space, objective, max_trials=2, checkpoint=ckpt)
    with pytest.raises(ValueError, match="written by strategy 'Random'"):
        run_search(create_strategy("regularized_evolution", seed=0), toy_space, objective, max_trials=4,
                   checkpoint=ckpt)


def test_corrupt_checkpoint_is_a_clear_error(toy_space, tmp_path):
    ckpt = tmp_path / "search.json"
    ckpt.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        run_search(create_strategy("random", seed=0), toy_space, objective, max_trials=2, checkpoint=ckpt)


def test_a_checkpoint_path_that_cannot_be_one_fails_before_the_first_trial(toy_space, tmp_path):
    calls = []

    def counted(sample):
        calls.append(sample)
        return objective(sample)

    with pytest.raises(ValueError, match="is a folder; expected a file path"):
        run_search(create_strategy("random", seed=0), toy_space, counted, max_trials=2, checkpoint=tmp_path)
    assert calls == []
    deep = tmp_path / "new" / "search.json"  # a missing folder is created
    run_search(create_strategy("random", seed=0), toy_space, counted, max_trials=2, checkpoint=deep)
    assert len(json.loads(deep.read_text())["trials"]) == 2


@pytest.mark.parametrize("content", ["[1, 2]", '{"trials": []}', '{"strategy": "Random"}'])
def test_a_file_that_is_not_a_checkpoint_is_refused_and_left_alone(toy_space, tmp_path, content):
    ckpt = tmp_path / "search.json"
    ckpt.write_text(content)
    with pytest.raises(ValueError, match="is not a search checkpoint"):
        run_search(create_strategy("random", seed=0), toy_space, objective, max_trials=2, checkpoint=ckpt)
    assert ckpt.read_text() == content


def test_a_checkpoint_of_another_search_space_is_refused(toy_space, tmp_path):
    from nni_effnas.space import CategoricalSpace

    ckpt = tmp_path / "search.json"
    run_search(create_strategy("random", seed=0), toy_space, objective, max_trials=2, checkpoint=ckpt)
    other = CategoricalSpace.from_dict({"a": [0, 1, 2, 3], "b": ["x", "y"], "c": [True, False]})
    with pytest.raises(ValueError, match="written for another search space"):
        run_search(create_strategy("random", seed=0), other, objective, max_trials=4, checkpoint=ckpt)

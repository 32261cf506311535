"""Pareto fronts and hypervolume (nni_effnas.pareto), the MnasNet reward (nni_effnas.objectives)."""
import logging

import numpy as np
import pytest

from nni_effnas.objectives import REWARD_KEY, best_feasible, mnasnet_evaluate, mnasnet_reward
from nni_effnas.pareto import FrontScale, hypervolume, hypervolume_ratio, non_dominated, pareto_front, selected_front


def brute_force_mask(points):
    """Row i is dominated when some row is at least as accurate and at most as costly, better in one."""
    p = np.asarray(points, float)
    return np.array([not any((q[0] >= r[0] and q[1] <= r[1]) and (q[0] > r[0] or q[1] < r[1]) for q in p) for r in p])


def grid_hypervolume(points, ref, steps=400):
    """Area dominated by minimised 2-D ``points`` inside ``ref``, counted on a fine grid."""
    xs = (np.arange(steps) + 0.5) / steps * ref[0]
    ys = (np.arange(steps) + 0.5) / steps * ref[1]
    X, Y = np.meshgrid(xs, ys)
    covered = np.zeros_like(X, dtype=bool)
    for a, b in points:
        covered |= (X >= a) & (Y >= b)
    return covered.mean() * ref[0] * ref[1]


def test_non_dominated_matches_brute_force():
    rng = np.random.default_rng(0)
    points = np.c_[rng.integers(0, 10, 60), rng.integers(0, 10, 60)].astype(float)
    assert (non_dominated(points) == brute_force_mask(points)).all()
    front = pareto_front(points)
    assert (np.diff(front[:, 1]) >= 0).all() and (np.diff(front[:, 0]) >= 0).all()


def test_hypervolume_is_the_dominated_area_in_normalised_coordinates():
    scale = FrontScale(acc_ideal=90.0, acc_nadir=80.0, cost_ideal=1.0, cost_nadir=3.0)
    # normalised: (0, 1), (0.5, 0.5), (1, 0)
    points = [(90.0, 3.0), (85.0, 2.0), (80.0, 1.0)]
    normal = scale.normalise(points)
    assert np.allclose(normal, [[0, 1], [0.5, 0.5], [1, 0]])
    assert hypervolume(points, scale) == pytest.approx(grid_hypervolume(normal, (1.1, 1.1)), abs=0.01)
    exact = 0.5 * 0.1 + 0.5 * 0.6 + 0.1 * 1.1  # by hand: strips along the first axis
    assert hypervolume(points, scale) == pytest.approx(exact, rel=1e-9)
    assert hypervolume([(70.0, 1.0), (95.0, 9.0)], scale) == 0.0  # beyond the reference point on one axis


def test_ratio_of_the_true_front_is_one_and_subsets_score_less():
    rng = np.random.default_rng(1)
    table = np.c_[rng.uniform(50, 95, 500), rng.uniform(1, 30, 500)]
    front = pareto_front(table)
    assert hypervolume_ratio(front, table) == pytest.approx(1.0)
    assert hypervolume_ratio(table, table) == pytest.approx(1.0)
    assert 0 < hypervolume_ratio(front[::2], table) < 1
    with pytest.raises(ValueError, match="non-finite point"):
        pareto_front([(1.0, float("nan"))])


def test_selected_front_uses_the_observed_values():
    observed = [(90, 1), (80, 2), (95, 3)]
    assert list(selected_front(observed, [1, 2, 3])) == [0, 2]
    with pytest.raises(ValueError, match="3 observed points but 2"):
        selected_front(observed, [1, 2])


def test_mnasnet_reward_follows_the_paper():
    # soft: twice the target latency costs 2**-0.07, about 4.7 %
    assert mnasnet_reward(80.0, 20.0, 10.0) == pytest.approx(80.0 * 2 ** -0.07)
    assert mnasnet_reward(80.0, 5.0, 10.0) == pytest.approx(80.0 * 0.5 ** -0.07)
    # hard: no bonus under the target, a steep penalty above it
    assert mnasnet_reward(80.0, 5.0, 10.0, alpha=0.0, beta=-1.0) == 80.0
    assert mnasnet_reward(80.0, 20.0, 10.0, alpha=0.0, beta=-1.0) == pytest.approx(40.0)
    for bad, match in (({"target": 0.0}, "target"), ({"cost": -1.0}, "cost")):
        args = {"accuracy": 80.0, "cost": 5.0, "target": 10.0, **bad}
        with pytest.raises(ValueError, match=match):
            mnasnet_reward(**args)


def test_mnasnet_evaluate_adds_the_reward_and_names_a_missing_cost():
    evaluate = mnasnet_evaluate(lambda s: {"default": 80.0, "latency": 20.0}, cost_metric="latency", target=10.0)
    assert evaluate({})[REWARD_KEY] == pytest.approx(80.0 * 2 ** -0.07)
    missing = mnasnet_evaluate(lambda s: {"default": 80.0}, cost_metric="latency", target=10.0)
    with pytest.raises(KeyError, match="no 'latency'"):
        missing({})


def test_best_feasible_returns_the_closest_when_nothing_meets_the_bound(caplog):
    trials = [{"reward": 90.0, "cost": 12.0}, {"reward": 70.0, "cost": 11.0}, {"reward": 95.0, "cost": 30.0}]
    best, ok = best_feasible(trials, bound=20.0, reward=lambda t: t["reward"], cost=lambda t: t["cost"])
    assert ok and best["reward"] == 90.0
    with caplog.at_level(logging.WARNING):
        closest, ok = best_feasible(trials, bound=5.0, reward=lambda t: t["reward"], cost=lambda t: t["cost"])
    assert not ok and closest["cost"] == 11.0
    assert "infeasible" in caplog.text and "11" in caplog.text
    assert best_feasible([], bound=5.0, reward=lambda t: 0, cost=lambda t: 0) == (None, False)

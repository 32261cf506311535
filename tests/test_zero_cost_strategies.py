"""ZeroCostPruning, ZeroCostWarmup and the move-proposal evolution: what they propose, what they charge."""
import numpy as np
import pytest
from conftest import ToyScorer
from conftest import drive as drive_with

from nni_effnas.loop import run_search
from nni_effnas.strategies import create_strategy
from nni_effnas.strategies.zero_cost_evolution import all_mutations
from nni_effnas.tabular import Constraint, TabularBenchmark

SMALL = {"channels": 4, "num_cells": 1}  # a small NB201 network: fast to score


def toy_reward(s):
    return float(s["a"]) * 10 + (s["b"] == "z")


def drive(strategy, space, n, feasible=None):
    return drive_with(strategy, space, n, toy_reward, feasible=feasible)


def test_pruning_searches_only_the_top_of_the_pool(toy_space):
    scorer = ToyScorer()
    st = create_strategy("zero_cost_pruning", seed=0, scorer=scorer, pool_size=12, keep=0.25)
    got = drive(st, toy_space, 50)
    assert len(st.pool) == 12 and len(st.survivors) == 3
    assert len(got) == 3, "the search ends once every survivor was proposed"
    assert sorted(map(toy_space.key, got)) == sorted(map(toy_space.key, st.survivors))
    worst_kept = min(scorer.value(s) for s in st.survivors)
    dropped = [scorer.value(s) for s in st.pool if toy_space.key(s) not in set(map(toy_space.key, st.survivors))]
    assert worst_kept >= max(dropped)


def test_pruning_pool_respects_the_constraint(toy_space):
    feasible = lambda s: s["a"] <= 1  # noqa: E731
    st = create_strategy("zero_cost_pruning", seed=0, scorer=ToyScorer(), pool_size=100, keep=1.0)
    got = drive(st, toy_space, 100, feasible=feasible)
    assert all(feasible(s) for s in st.pool)
    assert len(st.pool) == 12  # every feasible sample of the toy space, once
    assert len({toy_space.key(s) for s in got}) == len(got) == 12


def test_pruning_with_evolution_projects_proposals_onto_survivors(toy_space):
    st = create_strategy("zero_cost_pruning", seed=3, scorer=ToyScorer(), pool_size=24, keep=0.5,
                         base="regularized_evolution", base_args={"population_size": 3, "sample_size": 2})
    got = drive(st, toy_space, 30)
    survivors = {toy_space.key(s) for s in st.survivors}
    assert len(got) == 12 and {toy_space.key(s) for s in got} == survivors
    assert len(st.base.population) == 3


def test_warmup_proposes_the_best_of_the_pool_first_then_hands_over(toy_space):
    scorer = ToyScorer()
    st = create_strategy("zero_cost_warmup", seed=0, scorer=scorer, pool_size=24,
                         base_args={"population_size": 4, "sample_size": 2})
    got = drive(st, toy_space, 10)
    assert st.warmup == 4
    first = [scorer.value(s) for s in got[:4]]
    assert first == sorted(first, reverse=True)
    assert first[0] == max(scorer.value(s) for s in toy_space_all(toy_space))
    # the evolution's population was seeded with the warmup samples
    assert len(st.base.population) == 4
    assert len(got) == 10


def toy_space_all(space):
    return [space.decode(c) for c in np.ndindex(*[len(v) for _, v in space.choices])]


def test_move_proposal_picks_the_best_unseen_mutation(toy_space):
    scorer = ToyScorer()
    st = create_strategy("zero_cost_evolution", seed=1, scorer=scorer, population_size=3, sample_size=3)
    st.setup(toy_space)
    seen = []
    for _ in range(3):
        s = st.ask()
        seen.append(toy_space.key(s))
        st.tell(s, toy_reward(s), None)
    parent = max(st.population, key=lambda m: m[1])[0]  # sample_size == population_size: the best is the parent
    child = st.ask()
    options = [c for c in all_mutations(parent, toy_space) if toy_space.key(c) not in seen]
    assert scorer.value(child) == max(scorer.value(c) for c in options)
    assert toy_space.key(child) not in seen


def test_bad_arguments_fail_at_construction():
    with pytest.raises(ValueError, match="keep"):
        create_strategy("zero_cost_pruning", keep=0)
    with pytest.raises(ValueError, match="pool_size"):
        create_strategy("zero_cost_warmup", pool_size=0)
    with pytest.raises(ValueError, match="nonsense"):
        create_strategy("zero_cost_pruning", proxies="nonsense")
    with pytest.raises(ValueError, match="no_such_base"):
        create_strategy("zero_cost_warmup", base="no_such_base")
    with pytest.raises(ValueError, match="candidates"):
        create_strategy("zero_cost_evolution", candidates=0)


def test_infeasible_constraint_is_a_clear_error(toy_space):
    st = create_strategy("zero_cost_pruning", seed=0, scorer=ToyScorer(), pool_size=5)
    st.setup(toy_space, feasible=lambda s: False)
    with pytest.raises(ValueError, match="no feasible sample"):
        st.ask()


# --- on NAS-Bench-201 with real proxies (small networks) -----------------------------------------------------
@pytest.fixture(scope="module")
def bench():
    return TabularBenchmark.nb201("cifar10")


def test_cached_scores_are_charged_at_their_recorded_cost(bench, tmp_path):
    cache = tmp_path / "zc.sqlite"

    def run():
        st = create_strategy("zero_cost_warmup", seed=5, proxies="synflow", pool_size=15, warmup=3,
                             model_kwargs=SMALL, cache=str(cache))
        return st, run_search(st, bench.space, bench.evaluate, max_trials=6)

    first, r1 = run()
    second, r2 = run()
    assert first.scorer.computed_s > 0 and first.reused_compute_s() == pytest.approx(0.0, abs=1e-9)
    assert second.scorer.computed_s == 0.0
    recorded = sum(sec for entry in first.scorer._memory.values() for _, sec in entry.values())
    assert second.reused_compute_s() == pytest.approx(recorded)  # the first also paid once for its proxy batch
    assert [t.sample for t in r1.trials] == [t.sample for t in r2.trials]
    costs = sum(t.cost_s for t in r2.trials)
    assert r2.clock_s >= costs + recorded


def test_resume_from_a_checkpoint_continues_the_same_search(bench, tmp_path):
    def strategy():
        return create_strategy("zero_cost_pruning", seed=2, proxies="synflow", pool_size=20, keep=0.5,
                               base="regularized_evolution", base_args={"population_size": 3, "sample_size": 2},
                               model_kwargs=SMALL, cache=str(tmp_path / "zc.sqlite"))

    full = run_search(strategy(), bench.space, bench.evaluate, max_trials=8)
    ckpt = tmp_path / "ckpt.json"
    run_search(strategy(), bench.space, bench.evaluate, max_trials=4, checkpoint=ckpt)
    resumed_strategy = strategy()
    resumed = run_search(resumed_strategy, bench.space, bench.evaluate, max_trials=8, checkpoint=ckpt)
    assert [t.sample for t in resumed.trials] == [t.sample for t in full.trials]
    assert resumed_strategy.reused_compute_s() + resumed_strategy.scorer.computed_s > 0


def test_constrained_move_proposals_are_all_feasible(bench):
    feasible = Constraint.parse("params<=MEDIAN").feasible(bench)
    st = create_strategy("zero_cost_evolution", seed=0, proxies="synflow,params", candidates=4,
                         population_size=3, sample_size=2, model_kwargs=SMALL, cache=False)
    proposed = []
    ask = st.ask
    st.ask = lambda: proposed.append((len(st.population), ask())) or proposed[-1][1]
    run_search(st, bench.space, bench.evaluate, max_trials=8, feasible=feasible)
    mutations = [s for filled, s in proposed if filled >= 3]
    assert len(mutations) >= 4 and all(feasible(s) for s in mutations)


def test_bench_search_runs_zero_cost_strategies_with_strategy_args(bench, tmp_path):
    from nni_effnas.bench_search import run_benchmark

    args = {"zero_cost_warmup": {"proxies": "synflow", "pool_size": 10, "warmup": 2, "model_kwargs": SMALL,
                                 "cache": str(tmp_path / "zc.sqlite")}}
    report = run_benchmark(bench, ["zero_cost_warmup", "random"], seeds=2, budget_frac=0.01, strategy_args=args)
    zc = report["strategies"]["zero_cost_warmup"]
    assert zc["seeds"] == 2 and zc["strategy_s_mean"] > 0
    assert report["strategy_args"]["zero_cost_warmup"]["pool_size"] == 10
    with pytest.raises(ValueError, match="not among the strategies"):
        run_benchmark(bench, ["random"], seeds=1, budget_frac=0.01, strategy_args=args)


def test_nni_tuner_adapter_runs_zero_cost_warmup(tmp_path):
    from nni_effnas.nni_tuner import tuner_class
    from nni_effnas.search_spaces import get_space

    space = get_space("nb201").categorical()
    tuner = tuner_class("zero_cost_warmup")(seed=0, proxies="synflow", pool_size=8, warmup=2,
                                             model_kwargs=SMALL, cache=False)
    tuner.update_search_space(space.to_nni())
    proposals = []
    for pid in range(4):
        p = tuner.generate_parameters(pid)
        proposals.append(space.key(p))
        tuner.receive_trial_result(pid, p, {"default": 50.0 + pid})
        tuner.trial_end(pid, True)
    assert len(set(proposals)) == 4
    strategy = tuner.strategy
    assert strategy.queue == [] and strategy.scorer.computed_s > 0
    assert len(strategy.base.population) == 4

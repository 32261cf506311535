"""Every registered strategy, through the same contract; then each one's own behaviour."""
import numpy as np
import pytest
from conftest import ToyScorer, drive

from nni_effnas.loop import run_search
from nni_effnas.strategies import STRATEGIES, create_strategy
from nni_effnas.strategies.regularized_evolution import RegularizedEvolution, mutate


def reward_of(sample):
    """A toy objective with a unique optimum at a=3, b='z', c=True."""
    return sample["a"] + {"x": 0, "y": 1, "z": 2}[sample["b"]] + (0.5 if sample["c"] else 0)


def contract_args(name):
    """The zero-cost strategies score networks; on the toy space they get a toy scorer (tests/conftest.py).
    The predictor-guided search fits its default predictor with fewer epochs (each fit takes 0.4 s otherwise).
    The multi-objective strategies get a toy cost model (the contract's trials report no cost)."""
    if name.startswith("zero_cost"):
        extra = {"keep": 1.0} if name == "zero_cost_pruning" else {}
        return {"scorer": ToyScorer(), **extra}
    if name == "predictor_guided":
        return {"predictor_args": {"epochs": 20}}
    if name == "pnas":
        return {"predictor_args": {"epochs": 20}}
    if name == "mo_bananas":  # the multi-objective ones read a cost; this one needs it before training
        return {"cost_model": toy_cost, "predictor_args": {"epochs": 20}}
    if name in ("nsga2", "nsga3", "motpe"):
        return {"cost_model": toy_cost}
    return {}


def toy_cost(sample):
    return 1.0 + sample["a"]


def trajectory(strategy, space, n):
    return drive(strategy, space, n, reward_of)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_samples_are_valid_and_seeded(name, toy_space):
    a = trajectory(create_strategy(name, seed=7, **contract_args(name)), toy_space, 20)
    b = trajectory(create_strategy(name, seed=7, **contract_args(name)), toy_space, 20)
    assert len(a) >= 10
    assert a == b
    for s in a:
        assert toy_space.validate(s) == s


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_failed_trials_do_not_break_the_strategy(name, toy_space):
    strategy = create_strategy(name, seed=1, **contract_args(name))
    strategy.setup(toy_space)
    for i in range(20 if name != "zero_cost_pruning" else 10):
        s = strategy.ask()
        strategy.tell(s, None if i % 3 == 0 else reward_of(s), None)
    assert toy_space.validate(strategy.ask())


def _with_failures(name, space, failed):
    """Proposals of a seeded run where every third reward is replaced by ``failed`` (cycled)."""
    strategy = create_strategy(name, seed=1, **contract_args(name))
    strategy.setup(space)
    out = []
    for i in range(14 if name != "zero_cost_pruning" else 10):
        sample = strategy.ask()
        if sample is None:
            break
        out.append(space.key(sample))
        strategy.tell(sample, failed[i % len(failed)] if i % 3 == 1 else reward_of(sample), None)
    return out


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_nan_and_infinite_rewards_are_failed_trials(name, toy_space):
    """Told NaN or an infinity, a strategy goes on exactly as if told ``None`` (a failed trial)."""
    inf = float("inf")
    assert _with_failures(name, toy_space, [float("nan"), inf, -inf]) == _with_failures(name, toy_space, [None])


@pytest.mark.parametrize("name", STRATEGIES.names())
@pytest.mark.parametrize("bad", ["93.5", True, [1.0]])
def test_a_reward_that_is_not_a_number_is_refused_and_changes_nothing(name, bad, toy_space):
    strategy = create_strategy(name, seed=1, **contract_args(name))
    strategy.setup(toy_space)
    sample = strategy.ask()
    before = repr(strategy.state_dict())
    with pytest.raises(ValueError, match=r"^reward must be a number or None, got "):
        strategy.tell(sample, bad, None)
    assert repr(strategy.state_dict()) == before


@pytest.mark.parametrize("name", ["random", "regularized_evolution"])
def test_state_dict_resumes_the_same_trajectory(name, toy_space):
    full = trajectory(create_strategy(name, seed=3), toy_space, 40)
    first = create_strategy(name, seed=3)
    head = trajectory(first, toy_space, 25)
    state = first.state_dict()
    second = create_strategy(name, seed=999)
    second.setup(toy_space)
    second.load_state_dict(state)
    tail = []
    for _ in range(15):
        s = second.ask()
        tail.append(s)
        second.tell(s, reward_of(s), None)
    assert head + tail == full


def test_unknown_strategy_and_bad_args():
    with pytest.raises(ValueError, match="unknown strategy 'simulated_annealing'"):
        create_strategy("simulated_annealing")
    with pytest.raises(ValueError, match="bad arguments for strategy 'random'"):
        create_strategy("random", population_size=3)
    with pytest.raises(ValueError, match="sample_size must be in 1..population_size"):
        RegularizedEvolution(population_size=3, sample_size=5)


def test_evolution_aliases():
    assert STRATEGIES.get("evolution") is RegularizedEvolution
    assert STRATEGIES.get("rea") is RegularizedEvolution


def test_mutation_changes_exactly_one_label(toy_space):
    rng = np.random.default_rng(0)
    parent = {"a": 0, "b": "x", "c": True}
    for _ in range(50):
        child = mutate(parent, toy_space, rng)
        assert sum(child[k] != parent[k] for k in parent) == 1
        assert toy_space.validate(child) == child


def test_evolution_population_ages_out_oldest(toy_space):
    rea = RegularizedEvolution(population_size=3, sample_size=2, seed=0)
    rea.setup(toy_space)
    samples = [{"a": i, "b": "x", "c": True} for i in range(4)]
    for s, r in zip(samples, [10.0, 0.0, 1.0, 2.0]):
        rea.tell(s, r)
    # the best member (reward 10) was the oldest and is gone
    assert [m[0]["a"] for m in rea.population] == [1, 2, 3]
    assert max(r for _, r in rea.population) == 2.0


def test_evolution_children_descend_from_tournament_winners(toy_space):
    rea = RegularizedEvolution(population_size=2, sample_size=2, seed=0)
    rea.setup(toy_space)
    best, worst = {"a": 3, "b": "z", "c": True}, {"a": 0, "b": "x", "c": False}
    rea.tell(best, 9.0)
    rea.tell(worst, 0.0)
    children = [rea.ask() for _ in range(200)]
    distance_to_best = [sum(c[k] != best[k] for k in best) for c in children]
    # with S=2 of P=2 (with replacement) the winner is `best` 3 times in 4
    assert np.mean([d == 1 for d in distance_to_best]) == pytest.approx(0.75, abs=0.08)


def test_random_unique_exhausts_the_space(toy_space):
    strategy = create_strategy("random", seed=0, unique=True)
    strategy.setup(toy_space)
    seen = []
    while (s := strategy.ask()) is not None:
        seen.append(toy_space.key(s))
    assert len(seen) == len(set(seen)) == toy_space.size


@pytest.mark.parametrize("name", ["regularized_evolution", "nni_tpe", "nni_evolution"])
def test_guided_strategies_beat_random_on_a_toy_objective(name, toy_space):
    """Over 20 seeds and 12 evaluations each, model-guided search finds the optimum more often than random."""
    def hits(strategy_name):
        count = 0
        for seed in range(20):
            res = run_search(create_strategy(strategy_name, seed=seed), toy_space,
                             lambda s: {"default": reward_of(s)}, max_trials=12, cost_key=None)
            count += res.best.reward == 5.5
        return count

    assert hits(name) >= hits("random")


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_a_bad_seed_is_a_one_line_error(seed):
    with pytest.raises(ValueError, match="seed must be an int >= 0 or None"):
        create_strategy("random", seed=seed)

"""Multi-objective strategies as Optuna samplers: two-objective studies, the conformance kit in its two-objective
form, and the kit catching a sampler that mishandles the second objective."""
import json
import optuna
import pytest

from nni_effnas import optuna_sampler
from nni_effnas.nb201 import EDGE_LABELS, OPS, load_table
from nni_effnas.optuna_conformance import CHECKS, ConformanceError, check_sampler, toy_cost, toy_objective
from nni_effnas.optuna_sampler import StrategySampler
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.multiobjective import MultiObjectiveMixin

pytestmark = pytest.mark.usefixtures("one_thread")
optuna.logging.set_verbosity(optuna.logging.ERROR)

MO_STRATEGIES = [n for n in STRATEGIES.names() if issubclass(STRATEGIES.get(n), MultiObjectiveMixin)]


def fast_args(name, cost_model=toy_cost):
    """Small generations and predictors, so that selection starts within the kit's ~15 trials."""
    if name in ("nsga2", "nsga3"):
        return {"sampler_args": {"population_size": 4}}
    if name == "motpe":
        return {"sampler_args": {"n_startup_trials": 4}}
    if name == "mo_bananas":
        return {"cost_model": cost_model, "predictor": "random_forest", "predictor_args": {"n_estimators": 10},
                "initial": 4, "candidates": 50, "cost_pool": 30}
    raise AssertionError(f"no fast arguments for {name}")


def maker(name):
    return lambda seed: StrategySampler(name, seed=seed, strategy_args=fast_args(name))


def test_the_registry_has_the_multi_objective_strategies():
    assert {"nsga2", "nsga3", "motpe", "mo_bananas"} <= set(MO_STRATEGIES)
    assert all(maker(name)(0).n_objectives == 2 for name in MO_STRATEGIES)
    assert StrategySampler("random", seed=0).n_objectives == 1


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", MO_STRATEGIES)
def test_multi_objective_strategies_pass_the_kit_in_two_objective_studies(name, check):
    check_sampler(maker(name), checks=[check])


def nb201_objective(trial):
    cell = {edge: trial.suggest_categorical(edge, OPS) for edge in EDGE_LABELS}
    row = load_table().query(cell)
    return row["valid_acc_12ep"], row["latency_ms"]["pixel2"]


@pytest.mark.parametrize("name", ["nsga2", "mo_bananas"])
def test_two_objective_nb201_study_tells_accuracy_and_latency(name):
    """``reward = values[0]``, ``metrics = {cost_metric: values[1]}``: the strategy's front is the study's."""
    args = fast_args(name, cost_model="nb201:latency:pixel2")
    sampler = StrategySampler(name, seed=0, search_space={edge: OPS for edge in EDGE_LABELS},
                              strategy_args={"cost_metric": "latency_ms", **args})
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(nb201_objective, n_trials=16)
    observed = sampler.strategy.observations
    assert sampler.n_told == 16
    first = {}  # a sample proposed twice is one observation, its first result
    for t in study.trials:
        first.setdefault(json.dumps(t.params, sort_keys=True), (t.params, *t.values))
    assert [(s, r, c) for s, r, c in observed] == list(first.values())
    assert {(r, c) for _, r, c in sampler.front()} == {tuple(t.values) for t in study.best_trials}


def test_directions_are_oriented_for_the_strategy():
    """Minimising -accuracy and maximising -latency is the same search, told the same (reward, cost)."""
    runs = []
    for directions, sign in ((["maximize", "minimize"], 1.0), (["minimize", "maximize"], -1.0)):
        sampler = maker("nsga2")(3)
        study = optuna.create_study(directions=directions, sampler=sampler)
        study.optimize(lambda t: (sign * toy_objective(t), sign * toy_cost(t.params)), n_trials=12)
        runs.append(([t.params for t in study.trials], sampler.strategy.observations))
    assert runs[0] == runs[1]
    assert all(r >= 0 and c >= 1 for _, r, c in runs[1][1])  # told as (accuracy, cost), not negated


def test_single_objective_study_with_a_cost_model_or_user_attributes():
    """With a cost_model an MO strategy also runs in a single-objective study; a reported cost (a user
    attribute named cost_metric) wins over the model's."""
    sampler = StrategySampler("nsga2", seed=0, strategy_args={"cost_model": toy_cost, "cost_metric": "latency_ms",
                                                               "sampler_args": {"population_size": 4}})
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial):
        value = toy_objective(trial)
        if trial.number % 2:
            trial.set_user_attr("latency_ms", 100.0 + trial.number)
        trial.set_user_attr("note", "not a number: not passed on")
        return value

    study.optimize(objective, n_trials=8)
    costs = {json.dumps(s, sort_keys=True): c for s, _, c in sampler.strategy.observations}
    # the first trial is sampled independently (space inferred afterwards) and told only once the space is known;
    # a sample proposed twice is one observation, with its first cost
    expected = {}
    for t in study.trials[1:]:
        expected.setdefault(json.dumps(t.params, sort_keys=True), 100.0 + t.number if t.number % 2 else toy_cost(t.params))
    assert {k: v for k, v in costs.items() if k in expected} == expected and len(costs) >= len(expected)


def test_objective_counts_are_one_line_errors():
    two = optuna.create_study(directions=["maximize", "minimize"], sampler=StrategySampler("random", seed=0))
    with pytest.raises(ValueError, match="supports single-objective studies; this study has 2 objectives"):
        two.optimize(lambda t: (toy_objective(t), 1.0), n_trials=1)
    three = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=maker("nsga2")(0))
    with pytest.raises(ValueError, match="optimises two objectives .* this study has 3"):
        three.optimize(lambda t: (toy_objective(t), 1.0, 1.0), n_trials=2)
    one = optuna.create_study(direction="maximize", sampler=StrategySampler("nsga2", seed=0))
    with pytest.raises(ValueError, match="use a two-objective study .* or give the strategy a cost_model"):
        one.optimize(toy_objective, n_trials=2)


@pytest.mark.parametrize("defect, check", [("ignores_cost", "two_objectives"), ("cost_sign", "two_objectives"),
                                           ("ignores_direction", "direction")])
def test_the_kit_catches_mishandled_objectives(monkeypatch, defect, check):
    original_tell = StrategySampler._tell

    def tell(self, study, trial, state, values):
        if defect == "ignores_cost" and values:
            values = values[:1]
        if defect == "cost_sign" and values and len(values) == 2:
            values = [values[0], -values[1]]
        original_tell(self, study, trial, state, values)

    monkeypatch.setattr(StrategySampler, "_tell", tell)
    if defect == "ignores_direction":
        monkeypatch.setattr(optuna_sampler, "_oriented", lambda value, direction, *, maximize: float(value))
    with pytest.raises(ConformanceError, match=check):
        # nsga2 learns the cost from the trials only (mo_bananas would fall back on its cost_model)
        check_sampler(maker("nsga2" if defect == "ignores_cost" else "mo_bananas"), checks=[check])

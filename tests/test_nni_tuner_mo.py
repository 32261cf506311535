"""Multi-objective strategies as NNI tuners: the metric dict reaches ``tell``, classArgs in both forms, resume."""
import json

import pytest

from nni_effnas.nb201 import load_table
from nni_effnas.nni_tuner import StrategyTuner, extract_reward, tuner_class

pytestmark = pytest.mark.usefixtures("one_thread")

#: mo_bananas small enough for a unit test
FAST_BANANAS = {"predictor": "random_forest", "predictor_args": {"n_estimators": 10}, "initial": 4,
                "candidates": 30, "cost_pool": 40}


def nb201_result(sample, device="pixel2"):
    """What ``effnas-trial --evaluator benchmark`` reports, reduced to the metrics these tests need."""
    row = load_table().query(sample)
    return {"default": row["valid_acc_12ep"], "latency_ms": row["latency_ms"][device], "params_M": row["params_M"],
            "sample": dict(sample)}


def run(tuner, n, *, first_id=0, result=nb201_result):
    """Drive the tuner as NNI's dispatcher does, one trial at a time; returns the (parameter, value) history."""
    history = []
    for pid in range(first_id, first_id + n):
        p = tuner.generate_parameters(pid)
        value = result(p)
        tuner.receive_trial_result(pid, p, value)
        tuner.trial_end(pid, True)
        history.append({"parameter": p, "value": value})
    return history


def test_final_metrics_reach_the_strategy_as_its_cost(nb201_space):
    tuner = StrategyTuner(strategy="nsga2", seed=0, cost_metric="latency_ms",
                          sampler_args={"population_size": 4})
    tuner.update_search_space(nb201_space.to_nni())
    history = run(tuner, 10)
    observed = [(s, r, c) for s, r, c in tuner.strategy.observations]
    assert [(h["parameter"], h["value"]["default"], h["value"]["latency_ms"]) for h in history] == observed
    front = tuner.strategy.front()
    assert front and all(c == nb201_result(s)["latency_ms"] for s, _, c in front)
    costs = [c for _, _, c in front]
    rewards = [r for _, r, _ in front]
    assert costs == sorted(costs) and rewards == sorted(rewards)  # a front: more accuracy costs more latency


def test_class_args_nested_strategy_args_as_in_the_brief(nb201_space):
    args = {"cost_model": "nb201:latency:pixel2", "cost_metric": "latency_ms", **FAST_BANANAS}
    tuner = StrategyTuner(strategy="mo_bananas", seed=1, strategy_args=args)
    assert tuner.strategy.cost_metric == "latency_ms" and tuner.strategy.initial == 4
    registered = tuner_class("mo_bananas")(seed=1, strategy_args=args)  # tuner: {name: EffnasMOBananas}
    flat = tuner_class("ehvi")(seed=1, **args)  # the flat form still works
    for t in (tuner, registered, flat):
        t.update_search_space(nb201_space.to_nni())
    assert run(tuner, 8) == run(registered, 8) == run(flat, 8)
    assert len(tuner.strategy.observations) == 8


def test_bad_strategy_args():
    with pytest.raises(ValueError, match=r"\['cost_metric'\] given both flat and in strategy_args"):
        StrategyTuner(strategy="nsga2", cost_metric="a", strategy_args={"cost_metric": "b"})
    with pytest.raises(ValueError, match="strategy_args must be a dict"):
        StrategyTuner(strategy="nsga2", strategy_args="cost_model=x")
    with pytest.raises(ValueError, match="mo_bananas needs a cost_model"):
        StrategyTuner(strategy="mo_bananas", strategy_args={"cost_metric": "latency_ms"})


def test_mo_bananas_screens_by_the_cost_model_and_learns_from_reported_latency(nb201_space):
    """20 trials: the front found is non-empty and every member's cost is the trial's reported latency."""
    tuner = StrategyTuner(strategy="mo_bananas", seed=0, strategy_args={
        "cost_model": "nb201:latency:pixel2", "cost_metric": "latency_ms", **FAST_BANANAS})
    tuner.update_search_space(nb201_space.to_nni())
    history = run(tuner, 20)
    keys = {nb201_space.key(h["parameter"]) for h in history}
    assert len(keys) == 20  # BANANAS never proposes a cell twice
    assert len(tuner.strategy.observations) == 20
    reported = {nb201_space.key(h["parameter"]): h["value"]["latency_ms"] for h in history}
    assert all(c == reported[nb201_space.key(s)] for s, _, c in tuner.strategy.front())


def test_import_data_replays_metrics_even_json_encoded(nb201_space):
    """nnictl resume: NNI replays finished trials with their metric dicts (sometimes still JSON text)."""
    first = StrategyTuner(strategy="nsga2", seed=0, cost_metric="latency_ms", sampler_args={"population_size": 4})
    first.update_search_space(nb201_space.to_nni())
    history = run(first, 8)
    encoded = [{"parameter": h["parameter"], "value": json.dumps(json.dumps(h["value"])) if i % 2 else h["value"]}
               for i, h in enumerate(history)]
    resumed = StrategyTuner(strategy="nsga2", seed=5, cost_metric="latency_ms", sampler_args={"population_size": 4})
    resumed.import_data(encoded)
    resumed.update_search_space(nb201_space.to_nni())
    observed = [sorted(map(json.dumps, t.strategy.observations)) for t in (resumed, first)]
    assert observed[0] == observed[1]
    key = nb201_space.key(history[0]["parameter"])
    assert resumed.metrics[key]["latency_ms"] == history[0]["value"]["latency_ms"]
    assert "sample" not in resumed.metrics[key]  # only numbers are kept


def test_extract_reward_decodes_json_text():
    value = {"default": 70.0, "latency_ms": 12.5}
    assert extract_reward(json.dumps(value)) == (70.0, value)
    assert extract_reward(json.dumps(json.dumps(value))) == (70.0, value)
    assert extract_reward("not json")[0] is None


def test_a_known_sample_proposed_again_is_told_with_its_metrics(toy_space):
    """A strategy that proposes a known sample hears its result again, cost included, without a new trial."""
    tuner = StrategyTuner(strategy="random", seed=0)
    tuner.update_search_space(toy_space.to_nni())
    told = []
    original = tuner.strategy.tell
    tuner.strategy.tell = lambda s, r, m=None: (told.append((dict(s), r, m)), original(s, r, m))
    for pid in range(20):
        p = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, p, {"default": float(p["a"]), "latency_ms": 1.0 + p["a"], "arch": "x"})
    again = [t for t in told if "arch" not in t[2]]  # not a trial's result (those carry "arch"): a re-proposal
    assert again, "random search with replacement over 24 samples re-proposes some in 20 trials"
    assert all(m == {"default": float(s["a"]), "latency_ms": 1.0 + s["a"]} for s, _, m in again)


def test_checkpoint_keeps_metrics_and_the_front(nb201_space, tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    args = {"cost_model": "nb201:latency:pixel2", "cost_metric": "latency_ms", **FAST_BANANAS}
    first = StrategyTuner(strategy="mo_bananas", seed=0, strategy_args=args)
    first.update_search_space(nb201_space.to_nni())
    run(first, 6)
    resumed = StrategyTuner(strategy="mo_bananas", seed=0, strategy_args=args)
    resumed.load_checkpoint()
    resumed.update_search_space(nb201_space.to_nni())
    assert resumed.metrics == first.metrics and len(resumed.metrics) == 6
    assert resumed.strategy.front() == first.strategy.front()
    # the restored strategy continues the same trajectory as the uninterrupted one
    assert run(resumed, 4, first_id=6) == run(first, 4, first_id=6)


@pytest.mark.parametrize("config", ["nb201_hw_mo_bananas.yml", "nb201_hw_nsga2.yml"])
def test_shipped_hardware_aware_configs_build_their_tuner(config, nb201_space):
    """What NNI's dispatcher does with the config: the registered class by name, called with classArgs; the
    trial command's --device is the device of the cost."""
    from pathlib import Path

    import yaml

    from nni_effnas import nni_tuner

    data = yaml.safe_load((Path(__file__).resolve().parent.parent / "trials" / "configs" / config).read_text())
    tuner = getattr(nni_tuner, data["tuner"]["name"])(**data["tuner"]["classArgs"])
    device = data["trialCommand"].split("--device ")[1].split()[0]
    assert tuner.strategy.cost_metric == "latency_ms"
    spec = tuner.strategy.cost_model_spec
    assert spec is None or spec == f"nb201:latency:{device}"
    tuner.update_search_space(nb201_space.to_nni())
    run(tuner, 3, result=lambda s: nb201_result(s, device))
    assert [c for _, _, c in tuner.strategy.observations] == [nb201_result(s, device)["latency_ms"]
                                                             for s, _, _ in tuner.strategy.observations]


@pytest.mark.parametrize("strategy", ["regularized_evolution", "predictor_guided", "nsga2"])
def test_a_constraint_class_arg_keeps_infeasible_samples_out_of_the_trials(strategy, nb201_space):
    args = {"predictor": "random_forest", "predictor_args": {"n_estimators": 10}, "initial": 4} \
        if strategy == "predictor_guided" else {}
    tuner = StrategyTuner(strategy=strategy, seed=0, constraint="nb201:latency:pixel2<=10", **args)
    tuner.update_search_space(nb201_space.to_nni())
    history = run(tuner, 8)
    table = load_table()
    assert all(table.query(h["parameter"])["latency_ms"]["pixel2"] <= 10 for h in history)
    assert tuner.strategy.feasible is tuner.feasible


@pytest.mark.parametrize("bad", ["latency<=", "nb201:latency:pixel2<12", "nb201:latency:pixel2<=fast"])
def test_a_bad_constraint_is_a_one_line_error(bad):
    with pytest.raises(ValueError, match="bad constraint"):
        StrategyTuner(strategy="random", constraint=bad)
    with pytest.raises(ValueError, match="unknown latency device 'nope'"):
        StrategyTuner(strategy="random", constraint="nb201:latency:nope<=3")

"""Hardware metrics of every trial: ``latency_ms``, ``flops_M`` and ``params_M`` under one set of names, for the
``benchmark`` (table lookup), ``zero-cost`` and ``train`` evaluators, standalone and under (a fake) NNI, and
the trial's metrics feeding a multi-objective tuner. Small networks; few timed runs."""
from __future__ import annotations

import json

import nni
import pytest

from nni_effnas.costs.flops import count_flops
from nni_effnas.costs.params import count_params
from nni_effnas.nb201 import TASKS, load_table
from nni_effnas.nni_tuner import StrategyTuner
from nni_effnas.search_spaces import get_space
from nni_effnas.trials import main as trial_main
from nni_effnas.costs.nb201_counts import nb201_flops_M
from nni_effnas.costs.network import LatencySettings
from nni_effnas.trials.evaluators import create_evaluator

pytestmark = pytest.mark.usefixtures("one_thread")

SPACE = get_space("nb201")
HW = {"latency_ms", "flops_M", "params_M"}
FAST_LATENCY = dict(latency_warmup=1, latency_repeats=3)


@pytest.mark.parametrize("dataset", list(TASKS))
def test_closed_form_nb201_flops_equal_the_counter_on_built_networks(dataset):
    classes, shape = TASKS[dataset]
    table = load_table()
    for index in (0, 5, 6111, 15624):  # all-none, mixed, the CIFAR-10 best, all-pool
        sample = table.sample(index)
        network = SPACE.build(sample, channels=16, num_cells=5, num_classes=classes)
        assert nb201_flops_M(sample, dataset=dataset) * 1e6 == count_flops(network, shape)
    small = SPACE.build(table.sample(5), channels=4, num_cells=2, num_classes=classes)
    assert nb201_flops_M(table.sample(5), dataset=dataset, channels=4, num_cells=2) * 1e6 == count_flops(small, shape)


def test_benchmark_reports_the_table_device_latency_under_the_common_name():
    table = load_table()
    sample = table.sample(6111)
    for device in ("pixel2", "gold_6226"):
        metrics = create_evaluator("benchmark", device=device).evaluate(sample, space=SPACE)
        row = table.query(sample)
        assert metrics["latency_ms"] == metrics[f"latency_{device}_ms"] == row["latency_ms"][device]
        assert metrics["latency_device"] == device
        assert metrics["params_M"] == row["params_M"]
        assert metrics["flops_M"] == nb201_flops_M(sample)
        assert metrics["default"] == row["valid_acc_12ep"]  # still the accuracy
    pooled = create_evaluator("benchmark").evaluate(table.sample(15624), space=SPACE)
    assert pooled["flops_M"] < metrics["flops_M"]  # pooling cells cost no FLOPs, convolutions do


def test_zero_cost_reports_counts_and_measured_latency(tmp_path):
    evaluator = create_evaluator("zero-cost", proxies="synflow", cache=tmp_path / "zc.sqlite", channels=4,
                                 num_cells=1, batch_size=4, latency_batch_size=2, **FAST_LATENCY)
    sample = SPACE.from_index(5)
    metrics = evaluator.evaluate(sample, space=SPACE)
    network = evaluator.scorer.build(sample)
    assert metrics["params_M"] == count_params(network) / 1e6
    assert metrics["flops_M"] == count_flops(network, (3, 32, 32)) / 1e6
    assert metrics["latency_ms"] > 0 and metrics["latency_iqr_ms"] >= 0
    assert (metrics["latency_batch_size"], metrics["latency_threads"], metrics["latency_device"]) == (2, 1, "cpu")
    assert metrics["default"] == metrics["synflow"]
    json.dumps(metrics, allow_nan=False)
    # params and FLOPs come from the score cache; without a latency measurement nothing is built
    cached = create_evaluator("zc", proxies="synflow", cache=tmp_path / "zc.sqlite", channels=4, num_cells=1,
                              batch_size=4, latency_repeats=0)
    again = cached.evaluate(sample, space=SPACE)
    assert cached.scorer.computed_s == 0.0
    assert (again["params_M"], again["flops_M"]) == (metrics["params_M"], metrics["flops_M"])
    assert not {k for k in again if k.startswith("latency")}


def test_train_measures_the_trained_architecture(tmp_path):
    evaluator = create_evaluator("train", dataset="digits", epochs=1, limit=200, channels=4, num_cells=1,
                                 out_dir=tmp_path, latency_threads=1, **FAST_LATENCY)
    sample = SPACE.from_index(5)
    metrics = evaluator.evaluate(sample, space=SPACE)
    network = SPACE.build(sample, in_channels=1, num_classes=10, channels=4, num_cells=1)
    assert metrics["params_M"] == count_params(network) / 1e6  # the same value as before, now with company
    assert metrics["flops_M"] == count_flops(network, (1, 8, 8)) / 1e6
    assert metrics["latency_ms"] > 0 and metrics["latency_batch_size"] == 1
    assert metrics["default"] == metrics["val_acc"]


@pytest.mark.parametrize("kwargs, message", [
    ({"latency_threads": 0}, "latency_threads must be an int >= 1, got 0"),
    ({"latency_repeats": -1}, "latency_repeats must be an int >= 0, got -1"),
    ({"latency_batch_size": 1.5}, "latency_batch_size must be an int >= 1, got 1.5"),
])
def test_bad_latency_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LatencySettings(**{k.removeprefix("latency_"): v for k, v in kwargs.items()})
    with pytest.raises(ValueError, match=message):
        create_evaluator("train", **kwargs)


def test_trial_flags_reach_the_evaluators(tmp_path, capsys):
    parse = trial_main.build_parser().parse_args
    flags = ["--latency-batch-size", "4", "--latency-threads", "2", "--latency-warmup", "0", "--latency-repeats", "7"]
    expected = {"latency_batch_size": 4, "latency_threads": 2, "latency_warmup": 0, "latency_repeats": 7}
    for evaluator in ("train", "zero-cost"):
        kwargs = trial_main.evaluator_kwargs(parse(["--evaluator", evaluator, *flags]))
        assert {k: kwargs[k] for k in expected} == expected
        assert not {k for k in trial_main.evaluator_kwargs(parse(["--evaluator", evaluator])) if "latency" in k}
    assert trial_main.main(["--evaluator", "zc", "--index", "5", "--latency-threads", "0", "--cache", "none"]) == 2
    assert capsys.readouterr().err.strip() == "effnas-trial: error: latency_threads must be an int >= 1, got 0"


def test_under_nni_the_final_result_feeds_a_multi_objective_tuner(fake_nni, capsys):
    """effnas-trial reports accuracy as ``default`` and the hardware metrics beside it; the NNI tuner passes the
    whole dict on, so nsga2 reads the latency of the configured device as its cost."""
    monkeypatch, reports = fake_nni
    tuner = StrategyTuner(strategy="nsga2", seed=0, strategy_args={"cost_metric": "latency_ms"})
    tuner.update_search_space(SPACE.categorical().to_nni())
    table = load_table()
    for pid in range(3):
        sample = tuner.generate_parameters(pid)
        monkeypatch.setattr(nni, "get_next_parameter", lambda: dict(sample))
        assert trial_main.main(["--device", "samsung_a50"]) == 0
        final = reports["final"][-1]
        assert HW <= set(final) and final["default"] == table.query(sample)["valid_acc_12ep"]
        tuner.receive_trial_result(pid, sample, final)
        tuner.trial_end(pid, True)
    costs = [c for _, _, c in tuner.strategy.observations]
    assert costs == [table.query(s)["latency_ms"]["samsung_a50"] for s, _, _ in tuner.strategy.observations]
    assert len(costs) == 3


def test_benchmark_reports_no_table_latency_for_imagenet16_whose_inputs_the_tables_do_not_fit():
    sample = load_table().sample(6111)
    metrics = create_evaluator("benchmark", dataset="imagenet16").evaluate(sample, space=SPACE)
    assert not any(key.startswith("latency") for key in metrics)
    assert metrics["flops_M"] == nb201_flops_M(sample, dataset="imagenet16") and metrics["params_M"] > 0

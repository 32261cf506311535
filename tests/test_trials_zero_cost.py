"""The ``zero-cost`` evaluator: in-process, through ``effnas-trial`` standalone and under NNI (NNI's trial API
replaced by recorders), and a NaN reward failing the trial with one line. Small networks (4 channels, 1 cell
per stage) and a 4-image batch."""
from __future__ import annotations

import json
import math

import nni
import pytest

from nni_effnas import api
from nni_effnas.proxies import PROXIES
from nni_effnas.search_spaces import get_space
from nni_effnas.trials import main as trial_main
from nni_effnas.trials.evaluators import EVALUATORS, ZeroCostEvaluator, create_evaluator
from nni_effnas.zc_cache import BUILD

pytestmark = pytest.mark.usefixtures("one_thread")

SPACE = get_space("nb201")
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
SMALL = dict(channels=4, num_cells=1, batch_size=4)


def trial_args(tmp_path, *extra):
    return ["--evaluator", "zero-cost", "--channels", "4", "--cells", "1", "--zc-batch-size", "4",
            "--cache", str(tmp_path / "zc.sqlite"), *extra]


def test_registered_with_aliases():
    for name in ("zero-cost", "zero_cost", "zerocost", "zc", "Zero-Cost"):
        assert EVALUATORS.get(name) is ZeroCostEvaluator


def test_evaluator_metrics(tmp_path):
    evaluator = create_evaluator("zero-cost", proxies="synflow, params,nwot", cache=tmp_path / "zc.sqlite", **SMALL)
    sample = SPACE.from_string(ARCH)
    metrics = evaluator.evaluate(sample, space=SPACE)
    hardware = {"params_M", "flops_M", "latency_ms", "latency_iqr_ms", "latency_batch_size", "latency_threads",
                "latency_device"}
    assert set(metrics) == {"default", "synflow", "params", "nwot", "zc_time_s", "arch", "sample"} | hardware
    assert metrics["default"] == metrics["synflow"] > 0 and metrics["params"] > 0 and math.isfinite(metrics["nwot"])
    assert metrics["arch"] == ARCH and metrics["sample"] == sample and metrics["zc_time_s"] > 0
    assert "cost" not in metrics  # in-process searches charge the wall time
    json.dumps(metrics, allow_nan=False)  # NNI metrics must be plain JSON

    again = evaluator.evaluate(sample, space=SPACE)  # already scored and charged by this evaluator
    assert again["zc_time_s"] == 0 and again["synflow"] == metrics["synflow"]
    fresh = create_evaluator("zc", proxies=["synflow", "params", "nwot"], cache=str(tmp_path / "zc.sqlite"), **SMALL)
    cached = fresh.evaluate(sample, space=SPACE)  # read from the cache, charged its recorded time
    # the cached scores are charged their recorded times, build included (the build recorded last: scoring flops
    # rebuilt the network, so it is not the first call's build, and the first call also paid for its batch)
    names = ("synflow", "params", "nwot")
    recorded = fresh.scorer.recorded(sample)
    assert fresh.scorer.computed_s == 0 and cached["zc_time_s"] > 0
    assert cached["zc_time_s"] == pytest.approx(sum(recorded[n][1] for n in (BUILD, *names)))
    assert cached["zc_time_s"] == pytest.approx(metrics["zc_time_s"], abs=0.05)
    assert {k: cached[k] for k in names} == {k: metrics[k] for k in names}


def test_evaluator_network_task_and_cache_options(tmp_path):
    evaluator = create_evaluator("zero-cost", dataset="cifar100", proxies="params", cache="none", seed=3, **SMALL)
    scorer = evaluator.scorer
    assert scorer.cache is None and scorer.seed == 3 and scorer.proxies == ("params",)
    assert scorer.model_kwargs == {"channels": 4, "num_cells": 1, "num_classes": 100}
    assert scorer.data_key == "noise:b4:3x32x32:k100:s3"
    assert create_evaluator("zero-cost", cache=False, **SMALL).scorer.cache is None
    default = create_evaluator("zero-cost", proxies="params")
    assert default.scorer.model_kwargs == {"channels": 16, "num_cells": 5, "num_classes": 10}  # the NB201 network
    assert default.scorer.cache.path == tmp_path / "default-cache.sqlite"


@pytest.mark.parametrize("kwargs, message", [
    ({"proxies": "synflow,bogus"}, "unknown proxy 'bogus'"),
    ({"proxies": ""}, "at least one proxy"),
    ({"proxy_data": "cifar"}, "unknown proxy data source 'cifar'"),
    ({"dataset": "svhn"}, "unknown NAS-Bench-201 dataset 'svhn'"),
    ({"epochs": 3}, "bad arguments for evaluator 'zero-cost'"),
])
def test_evaluator_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_evaluator("zero-cost", cache=False, **{**SMALL, **kwargs})


def test_nan_first_proxy_gives_default_none(tmp_path, monkeypatch):
    monkeypatch.setitem(PROXIES._items, "grad_norm", lambda model, **kwargs: float("nan"))
    evaluator = create_evaluator("zero-cost", proxies="grad_norm,params", cache=False, **SMALL)
    metrics = evaluator.evaluate(SPACE.from_string(ARCH), space=SPACE)
    assert metrics["default"] is None and metrics["grad_norm"] is None and metrics["params"] > 0
    second = create_evaluator("zero-cost", proxies="params,grad_norm", cache=False, **SMALL)
    metrics = second.evaluate(SPACE.from_string(ARCH), space=SPACE)
    assert metrics["default"] == metrics["params"] > 0 and metrics["grad_norm"] is None


def test_in_process_search_records_a_nan_default_as_failed(tmp_path, monkeypatch):
    monkeypatch.setitem(PROXIES._items, "grad_norm", lambda model, **kwargs: float("nan"))
    result = api.search(strategy="random", evaluator="zero-cost", max_trials=2, seed=0,
                        evaluator_args={"proxies": "grad_norm", "cache": False, **SMALL})
    assert [t.status for t in result.trials] == ["FAILED", "FAILED"]
    assert "metric 'default' is None" in result.trials[0].error


def test_standalone_trial_prints_the_named_proxies(tmp_path, capsys):
    argv = trial_args(tmp_path, "--arch", ARCH, "--proxies", "synflow,params,nwot", "--seed", "1")
    assert trial_main.main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["default"] == metrics["synflow"] > 0 and metrics["params"] > 0 and metrics["nwot"] is not None
    assert metrics["arch"] == ARCH and metrics["zc_time_s"] > 0
    assert trial_main.main(argv) == 0  # a second process would read the cache: same scores
    def stable(m):  # the measured latency differs from run to run
        return {k: v for k, v in m.items() if k != "zc_time_s" and not k.startswith("latency")}

    assert stable(json.loads(capsys.readouterr().out)) == stable(metrics)


def test_trial_flags_reach_the_evaluator(tmp_path):
    parse = trial_main.build_parser().parse_args
    kwargs = trial_main.evaluator_kwargs(parse(["--evaluator", "zc"]))
    assert kwargs == {"dataset": "cifar10", "proxies": "synflow", "proxy_data": "noise", "batch_size": 64, "seed": 0,
                      "channels": 16, "num_cells": 5, "cache": None, "device": "cpu"}
    kwargs = trial_main.evaluator_kwargs(parse(trial_args(tmp_path, "--dataset", "imagenet16", "--proxy-data", "digits",
                                                          "--device", "cuda", "--seed", "4")))
    assert kwargs == {"dataset": "imagenet16", "proxies": "synflow", "proxy_data": "digits", "batch_size": 4, "seed": 4,
                      "channels": 4, "num_cells": 1, "cache": str(tmp_path / "zc.sqlite"), "device": "cuda"}
    # the other evaluators keep their own defaults for the shared flags
    assert trial_main.evaluator_kwargs(parse([]))["device"] == "pixel2"
    assert trial_main.evaluator_kwargs(parse(["--evaluator", "train"]))["num_cells"] == 1


def test_standalone_nan_default_fails_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(PROXIES._items, "grad_norm", lambda model, **kwargs: float("nan"))
    assert trial_main.main(trial_args(tmp_path, "--arch", ARCH, "--proxies", "grad_norm,params")) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == ""
    assert err == f"effnas-trial: error: metric 'default' is None for {ARCH}, expected a finite number"


def test_under_nni_reports_the_proxies(fake_nni, tmp_path, capsys):
    monkeypatch, reports = fake_nni
    sample = SPACE.from_string(ARCH)
    monkeypatch.setattr(nni, "get_next_parameter", lambda: dict(sample))
    assert trial_main.main(trial_args(tmp_path, "--proxies", "params,synflow")) == 0
    [final] = reports["final"]
    assert final["default"] == final["params"] > 0 and final["synflow"] > 0 and final["sample"] == sample
    assert reports["intermediate"] == []


def test_under_nni_a_nan_default_reports_nothing_and_fails(fake_nni, tmp_path, capsys):
    monkeypatch, reports = fake_nni
    monkeypatch.setitem(PROXIES._items, "grad_norm", lambda model, **kwargs: float("nan"))
    monkeypatch.setattr(nni, "get_next_parameter", lambda: dict(SPACE.from_string(ARCH)))
    assert trial_main.main(trial_args(tmp_path, "--proxies", "grad_norm")) == 1
    assert reports["final"] == []
    err = capsys.readouterr().err.strip()
    assert err.startswith("effnas-trial: error: metric 'default' is None") and "\n" not in err


def test_trial_bad_zero_cost_flags_are_one_line(tmp_path, capsys):
    assert trial_main.main(trial_args(tmp_path, "--index", "1", "--proxies", "synflow,bogus")) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown proxy 'bogus'" in err and "\n" not in err
    (tmp_path / "zc.sqlite").write_text("not sqlite" * 100)
    assert trial_main.main(trial_args(tmp_path, "--index", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert "not a usable SQLite file" in err and "\n" not in err

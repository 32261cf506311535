"""effnas-trial: standalone and under NNI (NNI's trial API replaced by recorders)."""
import json
import subprocess
import sys

import nni
import pytest

from nni_effnas.nb201 import load_table
from nni_effnas.trials import main as trial_main

BEST_C10 = load_table().arch_str(6111)


def test_standalone_benchmark_prints_metrics(capsys):
    assert trial_main.main(["--space", "nb201", "--evaluator", "benchmark", "--arch", BEST_C10]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert round(metrics["test_acc"], 2) == 94.37
    assert metrics["default"] == metrics["valid_acc_12ep"]
    assert metrics["index"] == 6111 and metrics["arch"] == BEST_C10
    assert metrics["cost"] > 0 and metrics["latency_pixel2_ms"] == 25.0
    assert set(metrics["sample"]) == {"edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"}


def test_index_and_dataset(capsys):
    assert trial_main.main(["--index", "9930", "--dataset", "cifar100"]) == 0
    assert round(json.loads(capsys.readouterr().out)["test_acc"], 2) == 73.51


def test_under_nni_reads_parameters_and_reports(fake_nni, capsys):
    monkeypatch, reports = fake_nni
    sample = load_table().sample(857)
    monkeypatch.setattr(nni, "get_next_parameter", lambda: dict(sample))
    assert trial_main.main(["--dataset", "imagenet16"]) == 0
    final = reports["final"][0]
    assert round(final["test_acc"], 2) == 47.31 and final["sample"] == sample
    assert [r["epoch"] for r in reports["intermediate"]] == [12, 200]
    assert all("default" in r for r in reports["intermediate"])


def test_under_nni_bad_parameters_fail_the_trial(fake_nni, capsys):
    monkeypatch, reports = fake_nni
    monkeypatch.setattr(nni, "get_next_parameter", lambda: {"edge_0_1": "conv_9x9"})
    assert trial_main.main([]) == 2
    assert reports["final"] == []
    err = capsys.readouterr().err.strip()
    assert err.startswith("effnas-trial: error:") and "\n" not in err


@pytest.mark.parametrize("args, message", [
    (["--space", "darts9", "--index", "1"], "unknown search space 'darts9'"),
    (["--evaluator", "oracle", "--index", "1"], "unknown evaluator 'oracle'"),
    (["--arch", "|nor_conv_3x3~0|"], "malformed NAS-Bench-201 arch string"),
    (["--index", "99999"], "index 99999 out of range"),
    (["--sample", "{not json"], "is not a JSON dict"),
    (["--dataset", "svhn", "--index", "1"], "unknown NAS-Bench-201 dataset 'svhn'"),
    (["--evaluator", "train", "--dataset", "fashion-mnist", "--data-dir", "/nonexistent/fm", "--index", "1"], "/nonexistent/fm"),
    ([], "outside NNI, pass --arch, --index or --sample"),
    (["--evaluator", "zero-cost", "--index", "1", "--device", "bogus"], "device 'bogus' is not a torch device"),
])
def test_bad_input_is_one_clear_line(args, message, capsys):
    assert trial_main.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_nan_metric_fails_the_trial(monkeypatch, capsys):
    from nni_effnas.trials import evaluators

    monkeypatch.setattr(evaluators.BenchmarkEvaluator, "evaluate", lambda self, s, space, report=None: {"default": float("nan")})
    assert trial_main.main(["--index", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("effnas-trial: error: metric 'default' is nan") and "\n" not in err


def test_console_script_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "nni_effnas.trials.main", "--index", "1835"], capture_output=True, text=True)
    assert ok.returncode == 0 and round(json.loads(ok.stdout)["test_acc"], 2) == 54.30
    bad = subprocess.run([sys.executable, "-m", "nni_effnas.trials.main", "--index", "-3"], capture_output=True, text=True)
    assert bad.returncode == 2


def test_a_negative_seed_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as stop:
        trial_main.main(["--index", "1", "--seed", "-1"])
    assert stop.value.code == 2 and "argument --seed: expected a whole number >= 0, got '-1'" in capsys.readouterr().err

"""bench latency: a strategy's suggestion time after a replayed history."""
import json

import pytest

from nni_effnas import bench_latency
from nni_effnas.cli import main
from nni_effnas.tabular import TabularBenchmark


@pytest.fixture(scope="module")
def bench():
    return TabularBenchmark.nb201("cifar10")


def test_measure_replays_the_history_and_times_every_step(bench):
    row = bench_latency.measure(bench, "evolution", observations=30, steps=5)
    assert row["strategy"] == "regularized_evolution" and row["observations"] == 30 and row["steps"] == 5
    assert 0 <= row["median_s"] <= row["p95_s"] <= row["max_s"] and row["mean_s"] <= row["max_s"]


def test_predictor_strategy_sees_the_replayed_history(bench, monkeypatch):
    seen = {}
    real = bench_latency.create_strategy

    def spy(*args, **kwargs):
        seen["strategy"] = real(*args, **kwargs)
        return seen["strategy"]

    monkeypatch.setattr(bench_latency, "create_strategy", spy)
    bench_latency.measure(bench, "predictor_guided", observations=25, steps=2,
                          strategy_args={"predictor": "random_forest", "predictor_args": {"n_estimators": 5}})
    assert len(seen["strategy"].history) == 27  # 25 replayed + the 2 timed proposals


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "lat.json"
    assert main(["bench", "latency", "--strategies", "random", "--observations", "10", "--steps", "3",
                 "--json", str(out), "--quiet"]) == 0
    assert "ask latency after 10 observations" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert [r["strategy"] for r in report["rows"]] == ["random"]


@pytest.mark.parametrize("argv, message", [
    (["--observations", "-1"], "--observations must be in 0..15525"),
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--strategies", "nope"], "unknown strategy 'nope'"),
    (["--strategies", ""], "no strategies given"),
    (["--strategies", "random", "--strategy-args", '{"evolution": {"population_size": 5}}'],
     "--strategy-args names 'evolution', not among the strategies measured (random)"),
    (["--strategies", "random", "--strategy-args", '{"random": {"seed": 5}}'], "must not set seed"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(["bench", "latency", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1

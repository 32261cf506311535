"""Tests for ``nni-effnas bench predictors`` (``nni_effnas.bench_predictors``): the report of a small run (two
training sizes, 50 held-out cells, one seed, fast predictors), the nested and disjoint splits, one number
recomputed by hand, determinism for a seed, the low-fidelity feature, the summary statistics, the JSON/plot
outputs and bad input on the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import kendalltau

from nni_effnas import bench_predictors, cli
from nni_effnas.encodings import encode
from nni_effnas.nb201 import load_table
from nni_effnas.predictors import create_predictor
from nni_effnas.report_io import save_json

pytestmark = pytest.mark.usefixtures("one_thread")

ARGS = dict(dataset="cifar10", train_sizes=(20, 10), test_size=50, seeds=1,
            predictors=("random_forest", "gbm", "mlp_ensemble"),
            predictor_args={"gbm": {"n_members": 2, "n_estimators": 30}, "mlp_ensemble": {"epochs": 20}})
DETERMINISTIC = ("kendall", "spearman", "mean_std")


@pytest.fixture(scope="module")
def report():
    return bench_predictors.run_predictor_benchmark(**ARGS)


def test_report_structure_and_ranges(report):
    assert {"benchmark", "space", "dataset", "target", "features", "feature_column", "train_sizes", "test_size",
            "seeds", "predictors", "encodings", "predictor_args", "skipped", "machine", "wall_s", "summary", "runs",
            "splits"} <= set(report)
    assert report["benchmark"] == "nb201/cifar10" and report["target"] == "test_acc_200ep"
    assert report["train_sizes"] == [10, 20] and report["seeds"] == [0] and report["feature_column"] is None
    assert report["predictors"] == ["random_forest", "gbm", "mlp_ensemble"] and report["skipped"] == {}
    assert report["encodings"] == {"random_forest": "path", "gbm": "path", "mlp_ensemble": "path"}
    assert {"cpu_count", "usable_cores", "torch_threads", "date"} <= set(report["machine"])
    assert report["machine"]["torch_threads"] == 1
    assert len(report["runs"]) == 3 * 2
    for run in report["runs"]:
        assert -1 <= run["kendall"] <= 1 and -1 <= run["spearman"] <= 1
        assert run["fit_s"] > 0 and run["predict_s_per_1000"] > 0 and run["mean_std"] >= 0
    assert [(r["predictor"], r["train_size"]) for r in report["summary"]] == [
        (p, n) for p in ("random_forest", "gbm", "mlp_ensemble") for n in (10, 20)]
    for row in report["summary"]:
        assert row["seeds"] == 1 and row["nan"] == 0 and row["kendall_sem"] == 0.0
        key = (row["predictor"], row["train_size"])
        run = next(r for r in report["runs"] if (r["predictor"], r["train_size"]) == key)
        assert row["kendall_mean"] == run["kendall"] and row["fit_s_mean"] == run["fit_s"]


def test_splits_are_disjoint_and_nested(report):
    split = report["splits"]["0"]
    test, train = np.array(split["test"]), np.array(split["train"])
    assert len(test) == 50 and len(train) == 20 and len(np.unique(np.r_[test, train])) == 70
    for seed in range(5):
        small_test, small = bench_predictors.draw_splits(15625, test_size=50, train_sizes=[10, 20], seed=seed)
        big_test, big = bench_predictors.draw_splits(15625, test_size=50, train_sizes=[10, 20, 400], seed=seed)
        np.testing.assert_array_equal(small_test, big_test)  # the held-out set does not depend on the sizes
        np.testing.assert_array_equal(small, big[:20])  # each training set is a prefix of the larger ones
        assert not np.intersect1d(big, big_test).size and len(np.unique(big)) == 400
    other_test, _ = bench_predictors.draw_splits(15625, test_size=50, train_sizes=[10], seed=1)
    assert not np.array_equal(other_test, test)


def test_a_reported_number_recomputed_by_hand(report):
    """The size-10 random forest row is a fit on the first 10 training cells of the split, scored on the test cells."""
    table, split = load_table(), report["splits"]["0"]
    train, test = split["train"][:10], split["test"]
    y = table.column("cifar10", "test_acc_200ep")

    def X(cells):
        return encode("nb201", [table.sample(i) for i in cells], "path")

    model = create_predictor("random_forest", random_state=0).fit(X(train), y[train])
    mean, std = model.predict(X(test), return_std=True)
    run = next(r for r in report["runs"] if r["predictor"] == "random_forest" and r["train_size"] == 10)
    assert run["kendall"] == pytest.approx(kendalltau(mean, y[test]).statistic, abs=1e-12)
    assert run["mean_std"] == pytest.approx(std.mean(), abs=1e-12)


def test_same_seed_same_numbers(report):
    again = bench_predictors.run_predictor_benchmark(**ARGS)
    key = [[r[k] for k in DETERMINISTIC] for r in report["runs"]]
    assert [[r[k] for k in DETERMINISTIC] for r in again["runs"]] == key and again["splits"] == report["splits"]
    shifted = bench_predictors.run_predictor_benchmark(**{**ARGS, "predictors": ("random_forest",),
                                                          "predictor_args": None}, seed_offset=1)
    assert shifted["seeds"] == [1] and shifted["splits"]["1"] != report["splits"]["0"]


def test_lowfi_feature_appends_a_column_and_skips_the_gnn():
    lowfi = bench_predictors.run_predictor_benchmark(**{**ARGS, "predictors": ("gnn", "random_forest"),
                                                        "predictor_args": None}, features="lowfi", target="valid")
    assert lowfi["feature_column"] == "valid_acc_12ep" and lowfi["target"] == "valid_acc_200ep"
    assert lowfi["predictors"] == ["random_forest"] and set(lowfi["skipped"]) == {"gnn"}
    assert {r["predictor"] for r in lowfi["runs"]} == {"random_forest"}
    plain = bench_predictors.run_predictor_benchmark(**{**ARGS, "predictors": ("random_forest",),
                                                        "predictor_args": None}, target="valid")
    assert [r["kendall"] for r in lowfi["runs"]] != [r["kendall"] for r in plain["runs"]]
    text = bench_predictors.format_table(lowfi)
    assert "+ valid_acc_12ep feature" in text and "(skipped gnn:" in text


def test_summary_mean_sem_and_nan():
    runs = [{"predictor": "gp", "train_size": 10, "kendall": k, "spearman": 0.5, "fit_s": f,
             "predict_s_per_1000": 1.0, "mean_std": 2.0}
            for k, f in ((0.2, 1.0), (0.4, 3.0), (float("nan"), 2.0))]
    (row,) = bench_predictors.summarise(runs, ["gp"], [10])
    assert row["seeds"] == 3 and row["nan"] == 1
    assert row["kendall_mean"] == pytest.approx(0.3) and row["kendall_sem"] == pytest.approx(0.1)
    assert row["fit_s_mean"] == pytest.approx(2.0) and row["fit_s_sem"] == pytest.approx(1 / np.sqrt(3))
    assert np.isnan(bench_predictors._rank_correlations(np.ones(5), np.arange(5.0))[0])


def test_table_json_and_plot(report, tmp_path):
    text = bench_predictors.format_table(report)
    assert text.startswith("nb201/cifar10: predict test_acc_200ep of 50 held-out cells")
    assert "| random_forest | path | 10 |" in text and "| mlp_ensemble | path | 20 |" in text
    row = {**report["summary"][0], "kendall_mean": float("nan")}
    with_nan = {**report, "summary": [row, *report["summary"][1:]]}
    path = tmp_path / "out" / "report.json"
    save_json(with_nan, path)
    loaded = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert loaded["summary"][0]["kendall_mean"] is None and loaded["runs"] == report["runs"]
    assert not list(path.parent.glob("*.tmp"))
    png = tmp_path / "plots" / "tau.png"
    bench_predictors.plot(loaded, png)  # read back from JSON: None for NaN
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in png.parent.iterdir()] == ["tau.png"]


BASE = ["bench", "predictors", "--train-sizes", "10,20", "--test-size", "50", "--seeds", "1", "--quiet"]


def test_cli_bench_predictors(tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    argv = [*BASE, "--predictors", "random_forest,gp", "--json", str(out_json), "--plot", str(out_png)]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "| gp | onehot | 20 |" in captured.out and f"wrote {out_json}" in captured.out and captured.err == ""
    loaded = json.loads(out_json.read_text())
    assert loaded["predictors"] == ["random_forest", "gp"] and len(loaded["runs"]) == 4 and out_png.stat().st_size > 0


def test_cli_help_states_the_module_defaults():
    """The parser does not import the module (a second of imports for every command); its help text must not
    drift from the defaults the handler fills in."""
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["bench"]
    parser = next(a for a in sub._actions if a.dest == "bench_command").choices["predictors"]
    helps = {a.dest: a.help for a in parser._actions}
    assert f"(default {','.join(map(str, bench_predictors.DEFAULT_TRAIN_SIZES))})" in helps["train_sizes"]
    assert f"(default {','.join(bench_predictors.DEFAULT_PREDICTORS)})" in helps["predictors"]


@pytest.mark.parametrize("extra, message", [
    (["--predictors", "random_forest,nope"], "unknown predictor 'nope'; expected one of: gbm, gnn, gp"),
    (["--train-sizes", "10,ten"], "--train-sizes must be comma-separated whole numbers >= 2, got 'ten'"),
    (["--train-sizes", "1,20"], "--train-sizes must be an int >= 2, got 1"),
    (["--train-sizes", "15000", "--test-size", "1000"], "--train-sizes 15000 + --test-size 1000 = 16000 exceeds"),
    (["--dataset", "mnist"], "unknown NAS-Bench-201 dataset 'mnist'; expected one of: cifar10, cifar100"),
    (["--space", "darts"], "no predictor benchmark for space 'darts'; expected nb201"),
    (["--target", "train"], "unknown --target 'train'; expected one of: test, valid"),
    (["--features", "zc"], "unknown --features 'zc'; expected one of: none, lowfi"),
    (["--seeds", "0"], "--seeds must be an int >= 1, got 0"),
    (["--test-size", "2"], "--test-size must be an int >= 3, got 2"),
    (["--predictor-args", "{bad"], "--predictor-args must be JSON"),
    (["--predictor-args", '{"gp": {}}'], "--predictor-args names 'gp', which is not among --predictors"),
    (["--predictor-args", '{"gbm": {"random_state": 3}}'], "sets random_state; the benchmark sets it to the seed"),
    (["--predictor-args", '{"gbm": {"trees": 3}}'], "bad arguments for predictor 'gbm'"),
])
def test_cli_bad_input_returns_2_and_writes_nothing(extra, message, tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    argv = [*BASE, "--predictors", "random_forest,gbm", "--json", str(out_json), "--plot", str(out_png), *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nni-effnas: error:") and message in err and "\n" not in err
    assert not list(tmp_path.iterdir())

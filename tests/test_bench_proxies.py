"""Tests for ``nni-effnas bench proxies`` (``nni_effnas.bench_proxies``): the report on a 6-cell sample of the
benchmark network (16 channels, 5 cells; scored once per module, then read from the cache), an exact check of
the ``params`` row against the table, top-10 % precision, the JSON/plot outputs and bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from nni_effnas import bench_proxies, cli
from nni_effnas.nb201 import load_table
from nni_effnas.report_io import save_json

pytestmark = pytest.mark.usefixtures("one_thread")

ARGS = dict(dataset="cifar10", sample=6, seed=0, proxies=("synflow", "params"), ensembles=("synflow+params",),
            proxy_data="noise", batch_size=4)


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory):
    return tmp_path_factory.mktemp("zc") / "c.sqlite"


@pytest.fixture(scope="module")
def report(cache_file, tmp_path_factory):
    no_naslib = tmp_path_factory.mktemp("no-naslib") / "absent"
    return bench_proxies.run_proxy_benchmark(**ARGS, cache=cache_file, naslib_dir=no_naslib)


def test_report_keys_and_rows(report):
    assert {"benchmark", "target", "sample", "sample_kind", "seed", "proxy_data", "batch_size", "setting",
            "build_s_per_arch", "wall_s", "computed_s", "naslib_dir", "rows", "indices", "scores"} <= set(report)
    assert report["benchmark"] == "nb201/cifar10" and report["target"] == "test_acc_200ep"
    assert report["sample"] == 6 and len(report["indices"]) == 6 and report["sample_kind"] == "random"
    assert report["naslib_dir"] is None and report["build_s_per_arch"] > 0
    assert [r["proxy"] for r in report["rows"]] == ["synflow", "params", "synflow+params"]
    for row in report["rows"]:
        assert {"spearman", "kendall", "rho_small", "top10_precision", "cells", "nan", "seconds_per_arch"} <= set(row)
        assert row["cells"] == 6 and row["nan"] == 0 and -1 <= row["spearman"] <= 1
    assert set(report["scores"]) == {"synflow", "params"} and all(len(v) == 6 for v in report["scores"].values())
    assert json.loads(report["setting"])["model"] == {"channels": 16, "num_cells": 5, "num_classes": 10}


def test_params_row_matches_the_tables_parameter_count(report):
    """Our ``params`` proxy of the built network ranks the cells as the table's recorded parameter counts do,
    so its rho against test accuracy is scipy's rho of the table's columns on the same cells."""
    table, idx = load_table(), report["indices"]
    params_m, test = table.column("cifar10", "params_M")[idx], table.column("cifar10", "test_acc_200ep")[idx]
    np.testing.assert_array_equal(np.argsort(report["scores"]["params"], kind="stable"),
                                  np.argsort(params_m, kind="stable"))
    row = next(r for r in report["rows"] if r["proxy"] == "params")
    assert row["spearman"] == pytest.approx(spearmanr(params_m, test).statistic, abs=1e-12)


def test_truth_valid_ranks_against_the_200_epoch_validation_accuracy(report, cache_file, tmp_path):
    """``truth="valid"`` reads the same cached scores and ranks them against ``valid_acc_200ep`` instead."""
    valid = bench_proxies.run_proxy_benchmark(**ARGS, truth="valid", cache=cache_file, naslib_dir=tmp_path / "absent")
    assert valid["target"] == "valid_acc_200ep" and valid["computed_s"] == 0 and valid["scores"] == report["scores"]
    table, idx = load_table(), report["indices"]
    params_m, acc = table.column("cifar10", "params_M")[idx], table.column("cifar10", "valid_acc_200ep")[idx]
    row = next(r for r in valid["rows"] if r["proxy"] == "params")
    assert row["spearman"] == pytest.approx(spearmanr(params_m, acc).statistic, abs=1e-12)
    assert not np.allclose(acc, table.column("cifar10", "test_acc_200ep")[idx])  # a different column
    assert "vs valid_acc_200ep" in bench_proxies.format_table(valid)


def test_the_same_run_reads_the_cache(report, cache_file, tmp_path):
    again = bench_proxies.run_proxy_benchmark(**ARGS, cache=cache_file, naslib_dir=tmp_path / "absent")
    assert again["computed_s"] == 0 and again["scores"] == report["scores"] and again["rows"] == report["rows"]


def test_top_precision_on_hand_made_arrays():
    truth = np.arange(10.0)  # the best is index 9
    assert bench_proxies.top_precision(truth, truth) == 1.0
    assert bench_proxies.top_precision(-truth, truth) == 0.0
    score = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 8], dtype=float)  # top 2 by score: {8, 9}
    assert bench_proxies.top_precision(score, truth, frac=0.2) == 1.0
    assert bench_proxies.top_precision(score, truth, frac=0.1) == 0.0  # top-1: 8 vs 9
    nan_best = np.array([np.nan] + [1.0] * 8 + [2.0])  # NaN ranked last, not first
    assert bench_proxies.top_precision(nan_best, truth, frac=0.1) == 1.0
    assert bench_proxies.top_precision(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]), frac=0.01) == 0.0


def test_format_table_and_json_round_trip(report, tmp_path):
    text = bench_proxies.format_table(report)
    assert text.startswith("nb201/cifar10: 6 cells") and "| synflow+params |" in text
    with_nan = {**report, "rows": [{**report["rows"][0], "spearman": float("nan")}, *report["rows"][1:]]}
    assert "| nan |" in bench_proxies.format_table(with_nan)
    path = tmp_path / "out" / "report.json"
    save_json(with_nan, path)
    loaded = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert loaded["rows"][0]["spearman"] is None  # NaN written as null (strict JSON)
    assert loaded["rows"][1:] == report["rows"][1:] and loaded["scores"] == report["scores"]
    assert loaded["indices"] == report["indices"] and not (tmp_path / "out" / "report.json.tmp").exists()


def test_plot_writes_a_png(report, tmp_path):
    path = tmp_path / "plots" / "rho.png"
    bench_proxies.plot(report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kwargs, message", [
    ({"sample": 2}, "--sample must be in 3..15625"),
    ({"sample": 20000}, "got 20000"),
    ({"ensembles": ("synflow+nwot",)}, "ensemble synflow\\+nwot uses nwot, not among --proxies"),
    ({"proxies": ("synflow", "nope")}, "unknown proxy 'nope'"),
    ({"truth": "train"}, "unknown accuracy 'train' to rank against; expected one of: test, valid"),
])
def test_bad_input_raises_value_error(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        bench_proxies.run_proxy_benchmark(**{**ARGS, **kwargs}, cache=False, naslib_dir=tmp_path / "absent")


def test_proxy_aliases_in_proxies_and_ensembles(tmp_path, cache_file):
    """Proxy names are canonicalised (case, ``-``/``_``, aliases) in --proxies and in --ensembles alike."""
    names = {"proxies": ("synflow", "PARAMS"), "ensembles": ("SYNFLOW+params",)}
    got = bench_proxies.run_proxy_benchmark(**{**ARGS, **names}, cache=cache_file, naslib_dir=tmp_path / "absent")
    assert [r["proxy"] for r in got["rows"]] == ["synflow", "params", "synflow+params"]


def test_cli_bench_proxies(cache_file, tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["bench", "proxies", "--dataset", "cifar10", "--sample", "6", "--proxies", "synflow,params",
            "--ensembles", "synflow+params", "--proxy-data", "noise", "--batch-size", "4", "--cache", str(cache_file),
            "--naslib-dir", str(tmp_path / "absent"), "--json", str(out_json), "--plot", str(out_png), "--quiet"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "| synflow+params |" in out and f"wrote {out_json}" in out and f"wrote {out_png}" in out
    assert json.loads(out_json.read_text())["sample"] == 6 and out_png.stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    (["--sample", "six"], "--sample must be a whole number or 'naslib', got 'six'"),
    (["--sample", "1"], "--sample must be in 3..15625"),
    (["--sample", "naslib"], "--sample naslib needs the NAS-Bench-Suite-Zero files"),
    (["--sample", "6", "--ensembles", "synflow+nwot"], "uses nwot, not among --proxies"),
    (["--sample", "6", "--space", "darts"], "no proxy benchmark for space 'darts'"),
    (["--sample", "6", "--proxy-data", "cifar"], "unknown proxy data source 'cifar'"),
    (["--sample", "6", "--truth", "best"], "unknown accuracy 'best' to rank against"),
])
def test_cli_bad_input_returns_2(extra, message, tmp_path, capsys):
    argv = ["bench", "proxies", "--proxies", "synflow,params", "--ensembles", "synflow+params", "--batch-size", "4",
            "--cache", str(tmp_path / "c.sqlite"), "--naslib-dir", str(tmp_path / "absent"), "--quiet", *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nni-effnas: error:") and message in err and "\n" not in err


def test_scores_in_the_report_are_json_numbers_or_null(report):
    for values in report["scores"].values():
        assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in values)

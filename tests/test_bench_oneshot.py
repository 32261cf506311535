"""Tests for ``nni-effnas bench oneshot`` (``nni_effnas.bench_oneshot`` and ``bench_oneshot_timing``): the report
of a tiny run (digits, C=4, one cell, one epoch, two variants, one seed) with accuracies checked against the
NAS-Bench-201 table, the summary statistics, the JSON/plot outputs, the step-time comparison's target logic and
NNI's DARTS route on a tiny config, and the command line's defaults and one-line errors."""
from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import stop_after

from nni_effnas import bench_oneshot, bench_oneshot_timing, cli
from nni_effnas.nb201 import load_table, parse_arch
from nni_effnas.report_io import save_json
from nni_effnas.strategies.oneshot import ONESHOT

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(variants=("darts", "gdas"), data="digits", epochs=1, seeds=1, channels=4, num_cells=1, limit=256,
            val_limit=100, batch_size=32, power_iterations=2, timing_steps=0)
TINY_SETTINGS = {"data": "digits", "channels": 4, "num_cells": 1, "batch_size": 32, "accelerator": "cpu"}


@pytest.fixture(scope="module")
def report():
    lines = []
    out = bench_oneshot.run_benchmark(**TINY, progress=lambda done, total, line: lines.append((done, total, line)))
    out["_progress"] = lines
    return out


def test_workers_give_the_report_of_one_process_and_journal_every_run(report, tmp_path):
    # the module runs with one torch thread (the fixture), as each worker process does: the same runs, bit for bit
    lines, journal = [], tmp_path / "runs.jsonl"
    two = bench_oneshot.run_benchmark(**TINY, workers=2, journal=journal,
                                      progress=lambda done, total, line: lines.append((done, total)))
    timing = {"seconds", "seconds_per_step", "peak_memory_mb"}
    assert [{k: v for k, v in run.items() if k not in timing} for run in two["runs"]] == \
        [{k: v for k, v in run.items() if k not in timing} for run in report["runs"]]
    untimed = [{k: v for k, v in row.items() if not k.startswith(("seconds", "peak_memory"))} for row in two["summary"]]
    assert untimed == [{k: v for k, v in row.items() if not k.startswith(("seconds", "peak_memory"))}
                       for row in report["summary"]]
    assert sorted(lines) == [(1, 2), (2, 2)] and len(journal.read_text().splitlines()) == 1 + 2  # header + runs
    with pytest.raises(ValueError, match="--workers must be an int >= 1, got 0"):
        bench_oneshot.run_benchmark(**TINY, workers=0)


def test_report_structure(report):
    assert {"benchmark", "space", "settings", "variants", "method_args", "seeds", "metric", "references",
            "machine", "wall_s", "summary", "runs", "comparison"} <= set(report)
    assert report["variants"] == ["darts", "gdas"] and report["seeds"] == [0] and report["comparison"] is None
    assert report["settings"]["data"] == "digits" and report["settings"]["epochs"] == 1
    assert [(d, t) for d, t, _ in report["_progress"]] == [(1, 2), (2, 2)]
    assert report["_progress"][0][2].startswith("darts seed 0: |")
    assert [(r["variant"], r["seed"]) for r in report["runs"]] == [("darts", 0), ("gdas", 0)]
    for run in report["runs"]:
        assert "error" not in run, run.get("error")
        ops = parse_arch(run["arch"])
        assert run["skip_count"] == ops.count("skip_connect")
        assert run["param_free_count"] == sum(op in ("none", "skip_connect", "avg_pool_3x3") for op in ops)
        assert 0 <= run["alpha_entropy_norm"] <= 1 and math.isfinite(run["hessian_eig"])
        assert run["seconds"] > 0 and run["seconds_per_step"] > 0 and run["epochs"] == 1
        assert run["steps_per_epoch"] == 256 // 2 // 32
        assert len(run["curves"]) == 1 and run["curves"][0]["skip_count"] == run["skip_count"]
        assert run["curves"][0]["hessian_eig"] == run["hessian_eig"]
        assert run["method_args"]["seed"] == 0


def test_accuracies_are_the_tables_values_for_the_derived_cells(report):
    table = load_table()
    for run in report["runs"]:
        assert run["index"] == table.index(run["arch"])
        for dataset in ("cifar10", "cifar100", "imagenet16"):
            assert run["accuracy"][dataset] == pytest.approx(table.query(run["arch"], dataset)["test_acc_200ep"])
    for row, run in zip(report["summary"], report["runs"]):
        assert row["variant"] == run["variant"] and row["seeds"] == 1 and row["failed"] == 0
        assert row["cells"] == [run["arch"]]
        assert row["cifar10_mean"] == run["accuracy"]["cifar10"] and row["cifar10_std"] == 0.0
        assert row["imagenet16_mean"] == run["accuracy"]["imagenet16"]
        assert row["hessian_eig_mean"] == run["hessian_eig"] and row["skip_count_mean"] == run["skip_count"]
    refs = report["references"]
    assert refs["all_skip"]["cifar10"] == pytest.approx(54.30, abs=0.01)
    assert refs["best"]["cifar10"] == pytest.approx(94.37, abs=0.01)


def test_summary_mean_std_skips_failed_runs():
    def run(seed, acc, eig):
        return {"variant": "darts", "seed": seed, "arch": "a", "accuracy": {d: acc for d in
                ("cifar10", "cifar100", "imagenet16")}, "skip_count": 1, "alpha_entropy": 1.0,
                "alpha_entropy_norm": 0.5, "hessian_eig": eig, "seconds": 2.0, "seconds_per_step": 0.1}

    runs = [run(0, 90.0, 1.0), run(1, 92.0, None), {"variant": "darts", "seed": 2, "error": "boom"}]
    (row,) = bench_oneshot.summarise(runs, ["darts"])
    assert row["seeds"] == 2 and row["failed"] == 1 and row["cells"] == ["a", "a"]
    assert row["cifar10_mean"] == 91.0 and row["cifar10_std"] == pytest.approx(math.sqrt(2))
    assert row["hessian_eig_mean"] == 1.0 and row["hessian_eig_std"] == 0.0  # None left out


def test_a_crashing_method_is_recorded_not_raised(monkeypatch):
    import nni_effnas.oneshot.runner as oneshot  # where every method's search finds run_oneshot

    def boom(**kwargs):
        raise RuntimeError("loss became nan\nsecond line")

    monkeypatch.setattr(oneshot, "run_oneshot", boom)
    out = bench_oneshot.run_benchmark(**{**TINY, "variants": ("darts",)})
    assert out["runs"] == [{"variant": "darts", "seed": 0, "error": "RuntimeError: loss became nan"}]
    assert out["summary"][0]["seeds"] == 0 and out["summary"][0]["failed"] == 1
    assert "darts seed 0 FAILED: RuntimeError: loss became nan" in bench_oneshot.format_table(out)


def test_table_json_and_plot(report, tmp_path):
    report = {k: v for k, v in report.items() if k != "_progress"}
    text = bench_oneshot.format_table(report)
    assert text.startswith("oneshot/nb201: searched on digits")
    assert "| darts | 1 |" in text and "| gdas | 1 |" in text and "all-skip 54.30, best 94.37" in text
    path = tmp_path / "out" / "r.json"
    save_json({**report, "runs": [{**report["runs"][0], "hessian_eig": float("nan")},
                                                 *report["runs"][1:]]}, path)
    loaded = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert loaded["runs"][0]["hessian_eig"] is None and not list(path.parent.glob("*.tmp"))
    png = tmp_path / "plots" / "oneshot.png"
    bench_oneshot.plot(loaded, png)  # read back from JSON: None for NaN
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in png.parent.iterdir()] == ["oneshot.png"]


def test_nni_darts_route_gives_a_step_time_or_a_reason():
    row = bench_oneshot_timing.measure_impl("nni:darts", settings=TINY_SETTINGS, steps=2)
    assert row["impl"] == "nni:darts"
    if "error" in row:  # NNI's route could not run: the reason is reported instead of numbers
        assert isinstance(row["error"], str) and row["error"]
    else:
        assert row["steps_timed"] == 1 and row["step_s_median"] > 0 and row["cpu_s_median"] > 0
        assert math.isfinite(row["peak_memory_mb"]) and "resident-set growth" in row["memory_metric"]


def test_allocator_peak_counts_live_tensor_bytes():
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        a = torch.empty(2 ** 20)  # 4 MiB
        del a
        b, c = torch.empty(2 ** 19), torch.empty(2 ** 19)  # 2 + 2 MiB
        d = torch.empty(2 ** 18)  # + 1 MiB while b and c live: the peak
        del b, c, d
    assert bench_oneshot_timing.allocator_peak_bytes(prof) == 5 * 2 ** 20
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        pass
    assert bench_oneshot_timing.allocator_peak_bytes(prof) == 0


def test_allocator_peak_of_a_training_run():
    row = bench_oneshot_timing.measure_impl("ours:darts", settings=TINY_SETTINGS, steps=2, allocator=True)
    plain = bench_oneshot_timing.measure_impl("ours:darts", settings=TINY_SETTINGS, steps=2)
    assert row["allocated_peak_mb"] > 0 and "allocated_peak_mb" not in plain


def test_comparison_targets(monkeypatch):
    numbers = {"ours:darts": (1.0, 100.0), "nni:darts": (2.0, 120.0), "ours:pc_darts": (0.9, 40.0)}

    allocated = {"ours:darts": 50.0, "nni:darts": 60.0, "ours:pc_darts": 20.0}

    def fake(impl, *, settings, steps, seed, method_args, allocator=False):
        if impl == "nni:darts" and settings.get("fail_nni"):
            return {"impl": impl, "error": "TypeError: nope"}
        cpu, mem = numbers[impl]
        return {"impl": impl, "step_s_median": 3 * cpu, "cpu_s_median": cpu, "peak_memory_mb": mem,
                "memory_metric": "m", "method_args": method_args,
                **({"allocated_peak_mb": allocated[impl], "step_s_median": 99.0} if allocator else {})}

    monkeypatch.setattr(bench_oneshot_timing, "measure_impl", fake)
    out = bench_oneshot_timing.compare_step_time(settings={**TINY_SETTINGS}, steps=3, subprocess=False,
                                                 method_args={"pc_darts": {"k": 4}})
    step, mem = out["targets"]["darts_step_time"], out["targets"]["pc_darts_memory"]
    assert step["value"] == 0.5 and step["met"] is True and "cpu_s_median" in step["statement"]
    assert step["wall_ratio"] == 0.5
    if "pc_darts" in ONESHOT:
        assert list(out["impls"]) == ["ours:darts", "nni:darts", "ours:pc_darts"]
        assert out["impls"]["ours:pc_darts"]["method_args"] == {"k": 4}
        assert mem["value"] == 0.4 and mem["met"] is True
        assert mem["allocator_value"] == 0.4 and mem["allocator_met"] is True
        # the profiled pass gives the allocator peak only: its slowed steps are not the reported times
        assert out["impls"]["ours:darts"]["allocated_peak_mb"] == 50.0
        assert out["impls"]["ours:darts"]["step_s_median"] == 3.0
    else:
        assert list(out["impls"]) == ["ours:darts", "nni:darts"] and mem["met"] is None and mem["reason"]
    failed = bench_oneshot_timing.compare_step_time(settings={**TINY_SETTINGS, "fail_nni": True}, steps=3,
                                                    subprocess=False)
    assert failed["impls"]["nni:darts"]["error"] == "TypeError: nope"
    assert failed["targets"]["darts_step_time"]["value"] is None
    assert failed["targets"]["darts_step_time"]["met"] is None
    with pytest.raises(ValueError, match="--timing-steps must be an int >= 2"):
        bench_oneshot_timing.compare_step_time(settings=TINY_SETTINGS, steps=1)


BASE = ["bench", "oneshot", "--data", "digits", "--channels", "4", "--num-cells", "1", "--epochs", "1",
        "--limit", "128", "--val-limit", "50", "--batch-size", "32", "--power-iterations", "2", "--quiet"]


def test_cli_bench_oneshot(tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    argv = [*BASE, "--variants", "darts", "--timing-steps", "0", "--json", str(out_json), "--plot", str(out_png)]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "| darts | 1 |" in captured.out and f"wrote {out_json}" in captured.out and captured.err == ""
    loaded = json.loads(out_json.read_text())
    assert loaded["variants"] == ["darts"] and len(loaded["runs"]) == 1 and out_png.stat().st_size > 0


def test_cli_defaults_are_the_modules():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["bench"]
    parser = next(a for a in sub._actions if a.dest == "bench_command").choices["oneshot"]
    defaults = {a.dest: a.default for a in parser._actions}
    assert defaults["variants"] is None  # every registered method
    for key, value in bench_oneshot.DEFAULTS.items():
        assert defaults[key] == value, key


@pytest.mark.parametrize("extra, message", [
    (["--variants", "darts,nope"], "unknown one-shot method 'nope'; expected one of:"),
    (["--variants", ","], "--variants is empty"),
    (["--epochs", "0"], "--epochs must be an int >= 1, got 0"),
    (["--epochs", "-2"], "--epochs must be an int >= 1, got -2"),
    (["--seeds", "0"], "--seeds must be an int >= 1, got 0"),
    (["--batch-size", "1"], "--batch-size must be an int >= 2, got 1"),
    (["--limit", "40"], "--limit 40 gives fewer than one batch of 32 per half"),
    (["--timing-steps", "1"], "--timing-steps must be 0 (no step-time comparison) or >= 2"),
    (["--method-args", "{bad"], "--method-args must be JSON"),
    (["--method-args", '{"gdas": {}}'], "--method-args names 'gdas', which is not among --variants"),
    (["--method-args", '{"darts": {"nope": 1}}'], "bad arguments for one-shot method 'darts'"),
    (["--method-args", '{"darts": 3}'], "--method-args for 'darts' must be an object of keyword arguments"),
    (["--method-args", '{"darts": {"seed": 3}}'], "sets seed; the benchmark sets it per run"),
    (["--method-args", "[1]"], "--method-args must map variant names to keyword arguments"),
    (["--space", "darts"], "no one-shot benchmark for space 'darts'; expected nb201"),
    (["--data", "mnist"], "unknown dataset 'mnist'"),
    (["--accelerator", "tpu"], "unknown --accelerator 'tpu'; expected cpu or gpu"),
    (["--search-args", '{"bogus": 1}'], "--search-args 'bogus': not an argument of the search; expected some of"),
    (["--search-args", '{"cost_penalty": null, "space": 1}'], "--search-args 'space': not an argument"),
    pytest.param(["--accelerator", "gpu"], "torch sees no CUDA GPU",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
])
def test_cli_bad_input_returns_2_and_writes_nothing(extra, message, tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    argv = [*BASE, "--variants", "darts", "--json", str(out_json), "--plot", str(out_png), *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nni-effnas: error:") and message in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_search_args_reach_every_search(monkeypatch):
    import nni_effnas.oneshot.runner as oneshot  # where every method's search finds run_oneshot

    seen = []

    def record(**kwargs):
        seen.append(kwargs["search_args"])
        raise RuntimeError("stop here")

    monkeypatch.setattr(oneshot, "run_oneshot", record)
    out = bench_oneshot.run_benchmark(**{**TINY, "variants": ("darts",)}, search_args={"a_lr": 3e-3})
    assert seen == [{"a_lr": 3e-3}] and out["settings"]["search_args"] == {"a_lr": 3e-3}
    assert cli.main(["bench", "oneshot", "--search-args", "[1]"]) == 2


def test_p_darts_runs_its_progressive_stages():
    """The bench's p_darts is run_pdarts: three stages of 1, 2 and 3 cells, curves over all of them, the final
    cell from the last stage's kept ops with at most two skips, and the table's accuracies for it."""
    out = bench_oneshot.run_benchmark(**{**TINY, "variants": ("p_darts",)})
    (run,) = out["runs"]
    assert "error" not in run, run.get("error")
    assert [s["depth"] for s in run["stages"]] == list(bench_oneshot.PDARTS_DEPTHS) == [1, 2, 3]
    assert run["stages"][0]["keep"] is None
    assert all(len(ops) == 3 for ops in run["stages"][2]["keep"].values())
    from nni_effnas.search_spaces import get_space

    sample = get_space("nb201").from_string(run["arch"])
    assert all(op in run["stages"][2]["keep"][label] for label, op in sample.items())
    assert parse_arch(run["arch"]).count("skip_connect") <= 2
    assert [c["epoch"] for c in run["curves"]] == [1, 2, 3]
    assert run["accuracy"]["cifar10"] == pytest.approx(load_table().query(run["arch"], "cifar10")["test_acc_200ep"])


def test_darts_pt_run_reports_its_selection_and_the_final_cells_counts():
    out = bench_oneshot.run_benchmark(**{**TINY, "variants": ("darts_pt",)})
    run = out["runs"][0]
    assert "error" not in run, run.get("error")
    ops = parse_arch(run["arch"])
    assert run["skip_count"] == ops.count("skip_connect")  # the selected cell's, not the last epoch's logits'
    chosen = {entry["label"]: entry["selected"] for entry in run["selection"]}
    assert len(chosen) == 6 and sorted(chosen.values()) == sorted(ops)


def test_zc_pt_run_reports_its_candidates_and_no_training_curves():
    args = {"zc_pt": {"pool_size": 2, "validate_batches": 1, "validate_model": {"channels": 4, "num_cells": 1}}}
    out = bench_oneshot.run_benchmark(**{**TINY, "variants": ("zc_pt",), "method_args": args})
    run = out["runs"][0]
    assert "error" not in run, run.get("error")
    assert [c["pass"] for c in run["candidates"]] == [0, 1] and run["arch"] in {c["arch"] for c in run["candidates"]}
    assert run["epochs"] == 0 and run["curves"] == [] and run["method_args"]["pool_size"] == 2
    chosen = {entry["label"]: entry["selected"] for entry in run["selection"]}
    assert len(chosen) == 6 and sorted(chosen.values()) == sorted(parse_arch(run["arch"]))


def test_a_stopped_benchmark_resumes_from_its_journal(monkeypatch, tmp_path):
    """Finished (variant, seed) runs are journaled at once; the rerun searches only the missing ones, reads the
    others back (NaN as None) and summarises all; other settings are refused."""
    calls = []

    def fake_search(variant, seed, *, settings, method_args=None):
        calls.append((variant, seed))
        return {"variant": variant, "seed": seed, "arch": "a", "accuracy": {"cifar10": 90.0 + seed,
                "cifar100": 70.0, "imagenet16": 40.0}, "hessian_eig": float("nan"), "skip_count": 1, "seconds": 1.0,
                "seconds_per_step": 0.1}

    monkeypatch.setattr(bench_oneshot, "search_one", fake_search)
    monkeypatch.setattr(bench_oneshot, "summarise", lambda runs, names: [dict(r) for r in runs])
    monkeypatch.setattr(bench_oneshot, "reference_cells", lambda: {})
    journal = tmp_path / "oneshot.jsonl"
    args = {**TINY, "seeds": 2, "journal": journal}

    with pytest.raises(KeyboardInterrupt):
        bench_oneshot.run_benchmark(**args, progress=stop_after(3))
    assert calls == [("darts", 0), ("darts", 1), ("gdas", 0)]
    calls.clear()
    out = bench_oneshot.run_benchmark(**args)
    assert calls == [("gdas", 1)]
    assert [(r["variant"], r["seed"]) for r in out["runs"]] == [("darts", 0), ("darts", 1), ("gdas", 0), ("gdas", 1)]
    assert all(r["hessian_eig"] is None for r in out["runs"])  # NaN as it reads back, read or run afresh
    with pytest.raises(ValueError, match="was written with epochs=1, this run has epochs=2"):
        bench_oneshot.run_benchmark(**{**args, "epochs": 2})
    with pytest.raises(ValueError, match="has 'darts' run as .*this run gives it .*\"init_scale\": 0.01"):
        bench_oneshot.run_benchmark(**{**args, "variants": ("darts",), "method_args": {"darts": {"init_scale": 0.01}}})

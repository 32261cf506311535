"""``nni-effnas bench multiobjective``: hypervolume ratios, constrained mode, reports, plots and bad input."""
import json

import numpy as np
import pytest
from conftest import stop_after

from nni_effnas import bench_multiobjective as bm
from nni_effnas.cli import main
from nni_effnas.nb201 import load_table
from nni_effnas.pareto import FrontScale, hypervolume
from nni_effnas.report_io import save_json
from nni_effnas.tabular import TabularBenchmark


@pytest.fixture(scope="module")
def bench():
    return TabularBenchmark.nb201("cifar10")


def test_reference_and_ceiling(bench):
    device = bm.nb201_devices(bench, "fpga")[0]
    ref = bm.device_reference(bench, device)
    table = load_table()
    latency = table.column("cifar10", "latency:fpga")
    assert np.array_equal(device.latency, latency)
    front = ref["true_front"]
    assert front[:, 0].max() == pytest.approx(bench.reported.max())  # the best cell is on the true front
    assert front[:, 1].min() == pytest.approx(latency.min()) or front[0, 1] == pytest.approx(latency.min())
    assert ref["true_hv"] == pytest.approx(hypervolume(front, FrontScale.of(front)))
    assert 0.9 < ref["ceiling"] < 1.0  # 12-epoch validation picks a slightly worse front than test accuracy would


def test_pareto_report(bench, tmp_path):
    devices = bm.nb201_devices(bench, "pixel2,fpga")
    report = bm.run_benchmark(bench, devices, ["random", "nsga2"], seeds=2, budget_frac=0.03,
                              strategy_args={"nsga2": {"sampler_args": {"population_size": 4}}})
    assert list(report["devices"]) == ["pixel2", "fpga"]
    for dev in report["devices"].values():
        for row in dev["strategies"].values():
            assert len(row["values"]) == 2 and all(0 <= v <= 1 for v in row["values"])
            assert row["hv_ratio_evaluated_mean"] >= row["mean"] - 1e-12  # the selected front is a subset
            assert row["evaluated_mean"] >= 1 and len(row["fronts"]) == 2
    text = bm.format_table(report)
    assert "| pixel2 |" in text and "mean over devices" in text
    save_json(report, tmp_path / "r.json")
    bm.plot(json.loads((tmp_path / "r.json").read_text()), tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_merge_joins_devices_and_pools_consecutive_seeds(bench):
    """Three seeds on two devices equal the merge of seed 0 on each device apart and seeds 1-2 on both."""
    kw = dict(budget_frac=0.03, strategy_args=None)
    whole = bm.run_benchmark(bench, bm.nb201_devices(bench, "pixel2,fpga"), ["random"], seeds=3, **kw)
    parts = [bm.run_benchmark(bench, bm.nb201_devices(bench, "fpga"), ["random"], seeds=1, **kw),
             bm.run_benchmark(bench, bm.nb201_devices(bench, "pixel2,fpga"), ["random"], seeds=2, seed_offset=1, **kw),
             bm.run_benchmark(bench, bm.nb201_devices(bench, "pixel2"), ["random"], seeds=1, **kw)]
    merged = bm.merge_reports(parts)
    assert (merged["seeds"], merged["seed_offset"]) == (3, 0) and sorted(merged["devices"]) == ["fpga", "pixel2"]
    for name, device in whole["devices"].items():
        got, want = merged["devices"][name]["strategies"]["random"], device["strategies"]["random"]
        assert got["values"] == want["values"] and got["fronts"] == want["fronts"]
        for key in ("mean", "sem", "median", "hv_ratio_evaluated_mean", "evaluated_mean"):
            assert got[key] == pytest.approx(want[key], abs=1e-4), key
    with pytest.raises(ValueError, match="not consecutive: expected one starting at 1, got 2"):
        bm.merge_reports([parts[0], {**parts[1], "seed_offset": 2}])
    with pytest.raises(ValueError, match="different devices"):
        bm.merge_reports(parts[:2])
    with pytest.raises(ValueError, match="device 'fpga' appears twice"):
        bm.merge_reports([parts[0], parts[0]])
    with pytest.raises(ValueError, match="reports differ in budget_frac"):
        bm.merge_reports([parts[0], {**parts[2], "budget_frac": 0.5}])


def test_constrained_report(bench):
    devices = bm.nb201_devices(bench, "pixel2")
    report = bm.run_constrained(bench, devices, ["random"], bound="Q25", seeds=2, budget_frac=0.05,
                                mnasnet="regularized_evolution")
    dev = report["devices"]["pixel2"]
    assert dev["bound_ms"] == pytest.approx(np.percentile(devices[0].latency, 25))
    feasible = devices[0].latency <= dev["bound_ms"]
    assert dev["optimum"] == pytest.approx(bench.reported[feasible].max())
    assert dev["ceiling"] <= dev["optimum"]
    assert set(dev["strategies"]) == {"random", "mnasnet[regularized_evolution]"}
    for row in dev["strategies"].values():
        assert all(v <= dev["optimum"] + 1e-9 for v in row["values"] if v == v)
        assert row["gap_to_optimum"] == pytest.approx(dev["optimum"] - row["mean"])
    assert "latency <= Q25" in bm.format_table(report)


def test_latency_bounds():
    device = bm.Device("d", np.array([1.0, 2.0, 3.0, 4.0]))
    assert bm.latency_bound(device, "median") == 2.5
    assert bm.latency_bound(device, "Q100") == 4.0
    assert bm.latency_bound(device, "3.5") == 3.5
    with pytest.raises(ValueError, match="bad latency bound 'fast'"):
        bm.latency_bound(device, "fast")
    with pytest.raises(ValueError, match="non-finite"):
        bm.Device("broken", np.array([1.0, np.nan]))


def test_cli_errors(capsys):
    assert main(["bench", "multiobjective", "--device", "nope", "--seeds", "1", "--quiet"]) == 2
    assert "unknown device 'nope'; the NAS-Bench-201 tables have: 1080ti_1" in capsys.readouterr().err
    assert main(["bench", "multiobjective", "--latency-bound", "0.01", "--seeds", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "infeasible on pixel2" in err and "closest" in err
    assert main(["bench", "multiobjective", "--latency-table", "x.csv", "--quiet"]) == 2
    assert "needs --latency-column" in capsys.readouterr().err
    assert main(["bench", "multiobjective", "--seeds", "0", "--quiet"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    assert main(["bench", "multiobjective", "--device", "fpga", "--latency-table", "x.csv", "--latency-column", "ms",
                 "--quiet"]) == 2
    assert "--device fpga and --latency-table x.csv both name the latencies; give one" in capsys.readouterr().err
    assert main(["bench", "multiobjective", "--strategies", "", "--seeds", "1", "--quiet"]) == 2
    assert "no strategies given" in capsys.readouterr().err
    assert main(["bench", "multiobjective", "--dataset", "imagenet16", "--seeds", "1", "--quiet"]) == 2
    assert "latencies are for 32x32 inputs, not ImageNet16-120's" in capsys.readouterr().err
    assert main(["bench", "multiobjective", "--latency-bound", "MEDIAN", "--strategies", "nsga2", "--seeds", "1",
                 "--quiet"]) == 2
    assert "'nsga2' (nsga2) is a multi-objective strategy" in capsys.readouterr().err


def test_cli_writes_json_and_plot(tmp_path, capsys):
    out = tmp_path / "mo.json"
    assert main(["bench", "multiobjective", "--device", "fpga", "--seeds", "1", "--budget-frac", "0.02",
                 "--strategies", "random,motpe", "--json", str(out), "--plot", str(tmp_path / "mo.png"), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["strategies"] == ["random", "motpe"] and "fpga" in report["devices"]
    assert "| fpga |" in capsys.readouterr().out


def test_both_modes_resume_from_a_journal(bench, tmp_path, monkeypatch):
    """A journaled run stopped part-way is finished by the same call, running only the missing (device,
    strategy, seed) runs, with the numbers of an unjournaled run; another bound or device table is refused."""
    calls = []
    real = bm.run_search
    monkeypatch.setattr(bm, "run_search", lambda *a, **k: calls.append(1) or real(*a, **k))
    devices = bm.nb201_devices(bench, "pixel2,fpga")
    for mode, run, kwargs in (
            ("pareto", bm.run_benchmark, {}),
            ("constrained", bm.run_constrained, {"bound": "Q25", "mnasnet": None})):
        args = dict(seeds=2, budget_frac=0.03, **kwargs)
        whole = run(bench, devices, ["random"], **args)
        journal = tmp_path / f"{mode}.jsonl"
        with pytest.raises(KeyboardInterrupt):
            run(bench, devices, ["random"], **args, journal=journal, progress=stop_after(3))
        calls.clear()
        resumed = run(bench, devices, ["random"], **args, journal=journal)
        assert len(calls) == 1, mode  # 4 runs, 3 journaled before the stop
        for name in ("pixel2", "fpga"):
            got = resumed["devices"][name]["strategies"]["random"]
            want = whole["devices"][name]["strategies"]["random"]
            assert got["values"] == want["values"] and got["mean"] == pytest.approx(want["mean"]), mode
    with pytest.raises(ValueError, match="was written with bound='Q25', this run has bound='Q50'"):
        bm.run_constrained(bench, devices, ["random"], bound="Q50", mnasnet=None, seeds=1, budget_frac=0.03,
                           journal=tmp_path / "constrained.jsonl")
    faster = [bm.Device("pixel2", devices[0].latency * 0.5)]
    with pytest.raises(ValueError, match="has 'pixel2/random' run as .*this run gives it"):
        bm.run_benchmark(bench, faster, ["random"], seeds=1, budget_frac=0.03, journal=tmp_path / "pareto.jsonl")


def test_workers_give_the_report_of_one_process_in_both_modes(bench, tmp_path):
    devices = bm.nb201_devices(bench, "pixel2,fpga")
    common = dict(seeds=2, budget_frac=0.03)
    for mode, run in (("pareto", lambda **k: bm.run_benchmark(bench, devices, ["random", "nsga2"], **common, **k)),
                      ("constrained", lambda **k: bm.run_constrained(bench, devices, ["random"], bound="MEDIAN",
                                                                  mnasnet="regularized_evolution", **common, **k))):
        one = run()
        journal = tmp_path / f"{mode}.jsonl"
        two = run(workers=2, journal=journal)
        for device in ("pixel2", "fpga"):
            for label, row in one["devices"][device]["strategies"].items():
                other = two["devices"][device]["strategies"][label]
                for key in ("mean", "evaluated_mean"):
                    assert other[key] == row[key], (mode, device, label, key)
        runs = 2 * 2 * 2  # devices x rows (two strategies, or one and the MnasNet row) x seeds
        assert len(journal.read_text().splitlines()) == 1 + runs


def test_the_default_strategies_run_from_the_cli(tmp_path, capsys):
    """mo_bananas gets its cost model per device: the up-front argument check must give it one too."""
    out = tmp_path / "mo.json"
    assert main(["bench", "multiobjective", "--device", "fpga", "--seeds", "1", "--budget-frac", "0.02",
                 "--json", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["strategies"] == list(bm.DEFAULT_STRATEGIES)
    assert main(["bench", "multiobjective", "--device", "fpga", "--seeds", "1", "--budget-frac", "0.02",
                 "--strategies", "mo_bananas", "--strategy-args", '{"mo_bananas": {"bogus": 1}}', "--quiet"]) == 2
    assert "bogus" in capsys.readouterr().err

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import stop_after

from nni_effnas.bench_search import StrategyStats, anytime, format_table, run_benchmark
from nni_effnas.loop import run_search
from nni_effnas.strategies import create_strategy
from nni_effnas.tabular import Constraint, TabularBenchmark


@pytest.fixture(scope="module")
def bench():
    return TabularBenchmark.nb201("cifar10")


def test_report_structure_and_protocol(bench):
    report = run_benchmark(bench, ["random", "evolution"], seeds=3, budget_frac=0.1)
    assert set(report["strategies"]) == {"random", "regularized_evolution"}
    for s in report["strategies"].values():
        assert len(s["final"]) == 3
        assert 50 < s["mean"] <= report["optimum"]
        # about 18 cells fit in 10 % of the CIFAR-10 budget (anchors.md)
        assert 8 <= s["evaluated_mean"] <= 40
        assert s["curve"]["median"][-1] == pytest.approx(s["median"], abs=1e-3)


def test_anytime_curve_tracks_best_reward(bench):
    res = run_search(create_strategy("random", seed=1), bench.space, bench.evaluate, time_budget_s=3000)
    grid = np.linspace(0, 3000, 30)
    curve = anytime(res, grid)
    assert np.isnan(curve[0])
    assert curve[-1] == res.best.metrics["reported"]


def test_constrained_run_only_evaluates_feasible_cells(bench):
    c = Constraint.parse("params<=MEDIAN")
    report = run_benchmark(bench, ["random"], seeds=2, budget_frac=0.1, constraint=c)
    assert report["constraint"] == "params<=MEDIAN"
    assert report["optimum"] == pytest.approx(93.48, abs=0.01)
    assert all(v <= 93.48 + 1e-6 for v in report["strategies"]["random"]["final"])


def test_same_seeds_same_numbers(bench):
    a = run_benchmark(bench, ["evolution"], seeds=2, budget_frac=0.05)
    b = run_benchmark(bench, ["evolution"], seeds=2, budget_frac=0.05)
    assert a["strategies"]["regularized_evolution"]["final"] == b["strategies"]["regularized_evolution"]["final"]


def test_bad_arguments(bench):
    with pytest.raises(ValueError, match="--seeds must be >= 1"):
        run_benchmark(bench, ["random"], seeds=0, budget_frac=1)
    with pytest.raises(ValueError, match="unknown strategy 'bohb'"):
        run_benchmark(bench, ["bohb"], seeds=1, budget_frac=1)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nni_effnas.cli", "bench", "search", *args],
                          capture_output=True, text=True)


def test_cli_writes_json_and_plot(tmp_path):
    out = run_cli("--dataset", "cifar100", "--strategies", "random,nni-tpe", "--seeds", "2", "--budget-frac", "0.05",
                  "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png"), "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["strategies"]) == {"random", "nni_tpe"}
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert "nni_tpe" in out.stdout


def test_cli_list_strategies():
    out = run_cli("--list-strategies")
    names = out.stdout.split()
    assert {"random", "regularized_evolution", "nni_tpe", "nni_evolution", "nni_random"} <= set(names)


def test_cli_user_table(tmp_path):
    rows = [{"op1": a, "op2": b, "val": i, "secs": 10.0, "test": i + 1.0} for i, (a, b) in
            enumerate((a, b) for a in "pqrs" for b in "xyz")]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    out = run_cli("--table", str(tmp_path / "t.csv"), "--arch-columns", "op1,op2", "--reward-column", "val",
                  "--cost-column", "secs", "--reported-column", "test", "--budget-s", "1000", "--seeds", "2",
                  "--strategies", "random", "--json", str(tmp_path / "r.json"), "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ceiling"] == 12.0
    assert report["strategies"]["random"]["final"] == [12.0, 12.0]  # 100 evaluations of a 12-cell space


def test_cli_errors_are_one_line():
    out = run_cli("--strategies", "random,nope", "--seeds", "1")
    assert out.returncode == 2 and "unknown strategy 'nope'" in out.stderr
    out = run_cli("--constraint", "params<<3", "--seeds", "1")
    assert out.returncode == 2 and "bad constraint 'params<<3'" in out.stderr


def test_labelled_variants_of_one_strategy_run_side_by_side(bench):
    report = run_benchmark(bench, ["evolution", "big=evolution"], seeds=2, budget_frac=0.05,
                           strategy_args={"big": {"population_size": 5, "sample_size": 5}})
    assert list(report["strategies"]) == ["regularized_evolution", "big"]
    assert report["strategy_args"] == {"big": {"population_size": 5, "sample_size": 5}}
    same = run_benchmark(bench, ["big=evolution"], seeds=2, budget_frac=0.05,
                         strategy_args={"big": {"population_size": 5, "sample_size": 5}})
    assert same["strategies"]["big"]["final"] == report["strategies"]["big"]["final"]
    with pytest.raises(ValueError, match="bad strategy label 'a b'"):
        run_benchmark(bench, ["a b=evolution"], seeds=1, budget_frac=0.05)


def test_seeds_without_a_result_are_counted_not_averaged():
    st = StrategyStats("s", final=[90.0, float("nan"), 92.0], evaluated=[3, 0, 4], curve_t=[0.0, 1.0],
                       curve=[[np.nan, 90.0], [np.nan, np.nan], [92.0, 92.0]])
    summary = st.summary()
    assert summary["mean"] == pytest.approx(91.0) and summary["median"] == pytest.approx(91.0)
    assert summary["std"] == pytest.approx(np.std([90.0, 92.0], ddof=1))
    assert summary["seeds"] == 3 and summary["seeds_without_result"] == 1
    assert summary["final"] == [90.0, None, 92.0]
    report = {"benchmark": "b", "budget_frac": 1.0, "budget_s": 1.0, "seeds": 3, "constraint": None,
              "ceiling": 93.0, "optimum": 93.0, "strategies": {"s": summary}}
    assert "s: 1 of 3 seeds found no successful trial" in format_table(report)
    none = StrategyStats("s", [float("nan")], [0], [0.0], [[np.nan]]).summary()
    assert np.isnan(none["mean"]) and none["seeds_without_result"] == 1


def test_a_stopped_benchmark_resumes_from_its_journal(bench, tmp_path, monkeypatch):
    """Every finished run is in the journal at once; a rerun after a stop runs only the missing ones and
    reports what an unstopped run reports; a later run with more seeds reuses the finished ones."""
    import nni_effnas.bench_search as bench_search

    journal = tmp_path / "runs.jsonl"
    args = dict(seeds=3, budget_frac=0.05, strategy_args={"regularized_evolution": {"population_size": 5}})
    whole = run_benchmark(bench, ["random", "evolution"], **args)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(bench, ["random", "evolution"], **args, journal=journal, progress=stop_after(4))
    lines = journal.read_text().splitlines()
    assert len(lines) == 1 + 4 and json.loads(lines[0])["journal"] == "nni-effnas bench search"
    calls = []
    real = bench_search.run_search
    monkeypatch.setattr(bench_search, "run_search", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = run_benchmark(bench, ["random", "evolution"], **args, journal=journal)
    assert len(calls) == 2  # the two runs the stop cut off
    for name in ("random", "regularized_evolution"):
        assert resumed["strategies"][name]["final"] == whole["strategies"][name]["final"]
        assert resumed["strategies"][name]["evaluated_mean"] == whole["strategies"][name]["evaluated_mean"]
    calls.clear()
    more = run_benchmark(bench, ["random"], **{**args, "seeds": 5, "strategy_args": None}, journal=journal)
    assert len(calls) == 2 and more["strategies"]["random"]["final"][:3] == whole["strategies"]["random"]["final"]


def test_a_journal_cut_off_mid_write_loses_only_the_cut_line(bench, tmp_path):
    journal = tmp_path / "runs.jsonl"
    run_benchmark(bench, ["random"], seeds=2, budget_frac=0.05, journal=journal)
    text = journal.read_text()
    journal.write_text(text + text.splitlines()[-1][:25])  # a stop in the middle of writing a third record
    report = run_benchmark(bench, ["random"], seeds=3, budget_frac=0.05, journal=journal)
    assert len(report["strategies"]["random"]["final"]) == 3
    records = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert [r["seed"] for r in records] == [0, 1, 2]


def test_a_journal_refuses_other_settings(bench, tmp_path):
    journal = tmp_path / "runs.jsonl"
    run_benchmark(bench, ["random", "v=evolution"], seeds=1, budget_frac=0.05, journal=journal)
    with pytest.raises(ValueError, match=r"runs.jsonl was written with budget_frac=0.05, this run has "
                                         r"budget_frac=0.1; use another journal file"):
        run_benchmark(bench, ["random"], seeds=1, budget_frac=0.1, journal=journal)
    with pytest.raises(ValueError, match=r"has 'v' run as .*\"args\": \{\}.*; this run gives it .*"
                                         r"\"args\": \{\"population_size\": 4\}.* \(use another label"):
        run_benchmark(bench, ["v=evolution"], seeds=1, budget_frac=0.05, journal=journal,
                      strategy_args={"v": {"population_size": 4}})
    other = tmp_path / "other.txt"
    other.write_text("hello\n")
    with pytest.raises(ValueError, match="other.txt is not a nni-effnas bench search journal"):
        run_benchmark(bench, ["random"], seeds=1, budget_frac=0.05, journal=other)
    assert other.read_text() == "hello\n"


def test_cli_journal(tmp_path):
    journal = tmp_path / "j.jsonl"
    out = run_cli("--strategies", "random", "--seeds", "2", "--budget-frac", "0.05", "--journal", str(journal),
                  "--quiet")
    assert out.returncode == 0, out.stderr
    assert len(journal.read_text().splitlines()) == 3


def test_cli_checks_its_output_files_before_the_work(tmp_path, monkeypatch, capsys):
    """A bad --json/--plot/--journal path fails at once (one line, exit 2), not after a long run; a missing
    folder is created."""
    from nni_effnas import bench_search, cli

    ran = []
    monkeypatch.setattr(bench_search, "run_benchmark", lambda *a, **k: ran.append(1) or {})
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    base = ["bench", "search", "--seeds", "1", "--budget-frac", "0.01", "--quiet"]
    for extra, message in ((["--json", str(blocker / "r.json")], "--json"),
                           (["--plot", str(tmp_path)], "is a folder; expected a file path"),
                           (["--journal", str(blocker / "j" / "runs.jsonl")], "cannot create its folder")):
        assert cli.main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nni-effnas: error: ") and message in err and "\n" not in err
    assert ran == []
    monkeypatch.setattr(bench_search, "format_table", lambda report: "table")
    assert cli.main(base + ["--journal", str(tmp_path / "new" / "deeper" / "runs.jsonl")]) == 0
    assert ran == [1] and (tmp_path / "new" / "deeper").is_dir()


def test_cli_refuses_bad_settings_in_one_line_before_any_run_or_journal(tmp_path, monkeypatch, capsys):
    """Each bad value is a one-line error with exit 2, found before any run; no journal is started."""
    from nni_effnas import cli

    ran = []
    monkeypatch.setattr("nni_effnas.bench_search.run_search", lambda *a, **k: ran.append(1))
    journal = tmp_path / "j.jsonl"
    base = ["bench", "search", "--seeds", "1", "--budget-frac", "0.01", "--quiet", "--journal", str(journal)]
    cases = [
        (["--strategies", "random", "--strategy-args", '{"random": {"seed": 3}}'], "must not set seed (got seed=3)"),
        (["--strategies", "evolution", "--strategy-args", '{"evolution": {"bogus": 1}}'],
         "bad arguments for strategy 'regularized_evolution'"),
        (["--strategies", "nni_tpe", "--strategy-args", '{"nni_tpe": {"bogus": 1}}'], "unexpected keyword argument"),
        (["--strategies", "optuna_tpe", "--strategy-args", '{"optuna_tpe": {"sampler_args": {"bogus": 1}}}'],
         "bad sampler_args"),
        (["--strategies", "a=random,a=evolution"], "strategy label 'a' is given twice"),
        (["--strategies", ""], "no strategies given"),
        (["--json", str(journal)], "--json and --journal name the same file"),
        (["--plot", str(tmp_path / "curves")], "--plot " + str(tmp_path / "curves") + ": expected a file name ending"),
    ]
    for extra, message in cases:
        assert cli.main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("nni-effnas: error: ") and message in err and "\n" not in err, (extra, err)
    assert ran == [] and not journal.exists()
    for flag, value, message in (("--seed-offset", "-1", "expected a whole number >= 0, got '-1'"),
                                 ("--budget-s", "0", "expected a number of seconds > 0, got '0'"),
                                 ("--budget-s", "nan", "expected a number of seconds > 0, got 'nan'")):
        with pytest.raises(SystemExit) as stop:
            cli.main(base + [flag, value])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(ValueError, match="--seed-offset must be >= 0, got -2"):
        run_benchmark(TabularBenchmark.nb201("cifar10"), ["random"], seeds=1, budget_frac=0.01, seed_offset=-2)


def test_workers_give_the_report_of_one_process_and_journal_every_run(tmp_path):
    bench = TabularBenchmark.nb201("cifar10")
    kwargs = dict(seeds=3, budget_frac=0.05, strategy_args={"evolution": {"population_size": 5, "sample_size": 2}})
    one = run_benchmark(bench, ["random", "evolution"], **kwargs)
    journal = tmp_path / "runs.jsonl"
    ticks = []
    two = run_benchmark(bench, ["random", "evolution"], workers=2, journal=journal, progress=lambda: ticks.append(1),
                        **kwargs)
    for name in ("random", "regularized_evolution"):
        assert two["strategies"][name]["final"] == one["strategies"][name]["final"]
        assert two["strategies"][name]["evaluated_mean"] == one["strategies"][name]["evaluated_mean"]
    assert len(ticks) == 6 and len(journal.read_text().splitlines()) == 1 + 6
    with pytest.raises(ValueError, match="workers must be an int >= 1, got 0"):
        run_benchmark(bench, ["random"], seeds=1, budget_frac=0.05, workers=0)

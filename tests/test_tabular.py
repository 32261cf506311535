import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from nni_effnas.tabular import Constraint, TabularBenchmark


@pytest.fixture(scope="module")
def nb201_c10():
    return TabularBenchmark.nb201("cifar10")


def test_nb201_protocol_numbers(nb201_c10):
    assert nb201_c10.budget_s == 20_000
    assert round(nb201_c10.ceiling(), 2) == 94.37
    assert round(nb201_c10.optimum(), 2) == 94.37
    assert len(nb201_c10.rows) == 15625
    rec = nb201_c10.evaluate(nb201_c10.space.decode((1,) * 6))  # all skip_connect
    assert round(rec["reported"], 2) == 54.30


@pytest.mark.parametrize("dataset, ceiling, budget", [("cifar100", 72.28, 40_000), ("imagenet16", 46.48, 120_000)])
def test_nb201_ceilings_match_the_protocol(dataset, ceiling, budget):
    bench = TabularBenchmark.nb201(dataset)
    assert round(bench.ceiling(), 2) == ceiling
    assert bench.budget_s == budget


@pytest.mark.parametrize("dataset, median, best", [("cifar10", 0.344, 93.48), ("cifar100", 0.350, 70.34), ("imagenet16", 0.351, 43.57)])
def test_median_params_constraint_matches_anchors(dataset, median, best):
    bench = TabularBenchmark.nb201(dataset)
    c = Constraint.parse("params<=MEDIAN")
    assert round(c.threshold(bench), 3) == median
    assert round(bench.optimum(c.mask(bench)), 2) == best


def test_constraint_parsing():
    assert Constraint.parse("latency:pixel2<=13") == Constraint("latency:pixel2", "<=", "13")
    assert str(Constraint.parse(" params > 0.5 ")) == "params>0.5"
    for bad in ["params", "params<=abc", "<=3", "", "params<=inf", "params<=nan"]:
        with pytest.raises(ValueError, match="bad constraint"):
            Constraint.parse(bad)


def test_constraint_feasibility(nb201_c10):
    feasible = Constraint.parse("latency:pixel2<=13").feasible(nb201_c10)
    lat = nb201_c10.column("latency:pixel2")
    samples = [nb201_c10.space.decode(c) for c in [(0,) * 6, (3,) * 6, (1, 2, 3, 4, 0, 1)]]
    for s in samples:
        assert feasible(s) == (lat[nb201_c10.row(s)] <= 13)
    with pytest.raises(ValueError, match="admits no architecture"):
        Constraint.parse("params<=0").feasible(nb201_c10)
    with pytest.raises(ValueError, match="unknown column 'flops'"):
        Constraint.parse("flops<=3").mask(nb201_c10)


def write_table(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_user_csv_table(tmp_path):
    rows = [{"depth": d, "width": w, "acc": d * w, "t": 1.0 + d, "test": d * w + 0.5, "lat": d}
            for d in (1, 2, 3) for w in (8, 16)]
    path = write_table(tmp_path / "t.csv", rows)
    bench = TabularBenchmark.from_csv(path, arch_columns=["depth", "width"], reward="acc", cost="t",
                                      reported="test", budget_s=10)
    assert bench.space.size == 6
    assert bench.evaluate({"depth": "3", "width": "16"}) == {"default": 48.0, "cost": 4.0, "reported": 48.5}
    assert bench.ceiling() == 48.5
    assert Constraint.parse("lat<=2").mask(bench).sum() == 4


def test_user_csv_errors(tmp_path):
    ok = [{"a": "x", "r": 1.0, "c": 1.0, "p": 1.0}, {"a": "y", "r": 2.0, "c": 1.0, "p": 2.0}]
    path = write_table(tmp_path / "t.csv", ok)
    kw = dict(arch_columns=["a"], reward="r", cost="c", reported="p", budget_s=5)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        TabularBenchmark.from_csv(tmp_path / "nope.csv", **kw)
    with pytest.raises(ValueError, match=r"no column\(s\) \['acc'\]"):
        TabularBenchmark.from_csv(path, **{**kw, "reward": "acc"})
    dup = write_table(tmp_path / "dup.csv", ok + [ok[0]])
    with pytest.raises(ValueError, match="appears twice"):
        TabularBenchmark.from_csv(dup, **kw)
    nan = write_table(tmp_path / "nan.csv", [ok[0], {**ok[1], "c": np.nan}])
    with pytest.raises(ValueError, match="line 3: column 'c' is nan; expected a finite number of seconds > 0"):
        TabularBenchmark.from_csv(nan, **kw)
    text = write_table(tmp_path / "text.csv", [{**ok[0], "r": "high"}, {**ok[1], "r": "low"}])
    with pytest.raises(ValueError, match="'r' is not numeric"):
        TabularBenchmark.from_csv(text, **kw)


GRID = "a,b,r,c,p\nx,u,1,10,1.5\nx,v,2,10,2.5\ny,u,3,10,3.5\ny,v,4,10,4.5\n"  # every combination of a and b
KW = dict(arch_columns=["a", "b"], reward="r", cost="c", reported="p", budget_s=100)


def refusal(path, **kw) -> str:
    """The one-line message ``from_csv`` refuses ``path`` with."""
    with pytest.raises(ValueError) as info:
        TabularBenchmark.from_csv(path, **{**KW, **kw})
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize("old, new, expected", [
    ("y,u,3", ",u,3", r"line 4: empty cell in architecture column 'a'; expected a value"),
    ("y,u,3,10", "y,u,3,0", r"line 4: column 'c' is 0; expected a finite number of seconds > 0 \(1 bad row"),
    (",10,", ",-1,", r"line 2: column 'c' is -1; expected a finite number of seconds > 0 \(4 bad row"),
    ("y,v,4,10", "y,v,4,inf", r"line 5: column 'c' is inf; expected a finite number of seconds > 0"),
    ("y,v,4,", "y,v,inf,", r"line 5: column 'r' is inf; expected a finite number \(or empty for a failed"),
    ("x,v,2,10,2.5", "x,v,2,10,", r"line 3: column 'p' is nan; expected a finite number on every row with a reward"),
    ("y,v,4,10,4.5", "", r"lacks 1 of the 4 combinations of \['a', 'b'\], e.g. \{'a': 'y', 'b': 'v'\}; expected one"),
])
def test_user_csv_refuses_bad_rows(tmp_path, old, new, expected):
    path = tmp_path / "t.csv"
    path.write_text(GRID.replace(old, new))
    assert re.search(expected, refusal(path))


def test_user_csv_refuses_bad_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    assert "empty.csv is empty; expected a CSV file with a header line" in refusal(tmp_path / "empty.csv")
    (tmp_path / "ragged.csv").write_text(GRID + "x,u,1,1,1,9\n")
    assert "is not a valid CSV file (Expected 5 fields in line 6, saw 6)" in refusal(tmp_path / "ragged.csv")
    (tmp_path / "header.csv").write_text("a,b,r,c,p\n")
    assert "header.csv has no rows; expected one row per architecture" in refusal(tmp_path / "header.csv")
    (tmp_path / "dir.csv").mkdir()
    assert "dir.csv is a directory; expected a CSV file" in refusal(tmp_path / "dir.csv")
    (tmp_path / "latin1.csv").write_bytes(GRID.replace("x,", "\xe9,").encode("latin-1"))
    assert "latin1.csv is not UTF-8 text; expected a UTF-8 CSV file" in refusal(tmp_path / "latin1.csv")
    (tmp_path / "none.csv").write_text("a,b,r,c,p\n" + "".join(f"{a},{b},,10,1\n" for a in "xy" for b in "uv"))
    assert "column 'r' (the reward) is empty; expected numbers" in refusal(tmp_path / "none.csv")


def test_user_csv_refuses_bad_arguments(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(GRID)
    message = refusal(path, arch_columns=["a", "r"])
    assert "column 'r' is used both as an architecture column and as the reward" in message
    assert "architecture column(s) ['a'] named more than once" in refusal(path, arch_columns=["a", "a"])
    assert "arch_columns (--arch-columns) must name at least one" in refusal(path, arch_columns=[])
    for budget in ["10", None, float("nan"), 0, -1.0]:
        assert f"budget must be a finite number of seconds > 0, got {budget!r}" in refusal(path, budget_s=budget)
    bench = TabularBenchmark.from_csv(path, **{**KW, "arch_columns": "a, b"})  # a comma-separated string
    assert bench.space.labels == ("a", "b") and bench.space.size == 4


def test_user_csv_reads_architecture_cells_verbatim(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(GRID.replace("x,", "None,").replace(",u,", ",NA,"))  # pandas would read these as missing
    bench = TabularBenchmark.from_csv(path, **KW)
    assert bench.space.as_dict() == {"a": ("None", "y"), "b": ("NA", "v")}
    assert bench.evaluate({"a": "None", "b": "NA"})["reported"] == 1.5


def test_user_csv_empty_reward_is_a_failed_architecture(tmp_path):
    from nni_effnas.loop import FAILED, run_search
    from nni_effnas.strategies import create_strategy

    path = tmp_path / "t.csv"
    path.write_text(GRID.replace("y,v,4,10,4.5", "y,v,,10,"))  # the best architecture failed to train
    bench = TabularBenchmark.from_csv(path, **KW)
    assert bench.ceiling() == 3.5 and bench.optimum() == 3.5
    mask = np.array([False, False, False, True])
    for measure in (bench.ceiling, bench.optimum):
        with pytest.raises(ValueError, match="^no row satisfies the constraint$"):
            measure(mask)
    result = run_search(create_strategy("random", seed=0), bench.space, bench.evaluate, max_trials=20)
    failed = [t for t in result.trials if t.sample == {"a": "y", "b": "v"}]
    assert failed and all(t.status == FAILED and t.cost_s == 10 for t in failed)
    assert result.best.metrics["reported"] == 3.5


def test_cli_refuses_a_table_whose_clock_never_advances(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(GRID.replace(",10,", ",0,"))  # accepted, the search would never spend its budget
    out = subprocess.run([sys.executable, "-m", "nni_effnas.cli", "bench", "search", "--table", str(path),
                          "--arch-columns", "a,b", "--reward-column", "r", "--cost-column", "c", "--reported-column",
                          "p", "--budget-s", "100", "--seeds", "1", "--strategies", "random", "--quiet"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 2
    assert out.stderr.strip() == (f"nni-effnas: error: table {path} line 2: column 'c' is 0; expected a finite "
                                  "number of seconds > 0 (4 bad row(s) in all)")


def test_row_and_optimum_name_the_problem(nb201_c10):
    with pytest.raises(ValueError, match=r"^sample \{'bogus': 1\} is not in the table 'nb201/cifar10'; expected a "
                                         r"dict with the labels \['edge_0_1', "):
        nb201_c10.evaluate({"bogus": 1})
    with pytest.raises(ValueError, match="^no row satisfies the constraint$"):
        nb201_c10.optimum(np.zeros(len(nb201_c10.reward), dtype=bool))

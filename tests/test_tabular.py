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
    for bad in ["params", "params<=abc", "<=3", ""]:
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
    nan = write_table(tmp_path / "nan.csv", [ok[0], {**ok[1], "r": np.nan}])
    with pytest.raises(ValueError, match="'r' has missing or non-finite"):
        TabularBenchmark.from_csv(nan, **kw)
    text = write_table(tmp_path / "text.csv", [{**ok[0], "r": "high"}, {**ok[1], "r": "low"}])
    with pytest.raises(ValueError, match="'r' is not numeric"):
        TabularBenchmark.from_csv(text, **kw)

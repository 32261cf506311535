import json
import subprocess
import sys

import numpy as np
import pytest

from nni_effnas import nb201
from nni_effnas.nb201 import load_table

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.mark.parametrize("dataset, index, acc", [("cifar10", 6111, 94.37), ("cifar100", 9930, 73.51), ("imagenet16", 857, 47.31)])
def test_best_cells_reproduce_the_paper(dataset, index, acc):
    table = load_table()
    column = table.column(dataset, "test_acc_200ep")
    assert int(np.argmax(column)) == index
    assert round(table.query(index, dataset)["test_acc_200ep"], 2) == acc


@pytest.mark.parametrize("dataset, acc", [("cifar10", 54.30), ("cifar100", 15.61), ("imagenet16", 16.32)])
def test_all_skip_cell(dataset, acc):
    record = load_table().query(ALL_SKIP, dataset)
    assert record["index"] == 1835
    assert round(record["test_acc_200ep"], 2) == acc


def test_table_is_complete_and_finite():
    table = load_table()
    assert len(table) == 15625
    for dataset in nb201.DATASETS:
        for metric in nb201.METRICS:
            col = table.column(dataset, metric)
            assert col.shape == (15625,) and np.isfinite(col).all()
    assert len(table.devices) == 22 and "pixel2" in table.devices


def test_protocol_columns():
    """CIFAR-10 uses the measured hp=12 cost; the others 12/200 of the 200-epoch train time."""
    table = load_table()
    rec = table.query(1835, "cifar10")
    assert rec["valid_acc_12ep"] == pytest.approx(33.944, abs=1e-3)
    assert rec["cost_12ep_s"] == pytest.approx(34.4435, abs=1e-3)
    assert table.query(1835, "cifar100")["cost_12ep_s"] == pytest.approx(1148.11732 * 12 / 200, rel=1e-5)
    assert table.query(1835, "imagenet16")["valid_acc_12ep"] == pytest.approx(6.566667, abs=1e-4)


def test_index_arch_sample_round_trip():
    table = load_table()
    for i in [0, 1, 1835, 6111, 15624] + list(range(100, 15625, 977)):
        arch = table.arch_str(i)
        assert table.index(arch) == i
        assert table.index(table.sample(i)) == i
        assert nb201.format_arch(nb201.parse_arch(arch)) == arch
    assert len({table.arch_str(i) for i in range(15625)}) == 15625


@pytest.mark.parametrize("bad", ["", "|nor_conv_3x3~0|", ALL_SKIP.replace("skip_connect~2", "skip_connect~1"),
                                 ALL_SKIP.replace("skip_connect~0", "conv_7x7~0", 1)])
def test_malformed_arch_strings(bad):
    with pytest.raises(ValueError, match="arch string|unknown NAS-Bench-201 operation"):
        load_table().index(bad)


def test_bad_index_and_dataset_and_device():
    table = load_table()
    with pytest.raises(ValueError, match="index 15625 out of range"):
        table.index(15625)
    with pytest.raises(ValueError, match="unknown NAS-Bench-201 dataset 'mnist'"):
        table.query(0, "mnist")
    with pytest.raises(ValueError, match="unknown latency device 'tpu'"):
        table.column("cifar10", "latency:tpu")


def test_dataset_aliases():
    assert nb201.canonical_dataset("ImageNet16-120") == "imagenet16"
    assert nb201.canonical_dataset("CIFAR-100") == "cifar100"


def test_table_is_read_only():
    col = load_table().column("cifar10", "test_acc_200ep")
    with pytest.raises(ValueError):
        col[0] = 1.0


def test_cli_bench_query_index():
    out = subprocess.run([sys.executable, "-m", "nni_effnas.cli", "bench", "query", "--space", "nb201",
                          "--index", "6111", "--dataset", "cifar10"], capture_output=True, text=True, check=True)
    record = json.loads(out.stdout)
    assert round(record["test_acc_200ep"], 2) == 94.37
    assert record["arch"] == load_table().arch_str(6111)


def test_cli_bench_query_bad_arch_is_one_line():
    out = subprocess.run([sys.executable, "-m", "nni_effnas.cli", "bench", "query", "--arch", "nonsense"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "'nonsense'" in out.stderr

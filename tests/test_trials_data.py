"""Tests for nni_effnas.trials.data: digits splits, the IDX reader, Fashion-MNIST loading and its errors."""
from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nni_effnas.trials.data import DATASETS, DataSplits, load_dataset, read_idx

FMNIST_T10K = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fashion-mnist-debian"


def _write_idx(path: Path, array: np.ndarray, *, magic: bytes | None = None) -> Path:
    """Write ``array`` (uint8) as an IDX file, gzip-compressed if ``path`` ends in ``.gz``."""
    header = magic if magic is not None else bytes([0, 0, 0x08, array.ndim])
    raw = header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def _fake_fmnist(directory: Path, prefix: str, n: int, *, gz: bool, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    _write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    _write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", np.arange(n, dtype=np.uint8) % 10)


# ------------------------------------------------------------------------------------------------ digits
@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits", seed=0)


def test_digits_shapes_and_metadata(digits: DataSplits) -> None:
    x_train, y_train = digits.train.tensors
    x_val, y_val = digits.val.tensors
    assert (digits.name, digits.in_channels, digits.num_classes, digits.image_size) == ("digits", 1, 10, 8)
    assert x_train.shape == (1437, 1, 8, 8) and x_val.shape == (360, 1, 8, 8)
    assert len(y_train) + len(y_val) == 1797
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert set(y_train.tolist()) == set(range(10)) == set(y_val.tolist())
    # normalised with the train split's statistics
    assert abs(float(x_train.mean())) < 1e-4 and abs(float(x_train.std()) - 1.0) < 1e-4
    # the raw [0, 1] range survives the affine normalisation
    assert float(x_train.min()) == pytest.approx((0.0 - digits.mean) / digits.std, abs=1e-5)
    assert float(x_train.max()) == pytest.approx((1.0 - digits.mean) / digits.std, abs=1e-5)


def test_digits_split_is_stratified(digits: DataSplits) -> None:
    train_freq = torch.bincount(digits.train.tensors[1], minlength=10).double() / len(digits.train)
    val_freq = torch.bincount(digits.val.tensors[1], minlength=10).double() / len(digits.val)
    assert torch.allclose(train_freq, val_freq, atol=0.01)


def test_digits_is_deterministic_per_seed(digits: DataSplits) -> None:
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert torch.equal(again.train.tensors[0], digits.train.tensors[0])
    assert torch.equal(again.val.tensors[1], digits.val.tensors[1])
    assert not torch.equal(other.val.tensors[0], digits.val.tensors[0])


def test_digits_limit_caps_train_only() -> None:
    small = load_dataset("digits", limit=100, seed=3)
    assert len(small.train) == 100 and len(small.val) == 360
    assert torch.bincount(small.train.tensors[1], minlength=10).min() >= 9  # stratified subset


@pytest.mark.parametrize("limit", [0, -5, 2.5, True])
def test_bad_limit_raises(limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        load_dataset("digits", limit=limit)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ registry
def test_registry_names_and_aliases() -> None:
    assert DATASETS.names() == ["digits", "fashion-mnist"]
    for alias in ("fashion-mnist", "fashion_mnist", "fmnist", "Fashion-MNIST"):
        assert DATASETS.canonical(alias) == "fashion-mnist"


def test_unknown_dataset_message() -> None:
    with pytest.raises(ValueError) as info:
        load_dataset("x")
    assert str(info.value) == "unknown dataset 'x'; expected one of: digits, fashion-mnist"


# ------------------------------------------------------------------------------------------------ IDX reader
@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_idx_roundtrip(tmp_path: Path, name: str) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = read_idx(_write_idx(tmp_path / name, array))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, array)


def test_read_idx_bad_magic_names_file(tmp_path: Path) -> None:
    path = _write_idx(tmp_path / "bad-idx1-ubyte", np.zeros(5, np.uint8), magic=b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="bad magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_unknown_type_code(tmp_path: Path) -> None:
    path = _write_idx(tmp_path / "t-idx1-ubyte", np.zeros(5, np.uint8), magic=b"\x00\x00\x07\x01")
    with pytest.raises(ValueError, match="type code"):
        read_idx(path)


def test_read_idx_truncated(tmp_path: Path) -> None:
    path = _write_idx(tmp_path / "t-idx2-ubyte", np.zeros((4, 4), np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="13 data bytes, expected 16"):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(ValueError, match="cannot decompress") as info:
        read_idx(path)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------------------------------------ Fashion-MNIST
def test_fmnist_missing_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("fashion-mnist", data_dir=missing)
    message = str(info.value)
    assert str(missing) in message and "apt-get install dataset-fashion-mnist" in message
    assert "--data-dir" in message and "\n" not in message


def test_fmnist_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_dataset("fmnist", data_dir=tmp_path)


def test_fmnist_missing_labels_file(tmp_path: Path) -> None:
    _fake_fmnist(tmp_path, "t10k", 20, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_dataset("fmnist", data_dir=tmp_path)


def test_fmnist_label_count_mismatch(tmp_path: Path) -> None:
    _fake_fmnist(tmp_path, "t10k", 20, gz=False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8))
    with pytest.raises(ValueError, match="19 labels for 20 images"):
        load_dataset("fmnist", data_dir=tmp_path)


def test_fmnist_train_and_test_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _fake_fmnist(tmp_path, "train", 60, gz=True)
    _fake_fmnist(tmp_path, "t10k", 30, gz=False, seed=1)
    with caplog.at_level(logging.WARNING, logger="nni_effnas.trials.data"):
        data = load_dataset("fashion_mnist", data_dir=str(tmp_path), limit=40)
    assert not caplog.records
    assert (data.name, data.in_channels, data.num_classes, data.image_size) == ("fashion-mnist", 1, 10, 28)
    assert data.train.tensors[0].shape == (40, 1, 28, 28) and data.val.tensors[0].shape == (30, 1, 28, 28)
    assert torch.equal(data.val.tensors[1], torch.arange(30) % 10)  # val = t10k, in file order


def test_fmnist_t10k_only_is_split_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _fake_fmnist(tmp_path, "t10k", 100, gz=True)
    with caplog.at_level(logging.WARNING, logger="nni_effnas.trials.data"):
        data = load_dataset("fashion-mnist", data_dir=tmp_path, seed=0)
    assert len(data.train) == 80 and len(data.val) == 20
    assert any("only the Fashion-MNIST t10k files" in r.getMessage() for r in caplog.records)
    assert torch.bincount(data.val.tensors[1], minlength=10).tolist() == [2] * 10


@pytest.mark.skipif(not FMNIST_T10K.is_dir(), reason=f"{FMNIST_T10K} not present")
def test_fmnist_shared_t10k_copy() -> None:
    data = load_dataset("fashion-mnist", data_dir=FMNIST_T10K, seed=0, limit=500)
    x_train, y_train = data.train.tensors
    assert x_train.shape == (500, 1, 28, 28) and x_train.dtype == torch.float32
    assert len(data.val) == 2000  # 20 % of the 10k test images
    assert torch.bincount(data.val.tensors[1], minlength=10).tolist() == [200] * 10
    assert torch.bincount(y_train, minlength=10).tolist() == [50] * 10
    assert 0.2 < data.mean < 0.4 and 0.25 < data.std < 0.45  # Fashion-MNIST pixel statistics in [0, 1]

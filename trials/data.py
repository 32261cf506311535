"""Image classification datasets for trials, loaded whole into memory as ``TensorDataset`` splits.

Every loader returns a :class:`DataSplits`: float32 images in NCHW layout, scaled to [0, 1] and then
normalised with the mean and standard deviation of the training split, and int64 labels. Loaders are
registered in :data:`DATASETS` (keys ``"digits"`` and ``"fashion-mnist"``); use :func:`load_dataset`.

Sources:

- ``"digits"``: the UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin & Kaynak, 1998), as
  shipped inside scikit-learn (``sklearn.datasets.load_digits``): 1797 grey images of 8x8 pixels, 10 classes,
  no download. Split here 80/20 into train/val, stratified by class, seeded.
- ``"fashion-mnist"``: Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, "Fashion-MNIST: a Novel Image Dataset for
  Benchmarking Machine Learning Algorithms", arXiv:1708.07747; MIT licence, Zalando SE), 28x28 grey images,
  10 classes, read from IDX files (plain or gzip) in a directory, by default where Debian's
  ``dataset-fashion-mnist`` package installs them. Train = the 60k train files, val = the 10k t10k files.
  Deviation: if only the t10k files are present, those 10k images are split 80/20 (stratified, seeded) and a
  warning says so; numbers from such a run are not comparable with published Fashion-MNIST results.
"""
from __future__ import annotations

import gzip
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from nni_effnas.checks import check_int
from nni_effnas.registry import Registry

__all__ = ["DATASETS", "DataSplits", "FASHION_MNIST_DIR", "load_dataset", "read_idx"]

_log = logging.getLogger(__name__)

#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# IDX type codes (third byte of the magic number) -> big-endian numpy dtypes.
_IDX_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class DataSplits:
    """A dataset loaded into memory: ``train`` and ``val`` yield ``(image float32 CxHxW, label int64)``."""

    name: str
    train: TensorDataset
    val: TensorDataset
    in_channels: int
    num_classes: int
    image_size: int
    mean: float = 0.0
    std: float = 1.0


class DatasetLoader(Protocol):
    def __call__(self, *, data_dir: Path | None, seed: int, limit: int | None) -> DataSplits: ...


DATASETS: Registry[DatasetLoader] = Registry("dataset")


def load_dataset(
    name: str, *, data_dir: str | Path | None = None, seed: int = 0, limit: int | None = None
) -> DataSplits:
    """Load dataset ``name`` (a key or alias of :data:`DATASETS`).

    ``seed`` drives every split and subset; ``limit`` caps the number of training examples (a seeded,
    class-stratified subset) for quick runs. The validation split is never cut.
    """
    loader = DATASETS.get(name)
    if limit is not None:
        check_int("limit", limit)
    return loader(data_dir=None if data_dir is None else Path(data_dir), seed=seed, limit=limit)


# --------------------------------------------------------------------------------------------- IDX files
def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a numpy array of its stored dtype and shape.

    Raises ``ValueError`` naming the file if the magic number, the type code or the size is wrong.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"corrupt IDX file {path}: cannot decompress ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"corrupt IDX file {path}: bad magic number {raw[:4].hex() or '(empty)'}")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"corrupt IDX file {path}: unknown type code 0x{type_code:02x}")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"corrupt IDX file {path}: header too short for {ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    payload = len(raw) - 4 - 4 * ndim
    if payload != expected:
        raise ValueError(f"corrupt IDX file {path}: {payload} data bytes, expected {expected} for shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=4 + 4 * ndim)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing(what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{what}; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` or pass --data-dir"
    )


def _read_idx_pair(
    directory: Path, prefix: str, *, num_classes: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels for ``prefix`` ("train" or "t10k"); ``None`` if neither file is there."""
    images_path = _find_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_idx(directory, f"{prefix}-labels-idx1-ubyte")
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        stem = f"{prefix}-images-idx3-ubyte" if images_path is None else f"{prefix}-labels-idx1-ubyte"
        raise _missing(f"missing {directory / stem}[.gz]")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"corrupt IDX file {images_path}: expected uint8 N x H x W, got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"corrupt IDX file {labels_path}: expected uint8 N, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"corrupt IDX file {labels_path}: {len(labels)} labels for {len(images)} images")
    if labels.size and int(labels.max()) >= num_classes:
        raise ValueError(f"corrupt IDX file {labels_path}: label {int(labels.max())} >= {num_classes} classes")
    return images, labels


# --------------------------------------------------------------------------------------------- building
def _subset(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded subset of ``limit`` examples, stratified when every class can be represented."""
    if limit is None or limit >= len(y):
        return x, y
    stratify = y if limit >= len(np.unique(y)) else None
    x_sub, _, y_sub, _ = train_test_split(x, y, train_size=limit, stratify=stratify, random_state=seed)
    return x_sub, y_sub


def _make_splits(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    scale: float,
    num_classes: int,
) -> DataSplits:
    """Scale images to [0, 1], normalise with the train split's statistics, wrap in ``TensorDataset``."""
    x_train = torch.from_numpy(np.ascontiguousarray(train[0], dtype=np.float32) / scale).unsqueeze(1)
    x_val = torch.from_numpy(np.ascontiguousarray(val[0], dtype=np.float32) / scale).unsqueeze(1)
    mean, std = float(x_train.mean()), float(x_train.std())
    std = std if std > 0 else 1.0
    return DataSplits(
        name=name,
        train=TensorDataset((x_train - mean) / std, torch.from_numpy(train[1].astype(np.int64))),
        val=TensorDataset((x_val - mean) / std, torch.from_numpy(val[1].astype(np.int64))),
        in_channels=1,
        num_classes=num_classes,
        image_size=int(x_train.shape[-1]),
        mean=mean,
        std=std,
    )


@DATASETS.register("digits")
def load_digits(*, data_dir: Path | None = None, seed: int = 0, limit: int | None = None) -> DataSplits:
    """scikit-learn's 8x8 digits, split 80/20 stratified by class (``data_dir`` is ignored)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images, labels = bunch.images, bunch.target
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=0.2, stratify=labels, random_state=seed
    )
    x_train, y_train = _subset(x_train, y_train, limit, seed)
    return _make_splits("digits", (x_train, y_train), (x_val, y_val), scale=16.0, num_classes=10)


# Registry.canonical maps "-" to "_" before the alias lookup, so "fashion_mnist" must be an alias for the
# public key "fashion-mnist" to resolve.
@DATASETS.register("fashion-mnist", aliases=("fashion_mnist", "fmnist"))
def load_fashion_mnist(*, data_dir: Path | None = None, seed: int = 0, limit: int | None = None) -> DataSplits:
    """Fashion-MNIST from IDX files in ``data_dir`` (default :data:`FASHION_MNIST_DIR`)."""
    directory = FASHION_MNIST_DIR if data_dir is None else Path(data_dir)
    if not directory.is_dir():
        raise _missing(f"Fashion-MNIST directory {directory} not found")
    test = _read_idx_pair(directory, "t10k", num_classes=10)
    train = _read_idx_pair(directory, "train", num_classes=10)
    if test is None:
        raise _missing(f"no Fashion-MNIST IDX files (t10k-images-idx3-ubyte[.gz]) in {directory}")
    if train is None:
        _log.warning(
            "%s has only the Fashion-MNIST t10k files: splitting those 10k images 80/20 into train/val "
            "(seed %d); results are not comparable with the official train/test split",
            directory,
            seed,
        )
        x_train, x_val, y_train, y_val = train_test_split(
            test[0], test[1], test_size=0.2, stratify=test[1], random_state=seed
        )
        train, test = (x_train, y_train), (x_val, y_val)
    train = _subset(train[0], train[1], limit, seed)
    return _make_splits("fashion-mnist", train, test, scale=255.0, num_classes=10)

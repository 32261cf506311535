"""Tests for ``nni_effnas.proxy_data``: reproducible proxy batches (noise, Fashion-MNIST), their cache key, bad
input, and the first examples of a user's data loader."""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nni_effnas.proxy_data import PROXY_SOURCES, ProxyData, batch_from_loader, resize_to
from nni_effnas.trials.data import FASHION_MNIST_DIR

needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST_DIR.is_dir(), reason=f"Fashion-MNIST IDX files not installed at {FASHION_MNIST_DIR}"
)


def test_same_fields_give_identical_tensors_and_seed_changes_them():
    data = ProxyData("noise", batch_size=8, shape=(3, 16, 16), num_classes=10, seed=3)
    x1, y1 = data.make()
    x2, y2 = ProxyData("noise", batch_size=8, shape=(3, 16, 16), num_classes=10, seed=3).make()
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = ProxyData("noise", batch_size=8, shape=(3, 16, 16), num_classes=10, seed=4).make()
    assert not torch.equal(x1, x3)


def test_make_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    ProxyData("noise", batch_size=4).make()
    assert torch.equal(torch.get_rng_state(), state)


def test_noise_shape_dtype_and_labels():
    x, y = ProxyData("gaussian", batch_size=6, shape=(3, 16, 16), num_classes=5).make()
    assert x.shape == (6, 3, 16, 16) and x.dtype == torch.float32
    assert y.shape == (6,) and y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < 5


@needs_fashion_mnist
def test_fashion_mnist_batch_shape_labels_and_determinism():
    data = ProxyData("FASHION-MNIST", batch_size=8, shape=(3, 16, 16), num_classes=100, seed=1)
    assert data.source == "fashion-mnist"
    x, y = data.make()
    assert x.shape == (8, 3, 16, 16) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # grey channel repeated
    assert y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < 10  # Fashion-MNIST's own 10 labels
    x2, y2 = data.make()
    assert torch.equal(x, x2) and torch.equal(y, y2)


@needs_fashion_mnist
def test_fashion_mnist_labels_fold_into_a_smaller_head():
    _, y = ProxyData("fmnist", batch_size=64, shape=(1, 28, 28), num_classes=3).make()
    assert 0 <= int(y.min()) and int(y.max()) < 3


def test_resize_to_resizes_and_tiles_channels():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    out = resize_to(images, (3, 8, 8))
    assert out.shape == (2, 3, 8, 8) and out.is_contiguous()
    assert torch.equal(out[:, 0], out[:, 2])
    assert torch.equal(resize_to(images, (1, 4, 4)), images)  # nothing to do
    with pytest.raises(ValueError, match="cannot tile 2 input channels to 3"):
        resize_to(torch.zeros(1, 2, 4, 4), (3, 4, 4))


def test_key_names_every_field():
    base = ProxyData("noise", batch_size=8, shape=(3, 32, 32), num_classes=10, seed=0)
    variants = [
        ProxyData("digits", batch_size=8, shape=(3, 32, 32), num_classes=10, seed=0),
        ProxyData("noise", batch_size=16, shape=(3, 32, 32), num_classes=10, seed=0),
        ProxyData("noise", batch_size=8, shape=(3, 16, 16), num_classes=10, seed=0),
        ProxyData("noise", batch_size=8, shape=(3, 32, 32), num_classes=100, seed=0),
        ProxyData("noise", batch_size=8, shape=(3, 32, 32), num_classes=10, seed=1),
    ]
    keys = {base.key(), *(v.key() for v in variants)}
    assert len(keys) == 6
    assert ProxyData("random", batch_size=8, shape=[3, 32, 32]).key() == base.key()  # alias and list shape


@pytest.mark.parametrize("kwargs, message", [
    ({"source": "imagenet"}, "unknown proxy data source 'imagenet'"),
    ({"batch_size": 1}, "got 1"),
    ({"shape": (3, 32)}, r"got \(3, 32\)"),
    ({"shape": (3, 0, 32)}, r"got \(3, 0, 32\)"),
    ({"num_classes": 0}, "got 0"),
])
def test_bad_fields_raise_value_error_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProxyData(**{"source": "noise", **kwargs})


def test_sources_registered():
    assert {"noise", "fashion-mnist", "digits"} <= set(PROXY_SOURCES.names())


def test_batch_from_loader_takes_the_first_examples():
    x = torch.arange(10 * 2, dtype=torch.float64).reshape(10, 2)
    y = torch.arange(10, dtype=torch.int32)
    loader = DataLoader(TensorDataset(x, y), batch_size=3, shuffle=False)
    inputs, targets = batch_from_loader(loader, 7)
    assert inputs.dtype == torch.float32 and targets.dtype == torch.int64
    assert torch.equal(inputs, x[:7].float()) and torch.equal(targets, y[:7].long())


def test_batch_from_loader_errors():
    loader = DataLoader(TensorDataset(torch.zeros(5, 2), torch.zeros(5)), batch_size=2)
    with pytest.raises(ValueError, match="gave 5 examples, fewer than the proxy batch size 8"):
        batch_from_loader(loader, 8)
    with pytest.raises(ValueError, match=r"\(inputs, targets\) pairs, got Tensor"):
        batch_from_loader([torch.zeros(2, 2)], 2)

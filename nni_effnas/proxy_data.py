"""The mini-batch that data-dependent zero-cost proxies see.

snip, grasp, fisher, grad_norm, jacob_cov, nwot and zen run the network on one batch of the task's inputs. When
the task's own images are at hand, pass a data loader (:func:`batch_from_loader`). NAS-Bench-201's tasks
(CIFAR-10, CIFAR-100, ImageNet16-120) are not shipped with this package, so :class:`ProxyData` offers stand-ins,
registered in :data:`PROXY_SOURCES`:

``noise``
    inputs drawn from N(0, 1) (the scale of normalised images), labels uniform over the task's classes.
``fashion-mnist`` (also any other dataset registered in ``nni_effnas.trials.data.DATASETS``, e.g. ``digits``)
    a seeded draw of images from the dataset's validation split, normalised with the train split's mean and
    std, resized bilinearly to the task's height and width and repeated to its channel count; labels are the
    dataset's own (Fashion-MNIST has 10 classes: with a 100-class head, only the first 10 logits are targets).

What each stand-in gives, measured against 200-epoch accuracy, is in ``BENCHMARKS.md`` (``bench proxies
--proxy-data``). A :class:`ProxyData` is a value: its :meth:`~ProxyData.key` names the exact batch for the
zero-cost cache, and :meth:`~ProxyData.make` always returns the same tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F

from nni_effnas.registry import Registry

Batch = tuple[torch.Tensor, torch.Tensor]
#: ``source(batch_size, shape, num_classes, generator) -> (inputs, targets)``
Source = Callable[[int, tuple[int, int, int], int, torch.Generator], Batch]

PROXY_SOURCES: Registry[Source] = Registry("proxy data source")


@PROXY_SOURCES.register("noise", aliases=("gaussian", "random"))
def noise_batch(batch_size: int, shape: tuple[int, int, int], num_classes: int, generator: torch.Generator) -> Batch:
    """Standard-normal inputs and uniform labels."""
    inputs = torch.randn((batch_size, *shape), generator=generator)
    targets = torch.randint(0, num_classes, (batch_size,), generator=generator)
    return inputs, targets


def _dataset_source(name: str) -> Source:
    def make(batch_size: int, shape: tuple[int, int, int], num_classes: int, generator: torch.Generator) -> Batch:
        from nni_effnas.trials.data import load_dataset

        data = load_dataset(name, seed=0).val
        if len(data) < batch_size:
            raise ValueError(f"proxy data {name!r} has {len(data)} validation images, fewer than batch {batch_size}")
        pick = torch.randperm(len(data), generator=generator)[:batch_size]
        images, labels = data.tensors[0][pick], data.tensors[1][pick]
        return resize_to(images, shape), labels % num_classes

    make.__doc__ = f"A seeded batch of {name} validation images, resized and channel-repeated to the task's shape."
    return make


PROXY_SOURCES.register("fashion-mnist", aliases=("fashion_mnist", "fmnist"))(_dataset_source("fashion-mnist"))
PROXY_SOURCES.register("digits")(_dataset_source("digits"))


def resize_to(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """``images`` (N, c, h, w) bilinearly resized to ``shape[1:]`` and tiled to ``shape[0]`` channels."""
    channels, height, width = shape
    if images.shape[-2:] != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    if images.shape[1] != channels:
        if channels % images.shape[1]:
            raise ValueError(f"cannot tile {images.shape[1]} input channels to {channels}")
        images = images.repeat(1, channels // images.shape[1], 1, 1)
    return images.contiguous()


@dataclass(frozen=True)
class ProxyData:
    """A reproducible proxy batch: ``source`` (a key of :data:`PROXY_SOURCES`), its size, the task's input
    ``shape`` (C, H, W) and class count, and the seed of the draw."""

    source: str = "fashion-mnist"
    batch_size: int = 64
    shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", PROXY_SOURCES.canonical(self.source))
        PROXY_SOURCES.get(self.source)  # one-line error naming the known sources
        if self.batch_size < 2:
            raise ValueError(f"proxy batch_size must be >= 2 (jacob_cov and nwot compare samples), got {self.batch_size}")
        if len(self.shape) != 3 or any(int(d) < 1 for d in self.shape):
            raise ValueError(f"proxy input shape must be (channels, height, width), got {self.shape}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")

    def key(self) -> str:
        """A string naming exactly this batch (used in the zero-cost cache key)."""
        c, h, w = self.shape
        return f"{self.source}:b{self.batch_size}:{c}x{h}x{w}:k{self.num_classes}:s{self.seed}"

    def make(self) -> Batch:
        """The batch: ``(inputs, targets)`` on the CPU, the same for the same fields."""
        generator = torch.Generator().manual_seed(self.seed)
        inputs, targets = PROXY_SOURCES.get(self.source)(self.batch_size, self.shape, self.num_classes, generator)
        return inputs.float(), targets.long()


def batch_from_loader(loader: Iterable[Any], batch_size: int) -> Batch:
    """The first ``batch_size`` examples of a user's data loader (any iterable of ``(inputs, targets)``)."""
    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor] = []
    count = 0
    for item in loader:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError(f"the data loader must yield (inputs, targets) pairs, got {type(item).__name__}")
        xs.append(torch.as_tensor(item[0]))
        ys.append(torch.as_tensor(item[1]))
        count += len(xs[-1])
        if count >= batch_size:
            break
    if count < batch_size:
        raise ValueError(f"the data loader gave {count} examples, fewer than the proxy batch size {batch_size}")
    return torch.cat(xs)[:batch_size].float(), torch.cat(ys)[:batch_size].long()

"""Helpers shared by the zero-cost proxies: input checks, a weight/buffer/mode snapshot, local seeding, hooks.

The contract every proxy keeps (and ``tests/test_proxies.py`` checks for every registered one):

* the model comes back exactly as it was: the same parameter and buffer tensor objects holding the same
  values (BatchNorm running statistics included), the same ``.grad`` tensors, ``requires_grad`` flags and
  train/eval mode of every submodule (:func:`preserved`);
* the global RNG state is left unchanged, and the score is a function of the seed (:func:`seeded`);
* the caller's batch is never modified (the model runs on a copy, so in-place ops on the input are harmless).
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterable, Iterator, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Layers whose weights the pruning-at-init proxies score (Abdelfattah et al. score ``Conv2d`` and ``Linear``).
WEIGHTED_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
BATCH_NORMS: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def check_model(model: nn.Module, *, proxy: str, trainable: bool = True) -> None:
    """``TypeError`` for a non-module; ``ValueError`` naming the class when ``trainable`` and nothing is."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{proxy}: expected a torch.nn.Module, got {type(model).__name__}")
    if trainable and not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{proxy}: {type(model).__name__} has no trainable parameters")


def prepare_batch(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor],
    *,
    proxy: str,
    needs_targets: bool = False,
    min_batch: int = 1,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Checked copies of ``inputs`` (floating, batch first) and ``targets`` (one label each) on the model's device."""
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point() or inputs.dim() < 2:
        what = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"{proxy}: inputs must be a floating tensor batch (N, C, H, W), got {what}")
    if inputs.shape[0] < min_batch:
        raise ValueError(f"{proxy}: needs a batch of at least {min_batch}, got inputs of shape {tuple(inputs.shape)}")
    device = model_device(model)
    batch = inputs.detach().to(device, copy=True)
    if targets is None:
        if needs_targets:
            raise ValueError(f"{proxy}: needs targets (class labels), got None")
        return batch, None
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape[:1]) != tuple(inputs.shape[:1]):
        what = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ValueError(f"{proxy}: targets {what} do not match inputs {tuple(inputs.shape)} (one label per sample)")
    return batch, targets.detach().to(device)


def run_forward(
    model: nn.Module, inputs: torch.Tensor, *, proxy: str, state: Optional[dict[str, torch.Tensor]] = None
) -> torch.Tensor:
    """``model(inputs)`` (with ``state`` in place of its parameters/buffers if given, via ``functional_call``);
    a shape mismatch (a ``RuntimeError`` from inside forward) becomes a one-line ``ValueError``."""
    try:
        return model(inputs) if state is None else torch.func.functional_call(model, state, (inputs,))
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{proxy}: {type(model).__name__} cannot run on inputs of shape {tuple(inputs.shape)}: {first}"
        ) from error


def classification_loss(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, loss_fn: Optional[LossFn], proxy: str
) -> torch.Tensor:
    """The loss of one forward pass (cross-entropy unless ``loss_fn`` is given); logits must be ``(N, classes)``."""
    logits = run_forward(model, inputs, proxy=proxy)
    if loss_fn is None and (logits.dim() != 2 or logits.shape[0] != inputs.shape[0]):
        raise ValueError(f"{proxy}: expected logits of shape (N, classes), got {tuple(logits.shape)}")
    try:
        return (loss_fn or F.cross_entropy)(logits, targets)
    except (RuntimeError, IndexError) as error:
        first = str(error).strip().splitlines()[0]
        raise ValueError(
            f"{proxy}: loss failed on logits {tuple(logits.shape)} and targets {tuple(targets.shape)}: {first}"
        ) from error


def weighted_layers(model: nn.Module, *, proxy: str) -> list[nn.Module]:
    """Conv/Linear layers with a trainable weight, each once; ``ValueError`` naming the class if there are none."""
    layers, seen = [], set()
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, WEIGHTED_LAYERS) and isinstance(weight, torch.Tensor) and weight.requires_grad:
            if id(weight) not in seen:
                seen.add(id(weight))
                layers.append(module)
    if not layers:
        raise ValueError(f"{proxy}: {type(model).__name__} has no trainable Conv/Linear weights to score")
    return layers


def grads_or_zeros(output: torch.Tensor, tensors: list[torch.Tensor], **kwargs: object) -> list[torch.Tensor]:
    """``autograd.grad(output, tensors)`` with ``None`` (unused tensors) as zeros; ``.grad`` fields untouched."""
    if not output.requires_grad:
        return [torch.zeros_like(t) for t in tensors]
    grads = torch.autograd.grad(output, tensors, allow_unused=True, **kwargs)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]


def finite_or_nan(value: float | torch.Tensor) -> float:
    """``float(value)``, or ``nan`` for an infinite or NaN value (callers rank NaN last)."""
    number = float(value)
    return number if math.isfinite(number) else float("nan")


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Snapshot parameters, buffers, grads, ``requires_grad`` and train/eval mode; restore them exactly on exit.

    Restoring writes the saved values back into the *same* tensor objects (and re-attaches any tensor object a
    proxy swapped out), so references held by the caller (optimisers, tied weights) stay valid.
    """
    slots = [
        (module, kind, name, tensor, tensor.detach().clone(), getattr(tensor, "requires_grad", False))
        for module in model.modules()
        for kind in ("_parameters", "_buffers")
        for name, tensor in getattr(module, kind).items()
        if tensor is not None
    ]
    grads = {id(p): (p, None if p.grad is None else p.grad.detach().clone(), p.grad) for p in model.parameters()}
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield model
    finally:
        _restore(slots, grads, modes)


_Slot = tuple[nn.Module, str, str, torch.Tensor, torch.Tensor, bool]  # module, kind, name, tensor, copy, grad flag
_Grad = tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]  # param, copy of .grad, .grad itself


def _restore(slots: list[_Slot], grads: dict[int, _Grad], modes: list[tuple[nn.Module, bool]]) -> None:
    with torch.no_grad():
        for module, kind, name, tensor, saved, requires_grad in slots:
            getattr(module, kind)[name] = tensor
            if tensor.dtype == saved.dtype and tensor.shape == saved.shape:
                tensor.copy_(saved)
            else:
                tensor.data = saved
            if isinstance(tensor, nn.Parameter):
                tensor.requires_grad_(requires_grad)
        for param, saved_grad, grad_object in grads.values():
            if grad_object is not None and saved_grad is not None:
                grad_object.copy_(saved_grad)
            param.grad = grad_object
    for module, training in modes:
        module.training = training


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Seed the CPU RNG (and ``device``'s, if CUDA) inside a fork; yield a local generator on ``device``.

    Modules that draw from the global RNG (dropout in train mode) become deterministic; the global state is
    restored on exit. Proxies that need noise draw it from the yielded generator.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(cuda[0]):
                torch.cuda.manual_seed(seed)
        yield torch.Generator(device=device).manual_seed(seed)


@contextlib.contextmanager
def hooked(handles: Iterable[torch.utils.hooks.RemovableHandle]) -> Iterator[None]:
    """Remove the given hook handles on exit."""
    handles = list(handles)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def proxy_run(model: nn.Module, *, seed: int, train: bool) -> Iterator[torch.Generator]:
    """:func:`preserved` + :func:`seeded`, with the model switched to train (``train=True``) or eval mode."""
    with preserved(model), seeded(seed, model_device(model)) as generator:
        model.train(train)
        yield generator

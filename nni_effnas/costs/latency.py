"""Measured inference latency of a model: :func:`measure_latency` and its record :class:`LatencyMeasurement`.

The protocol hardware-aware NAS papers use to build their tables (ProxylessNAS, H. Cai et al., ICLR 2019;
FBNet, B. Wu et al., CVPR 2019; HW-NAS-Bench, C. Li et al., ICLR 2021; HELP, H. Lee et al., NeurIPS 2021):
a fixed input, the model in eval mode without autograd, ``warmup`` untimed forward passes, then ``repeats``
timed ones and robust statistics of the per-pass times. Reported per batch (not per image), in milliseconds.

Clocks: ``clock="wall"`` (default) times with ``time.perf_counter``, on CUDA each pass bracketed by
``torch.cuda.synchronize``: the latency a user sees. ``clock="cpu"`` times with ``time.thread_time``, the CPU
time of the calling thread, so time spent descheduled while other processes run is left out; it is only
offered for ``threads=1`` on the CPU (with more threads the work is in other threads).

On a machine shared with other work wall-clock times are inflated by preemption (on our loaded 2-core
machine, whole NAS-Bench-201 networks about 2x even in the minimum; single ops far less, as they rarely span
a scheduler tick); ``clock="cpu"`` and ``p10_ms`` or ``min_ms`` then estimate the uncontended latency better.
Callers that compare measurements (the LUT, :func:`~nni_effnas.costs.correlation.local_latency_vs_flops`)
take ``statistic`` and ``clock`` arguments for that.

Side effects are undone: every submodule's train/eval flag and torch's intra-op thread count are restored,
also when the forward pass raises. The input is drawn from a private generator seeded with ``seed``; the
global RNG is not touched. The model must already be on ``device`` (it is not moved).
"""
from __future__ import annotations

import dataclasses
import platform
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from nni_effnas.checks import check_device, check_input_shape, int_at_least

__all__ = ["CLOCKS", "STATISTICS", "LatencyMeasurement", "check_statistic", "machine_info", "measure_latency",
           "statistic_of"]

#: The fields of :class:`LatencyMeasurement` that can stand for "the" latency.
STATISTICS = ("median_ms", "p10_ms", "min_ms", "mean_ms", "p90_ms")
CLOCKS = ("wall", "cpu")


@dataclasses.dataclass(frozen=True)
class LatencyMeasurement:
    """Statistics of ``repeats`` timed forward passes of one batch, in milliseconds."""

    median_ms: float
    iqr_ms: float  #: 75th minus 25th percentile
    min_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float  #: population standard deviation (0 for one repeat)
    batch_size: int
    threads: int
    device: str
    clock: str
    repeats: int
    warmup: int
    input_shape: tuple[int, ...]
    torch_version: str

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["input_shape"] = list(self.input_shape)
        return record


def check_statistic(statistic: str) -> str:
    if statistic not in STATISTICS:
        raise ValueError(f"unknown latency statistic {statistic!r}; expected one of: {', '.join(STATISTICS)}")
    return statistic


def statistic_of(measurement: "LatencyMeasurement", statistic: str) -> float:
    """The field ``statistic`` (one of ``STATISTICS``) of a measurement."""
    return float(getattr(measurement, check_statistic(statistic)))


def machine_info(*, device: str = "cpu") -> dict[str, Any]:
    """What a stored measurement needs to be compared: torch version, platform, processor, CPU count, device."""
    info = {"torch_version": torch.__version__, "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpu_count": _cpu_count(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _check_device(model: nn.Module, device: str) -> torch.device:
    target = check_device(device)
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.device.type != target.type or (target.index is not None and tensor.device != target):
            raise ValueError(f"the model is on {tensor.device}, not on device={device!r}; move it first")
        break
    return target


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    device: str = "cpu",
    seed: int = 0,
    clock: str = "wall",
) -> LatencyMeasurement:
    """Latency of ``model`` on a batch of ``batch_size`` inputs of shape ``input_shape`` (one sample, no batch
    axis) with ``threads`` intra-op CPU threads; see the module docstring for the protocol."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = check_input_shape(input_shape)
    batch_size = int_at_least("batch_size", batch_size, 1)
    threads = int_at_least("threads", threads, 1)
    warmup = int_at_least("warmup", warmup, 0)
    repeats = int_at_least("repeats", repeats, 1)
    seed = int_at_least("seed", seed, 0)
    target = _check_device(model, device)
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; expected one of: {', '.join(CLOCKS)}")
    if clock == "cpu" and (threads != 1 or target.type != "cpu"):
        raise ValueError(f"clock='cpu' needs threads=1 on the CPU, got threads={threads}, device={device!r}")
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn((batch_size, *shape), generator=generator).to(target)
    times = _timed_runs(model, inputs, threads=threads, warmup=warmup, repeats=repeats, cuda=target.type == "cuda",
                        timer=time.thread_time if clock == "cpu" else time.perf_counter)
    q10, q25, q50, q75, q90 = np.percentile(times, [10, 25, 50, 75, 90])
    return LatencyMeasurement(
        median_ms=float(q50), iqr_ms=float(q75 - q25), min_ms=float(times.min()), p10_ms=float(q10), p90_ms=float(q90),
        mean_ms=float(times.mean()), std_ms=float(times.std()), batch_size=batch_size, threads=threads,
        device=str(target), clock=clock, repeats=repeats, warmup=warmup, input_shape=shape,
        torch_version=torch.__version__,
    )


def _timed_runs(model: nn.Module, inputs: torch.Tensor, *, threads: int, warmup: int, repeats: int,
                cuda: bool, timer: Callable[[], float]) -> np.ndarray:
    """Per-pass times in ms; restores every submodule's mode and the thread count afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    old_threads = torch.get_num_threads()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times = np.empty(repeats)
    try:
        torch.set_num_threads(threads)
        model.eval()
        with torch.no_grad():
            for _ in range(warmup):
                model(inputs)
            sync()
            for k in range(repeats):
                start = timer()
                model(inputs)
                sync()
                times[k] = timer() - start
    finally:
        torch.set_num_threads(old_threads)
        for module, training in modes:
            module.training = training
    return times * 1e3

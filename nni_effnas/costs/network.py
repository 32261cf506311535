"""What a trial reports about the network it built: parameters, FLOPs and the latency measured on this machine.

Shared by the ``train`` and ``zero-cost`` evaluators (:mod:`nni_effnas.trials.evaluators`), so every trial
reports its costs under the same names (``params_M``, ``flops_M``, ``latency_ms`` with the settings measured
under) and a multi-objective tuner reads its cost under one name whatever the trial did.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from nni_effnas.checks import check_int

__all__ = ["LatencySettings", "latency_metrics", "network_costs"]


@dataclass(frozen=True)
class LatencySettings:
    """How a trial measures the latency of the network it built (:func:`nni_effnas.costs.latency.measure_latency`):
    on this machine, on the evaluator's torch device, a batch of ``batch_size`` with ``threads`` intra-op threads,
    the median of ``repeats`` timed forward passes after ``warmup`` untimed ones; ``repeats=0`` measures nothing
    (FLOPs and parameters are still counted). The settings are reported with the result (``latency_batch_size``,
    ``latency_threads``, ``latency_device``), since latencies measured otherwise do not compare."""

    batch_size: int = 1
    threads: int = 1
    warmup: int = 5
    repeats: int = 20

    def __post_init__(self) -> None:
        for name, least in (("batch_size", 1), ("threads", 1), ("warmup", 0), ("repeats", 0)):
            check_int(f"latency_{name}", getattr(self, name), least)


def network_costs(model: Any, input_shape: Sequence[int], latency: LatencySettings | None = None,
                  *, device: str = "cpu") -> dict[str, Any]:
    """``params_M``, ``flops_M`` (one image) and :func:`latency_metrics` of a built network on ``device``."""
    from nni_effnas.costs.flops import count_flops
    from nni_effnas.costs.params import count_params

    return {"params_M": count_params(model) / 1e6, "flops_M": count_flops(model, input_shape) / 1e6,
            **latency_metrics(model, input_shape, latency, device=device)}


def latency_metrics(model: Any, input_shape: Sequence[int], latency: LatencySettings | None,
                    *, device: str = "cpu") -> dict[str, Any]:
    """``latency_ms`` (the median) and ``latency_iqr_ms`` with the settings measured under, for a built network
    on ``device``; ``{}`` when ``latency`` is ``None`` or measures nothing."""
    if latency is None or not latency.repeats:
        return {}
    from nni_effnas.costs.latency import measure_latency

    measured = measure_latency(model, input_shape, batch_size=latency.batch_size, threads=latency.threads,
                               warmup=latency.warmup, repeats=latency.repeats, device=device)
    return {"latency_ms": measured.median_ms, "latency_iqr_ms": measured.iqr_ms,
            "latency_batch_size": measured.batch_size, "latency_threads": measured.threads,
            "latency_device": measured.device}

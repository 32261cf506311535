"""Cost models for hardware-aware NAS: FLOPs, parameters, measured latency, per-op latency LUTs and latency
tables, and how well the cheap ones rank architectures by latency. See ``docs/costs.md``.

* :func:`count_flops`, :func:`count_params`: of any model; :func:`nb201_flops`, :func:`nb201_params`: of all
  NAS-Bench-201 networks at once; :func:`naslib_mflops`: NAS-Bench-Suite-Zero's FLOPs from ours.
* :func:`measure_latency` -> :class:`LatencyMeasurement`.
* :func:`build_nb201_lut` -> :class:`NB201LatencyLUT` (FBNet/ProxylessNAS-style), :func:`prediction_error`.
* :func:`nb201_latency`, :class:`LatencyTable` (``from_csv``), :func:`known_devices`.
* :func:`cost_correlation_table`, :func:`local_latency_vs_flops`, :func:`markdown_table`.
"""
import importlib
from typing import Any

#: public name -> the submodule defining it. Resolved on first use (PEP 562), so that importing one light
#: submodule (e.g. ``nb201_counts`` for a table-lookup trial) does not import torch through ``lut``/``latency``.
_HOMES = {
    "cost_correlation_table": "correlation", "local_latency_vs_flops": "correlation",
    "markdown_table": "correlation", "rank_correlations": "correlation",
    "DeviceLUT": "device_lut", "fit_nb201_device_lut": "device_lut",
    "count_flops": "flops", "naslib_mflops": "flops",
    "LatencyMeasurement": "latency", "machine_info": "latency", "measure_latency": "latency",
    "NB201LatencyLUT": "lut", "build_nb201_lut": "lut", "build_nb201_network": "lut",
    "measure_nb201_networks": "lut", "prediction_error": "lut",
    "nb201_arch_strings": "nb201_counts", "nb201_flops": "nb201_counts", "nb201_op_indices": "nb201_counts",
    "nb201_params": "nb201_counts",
    "count_params": "params",
    "LatencyTable": "tables", "known_devices": "tables", "nb201_key": "tables", "nb201_latency": "tables",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = [
    "DeviceLUT",
    "fit_nb201_device_lut",
    "LatencyMeasurement",
    "LatencyTable",
    "NB201LatencyLUT",
    "build_nb201_lut",
    "build_nb201_network",
    "cost_correlation_table",
    "count_flops",
    "count_params",
    "known_devices",
    "local_latency_vs_flops",
    "machine_info",
    "markdown_table",
    "measure_latency",
    "measure_nb201_networks",
    "naslib_mflops",
    "nb201_arch_strings",
    "nb201_flops",
    "nb201_key",
    "nb201_latency",
    "nb201_op_indices",
    "nb201_params",
    "prediction_error",
    "rank_correlations",
]

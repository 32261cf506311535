"""Cost models for hardware-aware NAS: FLOPs, parameters, measured latency, per-op latency LUTs and latency
tables, and how well the cheap ones rank architectures by latency. See ``docs/costs.md``.

* :func:`count_flops`, :func:`count_params`: of any model; :func:`nb201_flops`, :func:`nb201_params`: of all
  NAS-Bench-201 networks at once; :func:`naslib_mflops`: NAS-Bench-Suite-Zero's FLOPs from ours.
* :func:`measure_latency` -> :class:`LatencyMeasurement`.
* :func:`build_nb201_lut` -> :class:`NB201LatencyLUT` (FBNet/ProxylessNAS-style), :func:`prediction_error`.
* :func:`nb201_latency`, :class:`LatencyTable` (``from_csv``), :func:`known_devices`.
* :func:`cost_correlation_table`, :func:`local_latency_vs_flops`, :func:`markdown_table`.
"""
from nni_effnas.costs.correlation import (
    cost_correlation_table,
    local_latency_vs_flops,
    markdown_table,
    rank_correlations,
)
from nni_effnas.costs.device_lut import DeviceLUT, fit_nb201_device_lut
from nni_effnas.costs.flops import count_flops, naslib_mflops
from nni_effnas.costs.latency import LatencyMeasurement, machine_info, measure_latency
from nni_effnas.costs.lut import (
    NB201LatencyLUT,
    build_nb201_lut,
    build_nb201_network,
    measure_nb201_networks,
    prediction_error,
)
from nni_effnas.costs.nb201_counts import nb201_arch_strings, nb201_flops, nb201_op_indices, nb201_params
from nni_effnas.costs.params import count_params
from nni_effnas.costs.tables import LatencyTable, known_devices, nb201_key, nb201_latency

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

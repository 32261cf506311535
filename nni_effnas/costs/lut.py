"""A per-operation latency look-up table (LUT) of the NAS-Bench-201 network, measured on this machine.

The latency model of FBNet (B. Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via
Differentiable Neural Architecture Search", CVPR 2019) and ProxylessNAS (H. Cai, L. Zhu and S. Han, ICLR
2019): time each candidate op once in every context it appears in, then predict a network's latency as the
sum of its ops' entries, without building or running it.

Variant implemented. Contexts are the three stages of the NAS-Bench-201 macro network (X. Dong and Y. Yang,
ICLR 2020): ``C, 2C, 4C`` channels at the input resolution halved (rounding up) by each reduction block. Each
of the 5 ops is timed on each stage's feature map (``stage_{s}/{op}``), and so are the parts every network
has: the stem, both reduction blocks, the head (final BN+ReLU, global pooling, classifier) and, per stage, a
whole cell with ``skip_connect`` (identity) on every edge (``stage_{s}/cell``): the cell's own cost, its
Python loop and three tensor additions, plus six identity calls. Every entry is one statistic
(``statistic``, default the median) of :func:`measure_latency` with the table's settings (batch size,
threads, device, clock), taken from modules of a built network (the fixed parts) or
:func:`~nni_effnas.search_spaces.nb201_network.make_op` (the ops), with weights initialised under ``seed``::

    predict(arch) = fixed_ms + num_cells * sum_edges sum_stages entry[stage_s/op_edge]
    fixed_ms      = stem + reduction_1 + reduction_2 + head
                    + num_cells * sum_stages max(0, entry[stage_s/cell] - 6 * entry[stage_s/skip_connect])

so the all-skip network is predicted as the sum of its measured parts. Deviation from the papers: their
LUTs time one block per layer of a chain; here the cell is a DAG, timed as a skeleton plus isolated ops, and
effects between ops (caches, the network's own call overhead) are in no entry; :func:`prediction_error`
measures the result on the same machine (``docs/costs.md`` has our numbers).
:meth:`NB201LatencyLUT.to_op_cost_table` gives the per-edge costs as an
:class:`~nni_effnas.oneshot.cost.OpCostTable` for the differentiable expected-latency loss.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from nni_effnas.checks import check_input_shape, int_at_least, is_number
from nni_effnas.costs.latency import (
    LatencyMeasurement,
    check_statistic,
    machine_info,
    measure_latency,
    statistic_of,
)
from nni_effnas.nb201 import EDGE_LABELS, OPS, parse_arch, sample_to_arch

if TYPE_CHECKING:
    from nni_effnas.oneshot.cost import OpCostTable

__all__ = ["NB201LatencyLUT", "build_nb201_lut", "build_nb201_network", "measure_nb201_networks", "prediction_error"]

FORMAT = "nni_effnas.costs.lut/nb201/v1"
FIXED_PARTS = ("stem", "reduction_1", "reduction_2", "head")
_CONFIG_KEYS = ("channels", "num_cells", "num_classes", "input_shape", "batch_size", "threads", "device",
                "warmup", "repeats", "seed", "statistic", "clock")


def _entry_names() -> tuple[str, ...]:
    return FIXED_PARTS + tuple(f"stage_{s}/{name}" for s in range(3) for name in (*OPS, "cell"))


class NB201LatencyLUT:
    """Per-op latency entries (ms) of one NAS-Bench-201 network configuration on one machine."""

    def __init__(self, *, entries: Mapping[str, float], config: Mapping[str, Any], machine: Mapping[str, Any]) -> None:
        missing = [name for name in _entry_names() if name not in entries]
        if missing:
            raise ValueError(f"latency LUT lacks entries {missing}")
        for name, value in entries.items():
            if not is_number(value) or value < 0:
                raise ValueError(f"latency LUT entry {name!r} must be a finite number of ms >= 0, got {value!r}")
        absent = [key for key in _CONFIG_KEYS if key not in config]
        if absent:
            raise ValueError(f"latency LUT config lacks {absent}")
        self.entries = {name: float(entries[name]) for name in _entry_names()}
        self.config = dict(config)
        self.config["input_shape"] = tuple(self.config["input_shape"])
        self.machine = dict(machine)

    @property
    def num_cells(self) -> int:
        return int(self.config["num_cells"])

    @property
    def fixed_ms(self) -> float:
        """The latency every architecture pays: stem, reduction blocks, head and the cells' skeletons."""
        skeletons = sum(max(0.0, self.entries[f"stage_{s}/cell"] - 6 * self.entries[f"stage_{s}/skip_connect"])
                        for s in range(3))
        return sum(self.entries[part] for part in FIXED_PARTS) + self.num_cells * skeletons

    def op_ms(self, op: str) -> float:
        """The latency one edge with ``op`` adds to the network (its op on all stages, all cells)."""
        if op not in OPS:
            raise ValueError(f"unknown NAS-Bench-201 operation {op!r}; expected one of: {', '.join(OPS)}")
        return self.num_cells * sum(self.entries[f"stage_{s}/{op}"] for s in range(3))

    def predict(self, arch: str | Mapping[str, Any]) -> float:
        """Predicted latency (ms) of the network of ``arch`` (an arch string or a sample dict)."""
        ops = parse_arch(arch if isinstance(arch, str) else sample_to_arch(arch))
        return self.fixed_ms + sum(self.op_ms(op) for op in ops)

    def predict_all(self) -> np.ndarray:
        """Predicted latency (ms) of all 15,625 cells, indexed like ``NB201Table``."""
        from nni_effnas.costs.nb201_counts import nb201_op_indices

        per_op = np.array([self.op_ms(op) for op in OPS])
        return self.fixed_ms + per_op[nb201_op_indices()].sum(axis=1)

    def to_op_cost_table(self) -> "OpCostTable":
        """The per-edge op latencies as an ``OpCostTable`` (unit ``"ms"``); ``table.total(sample) + fixed_ms``
        equals :meth:`predict`."""
        from nni_effnas.oneshot.cost import OpCostTable

        return OpCostTable.from_per_op({op: self.op_ms(op) for op in OPS}, labels=EDGE_LABELS, unit="ms")

    # -- storage -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        config = {**self.config, "input_shape": list(self.config["input_shape"])}
        return {"format": FORMAT, "config": config, "machine": dict(self.machine), "entries": dict(self.entries)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NB201LatencyLUT":
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"not an NAS-Bench-201 latency LUT: format {found!r}, expected {FORMAT!r}")
        return cls(entries=data.get("entries", {}), config=data.get("config", {}), machine=data.get("machine", {}))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "NB201LatencyLUT":
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"latency LUT file {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"latency LUT file {str(path)!r} is not JSON: {error}") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NB201LatencyLUT) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        c = self.config
        return (f"NB201LatencyLUT(C={c['channels']}, N={c['num_cells']}, input={c['input_shape']}, "
                f"batch={c['batch_size']}, threads={c['threads']}, device={c['device']!r}, "
                f"fixed={self.fixed_ms:.3f} ms)")


class _Head(nn.Module):
    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.lastact, self.global_pooling, self.classifier = network.lastact, network.global_pooling, network.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))


def _stage_shapes(channels: int, shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
    _, h, w = shape
    sizes = [(h, w), (-(-h // 2), -(-w // 2)), (-(-h // 4), -(-w // 4))]
    return [(channels * 2 ** s, sh, sw) for s, (sh, sw) in enumerate(sizes)]


def build_nb201_network(arch: str | Mapping[str, Any], *, channels: int = 16, num_cells: int = 5,
                        num_classes: int = 10, in_channels: int = 3, seed: int = 0, device: str = "cpu") -> nn.Module:
    """The NAS-Bench-201 network of ``arch`` in eval mode, weights initialised under ``seed`` (the global RNG
    is left as it was), on ``device``."""
    from nni_effnas.search_spaces.nb201 import NB201Space

    sample = dict(zip(EDGE_LABELS, parse_arch(arch if isinstance(arch, str) else sample_to_arch(arch))))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = NB201Space().build(sample, channels=channels, num_cells=num_cells, num_classes=num_classes,
                                     in_channels=in_channels)
    return network.eval().to(torch.device(device))


def _network(config: Mapping[str, Any], arch: str | Mapping[str, Any]) -> nn.Module:
    return build_nb201_network(arch, channels=config["channels"], num_cells=config["num_cells"],
                               num_classes=config["num_classes"], in_channels=config["input_shape"][0],
                               seed=config["seed"], device=config["device"])


def _check_config(**config: Any) -> dict[str, Any]:
    for name in ("channels", "num_cells", "num_classes", "batch_size", "threads", "repeats"):
        int_at_least(name, config[name], 1)
    int_at_least("warmup", config["warmup"], 0)
    int_at_least("seed", config["seed"], 0)
    check_statistic(config["statistic"])
    shape = check_input_shape(config["input_shape"])
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {config['input_shape']!r}")
    return {**config, "input_shape": shape}


def build_nb201_lut(*, channels: int = 16, num_cells: int = 5, num_classes: int = 10,
                    input_shape: Sequence[int] = (3, 32, 32), batch_size: int = 1, threads: int = 1,
                    warmup: int = 10, repeats: int = 50, device: str = "cpu", seed: int = 0,
                    statistic: str = "median_ms", clock: str = "wall") -> NB201LatencyLUT:
    """Measure every entry of the LUT on this machine (see the module docstring); ``statistic`` is the
    :class:`LatencyMeasurement` field an entry keeps and ``clock`` :func:`measure_latency`'s (on a shared
    machine ``statistic="min_ms", clock="cpu"``)."""
    config = _check_config(channels=channels, num_cells=num_cells, num_classes=num_classes, input_shape=input_shape,
                           batch_size=batch_size, threads=threads, device=device, warmup=warmup,
                           repeats=repeats, seed=seed, statistic=statistic, clock=clock)
    from nni_effnas.search_spaces.nb201_network import make_op

    settings = {"batch_size": batch_size, "threads": threads, "warmup": warmup, "repeats": repeats,
                "device": device, "seed": seed, "clock": clock}
    network = _network(config, dict.fromkeys(EDGE_LABELS, "skip_connect"))
    stages = _stage_shapes(channels, config["input_shape"])
    reductions = [network.cells[num_cells], network.cells[2 * num_cells + 1]]
    skip_cells = [network.cells[s * (num_cells + 1)] for s in range(3)]

    def timed(module: nn.Module, shape: Sequence[int]) -> float:
        return statistic_of(measure_latency(module, shape, **settings), statistic)

    entries = {"stem": timed(network.stem, config["input_shape"]), "reduction_1": timed(reductions[0], stages[0]),
               "reduction_2": timed(reductions[1], stages[1]), "head": timed(_Head(network), stages[2])}
    for s, shape in enumerate(stages):
        for op in OPS:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                module = make_op(op, shape[0]).to(torch.device(device))
            entries[f"stage_{s}/{op}"] = timed(module, shape)
        entries[f"stage_{s}/cell"] = timed(skip_cells[s], shape)
    return NB201LatencyLUT(entries=entries, config=config, machine=machine_info(device=device))


def measure_nb201_networks(lut: NB201LatencyLUT, archs: Sequence[str | Mapping[str, Any]], *,
                           warmup: int | None = None, repeats: int | None = None) -> list[LatencyMeasurement]:
    """Whole-network latency of each arch, built and timed with the LUT's configuration and settings (the
    ground truth for :func:`prediction_error`); ``warmup``/``repeats`` override the LUT's."""
    config = lut.config
    settings = {name: config[name] for name in ("batch_size", "threads", "device", "seed", "clock")}
    settings["warmup"] = config["warmup"] if warmup is None else warmup
    settings["repeats"] = config["repeats"] if repeats is None else repeats
    return [measure_latency(_network(config, arch), config["input_shape"], **settings) for arch in archs]


def prediction_error(lut: NB201LatencyLUT, archs: Sequence[str | Mapping[str, Any]],
                     measured: Sequence[float | LatencyMeasurement]) -> dict[str, float]:
    """How well the LUT predicts measured whole-network latencies (ms, or measurements: the LUT's statistic):
    mean and max absolute percentage error, mean signed error (%, negative = the LUT underestimates), max
    absolute error (ms), Spearman's rank correlation (NaN when either side is constant)."""
    from scipy.stats import spearmanr

    if len(archs) != len(measured):
        raise ValueError(f"{len(archs)} archs but {len(measured)} measured latencies; expected one per arch")
    if len(archs) < 2:
        raise ValueError(f"prediction_error needs at least 2 archs, got {len(archs)}")
    statistic = lut.config["statistic"]
    truth = np.array([statistic_of(m, statistic) if isinstance(m, LatencyMeasurement) else float(m) for m in measured])
    if not np.all(np.isfinite(truth)) or np.any(truth <= 0):
        raise ValueError(f"measured latencies must be finite and > 0 ms, got {truth.tolist()}")
    predicted = np.array([lut.predict(arch) for arch in archs])
    relative = (predicted - truth) / truth
    constant = np.ptp(truth) == 0 or np.ptp(predicted) == 0
    return {"n": len(truth), "mape_pct": float(100 * np.abs(relative).mean()),
            "max_ape_pct": float(100 * np.abs(relative).max()), "bias_pct": float(100 * relative.mean()),
            "max_abs_error_ms": float(np.abs(predicted - truth).max()),
            "spearman": float("nan") if constant else float(spearmanr(predicted, truth)[0])}

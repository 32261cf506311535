"""Latency tables: measured latency (ms) per architecture, looked up instead of measured.

* :func:`nb201_latency`: the latency of every NAS-Bench-201 cell on one of the 22 device settings shipped in
  the package table (HELP, H. Lee et al., "HELP: Hardware-Adaptive Efficient Latency Prediction for NAS via
  Meta-Learning", NeurIPS 2021, which collects HW-NAS-Bench's, C. Li et al., ICLR 2021, and its own
  measurements; GPU names end in the batch size; see ``nni_effnas/data/PROVENANCE.md``). One latency per
  cell, measured on 32x32 (CIFAR-sized) inputs, so ``cifar10`` and ``cifar100`` (whose networks differ only
  in the classifier's width) read the same values and ``imagenet16`` (16x16 inputs) has none.
* :meth:`LatencyTable.from_csv`: any user table with an architecture column and a latency column, for any
  search space; :meth:`~LatencyTable.check_complete` checks it covers a benchmark or a list of archs.

A table is callable on an architecture and returns its latency in ms.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from nni_effnas.checks import is_int
from nni_effnas.costs.nb201_counts import nb201_arch_strings
from nni_effnas.nb201 import canonical_dataset, format_arch, load_table, parse_arch, sample_to_arch

__all__ = ["LatencyTable", "known_devices", "nb201_key", "nb201_latency"]

Key = Callable[[Any], str]


def known_devices() -> tuple[str, ...]:
    """The device settings of the shipped NAS-Bench-201 latency table (22, sorted)."""
    return load_table().devices


class LatencyTable:
    """Latency in ms of each architecture of ``archs`` (its text form), in ``values`` order.

    ``key`` turns what a caller passes (a sample dict, an index, a string in another spelling) into the text
    form; by default a string is used as it is and anything else is a ``TypeError``.
    """

    def __init__(self, archs: Sequence[str], values: Sequence[float] | np.ndarray, *, name: str,
                 key: Key | None = None) -> None:
        values = np.array(values, dtype=float)  # a copy: the caller's array stays writable
        if values.shape != (len(archs),):
            raise ValueError(f"latency table {name!r}: {len(archs)} archs but values of shape {values.shape}")
        self.name = name
        self.archs: tuple[str, ...] = tuple(archs)
        self._position: dict[str, int] = {}
        for position, arch in enumerate(self.archs):
            if arch in self._position:
                raise ValueError(f"latency table {name!r}: duplicate architecture {arch!r}")
            self._position[arch] = position
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            raise ValueError(f"latency table {name!r}: latency {values[bad[0]]!r} of {self.archs[bad[0]]!r} "
                             "is not a finite number >= 0")
        values.flags.writeable = False
        self.values = values
        self._key = key

    def key(self, arch: Any) -> str:
        """The text form the table stores for ``arch``."""
        if self._key is not None:
            return self._key(arch)
        if not isinstance(arch, str):
            raise TypeError(f"latency table {self.name!r} looks up architecture strings, got {type(arch).__name__}")
        return arch

    def __call__(self, arch: Any) -> float:
        text = self.key(arch)
        if text not in self._position:
            raise ValueError(f"architecture {text!r} is not in latency table {self.name!r}")
        return float(self.values[self._position[text]])

    def __len__(self) -> int:
        return len(self.archs)

    def __contains__(self, arch: Any) -> bool:
        try:
            return self.key(arch) in self._position
        except (TypeError, ValueError):
            return False

    def missing(self, expected: Iterable[Any]) -> list[str]:
        """The text forms of ``expected`` archs the table lacks, in their order."""
        return [text for text in (self.key(arch) for arch in expected) if text not in self._position]

    def covers(self, expected: Iterable[Any]) -> bool:
        return not self.missing(expected)

    def check_complete(self, expected: Iterable[Any]) -> "LatencyTable":
        """``self`` if it has every ``expected`` arch; else a ``ValueError`` with the count and one example."""
        expected = list(expected)
        missing = self.missing(expected)
        if missing:
            raise ValueError(f"latency table {self.name!r} lacks {len(missing)} of {len(expected)} architectures, "
                             f"e.g. {missing[0]!r}")
        return self

    def check_nb201(self) -> "LatencyTable":
        """``check_complete`` against all 15,625 NAS-Bench-201 cells (official arch strings)."""
        return self.check_complete(nb201_arch_strings())

    @classmethod
    def from_csv(cls, path: str | Path, *, arch_column: str = "arch_str", latency_column: str = "latency_ms",
                 key: Key | None = None) -> "LatencyTable":
        """A table from a CSV file with a header row; other columns are ignored. Every latency cell must be a
        finite number >= 0 and every architecture appear once. ``key`` also normalises the file's strings;
        without one, a file whose architectures are all NAS-Bench-201 arch strings gets :func:`nb201_key`
        (so sample dicts and indices look up too), any other file plain strings."""
        path = Path(path)
        rows = _read_rows(path, arch_column, latency_column)
        if key is None and all(_is_nb201(arch) for _, arch, _ in rows):
            key = nb201_key
        archs: list[str] = []
        values: list[float] = []
        lines: dict[str, int] = {}
        for line, arch, text in rows:
            if key is not None:
                try:
                    arch = key(arch)
                except (TypeError, ValueError) as error:
                    raise ValueError(f"{path.name} line {line}: {error}") from None
            value = _latency(text, where=f"{path.name} line {line}", arch=arch, column=latency_column)
            if arch in lines:
                first = lines[arch]
                raise ValueError(f"{path.name} line {line}: duplicate architecture {arch!r} (first on line {first})")
            lines[arch] = line
            archs.append(arch)
            values.append(value)
        return cls(archs, values, name=f"{path.name}:{latency_column}", key=key)

    def __repr__(self) -> str:
        return f"LatencyTable({self.name!r}, {len(self)} archs, median {np.median(self.values):.4g} ms)"


def _read_rows(path: Path, arch_column: str, latency_column: str) -> list[tuple[int, str, str]]:
    """``(line, arch, latency text)`` of every row; errors for a missing file or column, an empty arch or file."""
    if not path.is_file():
        raise ValueError(f"latency table file {str(path)!r} does not exist")
    rows = []
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = list(reader.fieldnames or [])
        for column in (arch_column, latency_column):
            if column not in header:
                raise ValueError(f"column {column!r} not in {path.name}; its columns are {header}")
        for line, row in enumerate(reader, start=2):
            arch = (row.get(arch_column) or "").strip()
            if not arch:
                raise ValueError(f"{path.name} line {line}: empty {arch_column!r}")
            rows.append((line, arch, (row.get(latency_column) or "").strip()))
    if not rows:
        raise ValueError(f"latency table file {path.name} has no rows")
    return rows


def _is_nb201(arch: str) -> bool:
    try:
        parse_arch(arch)
    except ValueError:
        return False
    return True


def _latency(text: str, *, where: str, arch: str, column: str) -> float:
    if not text:
        raise ValueError(f"{where}: empty {column!r} for {arch!r}")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {column!r} of {arch!r} is {text!r}, not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {column!r} of {arch!r} is {text!r}; expected a finite number of ms >= 0")
    return value


def nb201_key(arch: Any) -> str:
    """The official arch string of an arch string (re-formatted), a sample dict or an index: ``key`` for
    NAS-Bench-201 tables (pass it to :meth:`LatencyTable.from_csv`)."""
    if isinstance(arch, str):
        return format_arch(parse_arch(arch))
    if isinstance(arch, Mapping):
        return sample_to_arch(arch)
    if is_int(arch):
        return load_table().arch_str(int(arch))
    raise TypeError(f"expected an NAS-Bench-201 arch string, sample dict or index, got {type(arch).__name__}")


def nb201_latency(device: str, dataset: str = "cifar10") -> LatencyTable:
    """The shipped latency (ms) of every NAS-Bench-201 cell on ``device`` (see :func:`known_devices`);
    ``.values`` is indexed like ``NB201Table``."""
    values = load_table().column(dataset, f"latency:{device}")  # an unknown device or dataset: a one-line error
    dataset = canonical_dataset(dataset)
    return LatencyTable(nb201_arch_strings(), values,
                        name=f"nb201/{dataset}/{device}",
                        key=nb201_key)

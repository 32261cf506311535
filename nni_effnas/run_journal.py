"""An append-only journal of finished benchmark runs, so a long benchmark can be stopped and resumed.

The file is JSON lines: a header ``{"journal": KIND, "settings": {...}}``, then one line per finished run:
``{"label": ..., "seed": ..., "identity": ..., "run": {...}}``, where the label is a row of the benchmark (a
strategy or method under its label), the identity what the label ran (the registered name and its arguments,
see :func:`identity`) and ``run`` the benchmark's record of the run. Each line is
written whole (one ``write`` of one line, flushed and synced) as soon as its run ends, so a stopped benchmark
loses at most the runs in progress. Opening an existing journal checks that its settings are the ones of this
benchmark (a different benchmark must use another file) and drops a last line cut off by a stop mid-write;
:meth:`RunJournal.finished` hands back the finished runs and the caller runs only what is missing; the
benches do this through :class:`Runs`, which also serves a benchmark run without a journal. Values are
stored as strict JSON (NaN as ``null``; :func:`~nni_effnas.report_io.nan_if_none` reads them back).

Several processes may share one journal, e.g. the same benchmark split into seed ranges (``--seed-offset``)
run side by side: reading (with its repair of a cut-off last line) and each append hold an exclusive lock on
the file (``flock``), so no process reads another's line half-written or cuts it off. A process reads the
journal once, when it opens it; runs another process finishes later are read by the next run.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from nni_effnas.checks import is_int
from nni_effnas.report_io import jsonable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking, one process per journal
    fcntl = None


def fingerprint(*arrays: Any) -> str:
    """A short hash of the numbers in ``arrays`` (as float64): a table under the same name with other numbers
    gets another fingerprint."""
    digest = hashlib.sha256()
    for values in arrays:
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def identity(name: str, args: Mapping[str, Any] | None) -> str:
    """What a label ran, as a comparable string: the registered name and its keyword arguments."""
    return json.dumps({"name": name, "args": jsonable(dict(args or {}))}, sort_keys=True, default=repr)


class RunJournal:
    """``RunJournal(path, kind, settings)``: open (or create) the journal; ``records`` are the lines of its
    finished runs. A file that is not this kind of journal, or was written with other settings, is refused
    and left as it is."""

    def __init__(self, path: str | Path, kind: str, settings: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.kind = kind
        self.settings = json.loads(json.dumps(jsonable(settings)))  # as it reads back: tuples become lists
        self.records: list[dict[str, Any]] = []  # the lines after the header
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path) as handle:
            if self.path.stat().st_size > 0:
                self._read(handle)
            else:
                _write(handle, {"journal": kind, "settings": self.settings})

    def _read(self, handle) -> None:
        try:
            text = self.path.read_text()
        except UnicodeDecodeError:
            raise ValueError(f"{self.path} is not a {self.kind} journal (not UTF-8 text); give a new file or the one "
                             "this benchmark wrote") from None
        complete = text[: text.rfind("\n") + 1]
        lines = complete.splitlines()
        try:
            header = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("journal") != self.kind:
            raise ValueError(f"{self.path} is not a {self.kind} journal; give a new file or the one this "
                             "benchmark wrote")
        theirs = header.get("settings", {})
        for key in sorted(set(theirs) | set(self.settings)):
            if theirs.get(key) != self.settings.get(key):
                raise ValueError(f"{self.path} was written with {key}={theirs.get(key)!r}, this run has "
                                 f"{key}={self.settings.get(key)!r}; use another journal file for other settings")
        for number, line in enumerate(lines[1:], start=2):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{self.path}, line {number}: not a JSON record; the journal is damaged") from None
            if not (isinstance(record, dict) and isinstance(record.get("label"), str) and is_int(record.get("seed"))
                    and isinstance(record.get("run"), dict)):
                raise ValueError(f"{self.path}, line {number}: not a run record (label, seed, run); the journal is "
                                 "damaged")
            self.records.append(record)
        if len(complete) < len(text):  # a line cut off by a stop mid-write: drop it before appending
            handle.truncate(len(complete.encode()))

    def finished(self, plan: Mapping[str, str]) -> dict[tuple[str, int], dict[str, Any]]:
        """The records of finished runs by ``(label, seed)``. ``plan`` maps each label of this run to its
        :func:`identity`; a line under one of those labels with another identity is an error (lines of other
        labels are kept: a later run may ask for them)."""
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for line in self.records:
            label = line.get("label")
            if label in plan and line.get("identity") != plan[label]:
                raise ValueError(f"{self.path} has {label!r} run as {line.get('identity')}; this run gives it "
                                 f"{plan[label]} (use another label or another journal file)")
            out[(label, int(line["seed"]))] = line["run"]
        return out

    def append(self, label: str, seed: int, identity: str, run: Mapping[str, Any]) -> dict[str, Any]:
        """Write one finished run; returns its record as it reads back (NaN as ``None``)."""
        line = json.loads(json.dumps({"label": label, "seed": int(seed), "identity": identity,
                                      "run": jsonable(run)}, allow_nan=False))
        with _locked(self.path) as handle:
            _write(handle, line)
        self.records.append(line)
        return line["run"]


@contextlib.contextmanager
def _locked(path: Path):
    """The journal opened for appending (created if missing), under an exclusive lock while in the block."""
    with open(path, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield handle  # closing the file releases the lock


def _write(handle, obj: Mapping[str, Any]) -> None:
    """Append ``obj`` as one line, flushed and synced."""
    handle.write(json.dumps(obj, allow_nan=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


class Runs:
    """A benchmark's runs, through a journal when it has one: ``get(label, seed, compute)`` gives the journaled
    record of that run, or calls ``compute()`` and journals its record; :meth:`run_all` does it for many runs,
    in worker processes if asked. ``plan`` maps each label of this benchmark to its :func:`identity`. Without a
    ``path`` every run is computed and returned as it is."""

    def __init__(self, path: str | Path | None, kind: str, settings: Mapping[str, Any],
                 plan: Mapping[str, str]) -> None:
        self.plan = dict(plan)
        self.journal = RunJournal(path, kind, settings) if path is not None else None
        self.done = self.journal.finished(self.plan) if self.journal else {}

    def run_all(self, tasks: Mapping[tuple[str, int], tuple[Callable[..., Mapping[str, Any]], tuple[Any, ...]]],
                workers: int = 1, report: Callable[[tuple[str, int], Mapping[str, Any]], None] | None = None
                ) -> dict[tuple[str, int], Any]:
        """The record of every task (``(label, seed) -> (function, args)``), in task order. The missing ones are
        computed in order here, or with ``workers > 1`` in that many spawned processes with one torch thread each
        (a strategy's compute is charged to its clock, so the processes must not compete for threads; function
        and args must pickle); each is journaled here as it arrives. ``report(key, record)`` once per task as its
        record is at hand (with workers: the journaled ones first, then the others as they finish)."""
        def arrived(key: tuple[str, int]) -> None:
            if report:
                report(key, self.done[key])

        missing = {key: task for key, task in tasks.items() if key not in self.done}
        if workers > 1 and missing:
            import concurrent.futures
            import multiprocessing

            for key in tasks:
                if key not in missing:
                    arrived(key)
            context = multiprocessing.get_context("spawn")  # torch and forked processes do not mix
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
                futures = {pool.submit(fn, *args): key for key, (fn, args) in missing.items()}
                for future in concurrent.futures.as_completed(futures):
                    self.get(*futures[future], future.result)
                    arrived(futures[future])
        else:
            for (label, seed), (fn, args) in tasks.items():
                self.get(label, seed, lambda: fn(*args))
                arrived((label, seed))
        return {key: self.done[key] for key in tasks}

    def get(self, label: str, seed: int, compute: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        record = self.done.get((label, seed))
        if record is None:
            record = compute()
            if self.journal:
                record = self.journal.append(label, seed, self.plan[label], record)
            self.done[(label, seed)] = record
        return record


def ticks(progress: Callable[[], None] | None) -> Callable[[tuple[str, int], Mapping[str, Any]], None] | None:
    """A progress callback that takes no arguments, as :meth:`Runs.run_all`'s ``report``."""
    return (lambda key, record: progress()) if progress else None


def _one_thread() -> None:
    """A worker process of :meth:`Runs.run_all`."""
    import torch

    from nni_effnas import compat

    torch.set_num_threads(1)
    compat.quiet_nni_logging()

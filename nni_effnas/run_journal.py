"""An append-only journal of finished benchmark runs, so a long benchmark can be stopped and resumed.

The file is JSON lines: a header ``{"journal": KIND, "settings": {...}}``, then one record per finished run.
Each record is written whole (one ``write`` of one line, flushed and synced) as soon as its run ends, so a
stopped benchmark loses at most the runs in progress. Opening an existing journal checks that its settings are
the ones of this benchmark (a different benchmark must use another file), drops a last line cut off by a stop
mid-write, and hands back the finished records; the caller runs only what is missing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping


class RunJournal:
    """``RunJournal(path, kind, settings)``: open (or create) the journal; ``records`` are its finished runs."""

    def __init__(self, path: str | Path, kind: str, settings: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.kind = kind
        self.settings = json.loads(json.dumps(settings))  # as it reads back: tuples become lists
        self.records: list[dict[str, Any]] = []
        if self.path.exists() and self.path.stat().st_size > 0:
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write_line({"journal": kind, "settings": self.settings})

    def _read(self) -> None:
        text = self.path.read_text()
        complete = text[: text.rfind("\n") + 1]
        if len(complete) < len(text):  # a line cut off by a stop mid-write: drop it before appending
            with open(self.path, "r+") as handle:
                handle.truncate(len(complete.encode()))
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
                self.records.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{self.path}, line {number}: not a JSON record; the journal is damaged") from None

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one finished run (JSON-able) and keep it in ``records``."""
        self._write_line(record)
        self.records.append(json.loads(json.dumps(record)))

    def _write_line(self, obj: Mapping[str, Any]) -> None:
        line = json.dumps(obj, allow_nan=False) + "\n"
        with open(self.path, "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

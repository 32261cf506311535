"""An on-disk cache of zero-cost proxy scores, so repeated benchmark runs and searches do not recompute them.

One SQLite file (default ``$NNI_EFFNAS_CACHE`` or ``~/.cache/nni-effnas/zerocost.sqlite``). A row holds one
proxy's score of one architecture under one *setting* (a string naming the space, the network's build
arguments, the proxy batch and the weight seed; see :meth:`nni_effnas.zerocost.ZeroCostScorer.setting`), and
the seconds it took to compute, so that a search that reuses a score can still be charged its real cost.
All proxies of one architecture are written in one transaction: a stopped run leaves whole rows or none. The
scores depend on the torch version only through floating-point detail; the setting records it anyway.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable, Mapping

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    setting TEXT NOT NULL,
    arch TEXT NOT NULL,
    proxy TEXT NOT NULL,
    value REAL,              -- NULL for NaN (a proxy undefined for this network)
    seconds REAL NOT NULL,
    PRIMARY KEY (setting, arch, proxy)
)
"""

#: Name of the pseudo-proxy row holding the time to build (and initialise) the network.
BUILD = "__build__"


def default_path() -> Path:
    env = os.environ.get("NNI_EFFNAS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "nni-effnas" / "zerocost.sqlite"


class ScoreCache:
    """``get`` and ``put`` of ``(value, seconds)`` per (setting, arch, proxy)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0)
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"zero-cost cache {self.path} is not a usable SQLite file ({exc}); delete it") from None

    def get(self, setting: str, arch: str, proxies: Iterable[str]) -> dict[str, tuple[float, float]]:
        """The cached ``proxy -> (value, seconds)`` among ``proxies`` (missing ones are absent)."""
        names = list(proxies)
        marks = ",".join("?" * len(names))
        rows = self._db.execute(
            f"SELECT proxy, value, seconds FROM scores WHERE setting=? AND arch=? AND proxy IN ({marks})",
            (setting, arch, *names),
        ).fetchall()
        return {p: (float("nan") if v is None else float(v), float(s)) for p, v, s in rows}

    def put(self, setting: str, arch: str, scores: Mapping[str, tuple[float, float]]) -> None:
        """Store ``proxy -> (value, seconds)`` for one architecture, atomically."""
        rows = [(setting, arch, p, None if v != v else float(v), float(s)) for p, (v, s) in scores.items()]
        with self._db:  # one transaction
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?)", rows)

    def count(self, setting: str | None = None) -> int:
        if setting is None:
            return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM scores WHERE setting=?", (setting,)).fetchone()[0])

    def close(self) -> None:
        self._db.close()

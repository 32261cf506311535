"""Drive ``nnictl`` experiments from Python: create, wait, read results over NNI's REST API; and ``demo``.

Only public surfaces are used: the ``nnictl`` command and the web UI's REST API
(``/api/v1/nni/check-status``, ``/api/v1/nni/trial-jobs``).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

from nni_effnas import compat

TERMINAL = {"DONE", "STOPPED", "ERROR"}
ACTIVE_TRIALS = {"WAITING", "RUNNING", "UNKNOWN"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _env() -> dict[str, str]:
    """nnictl and its trials run with this environment's scripts (effnas-trial) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def nnictl(*args: str, check: bool = True, timeout: float = 120) -> str:
    from nni_effnas.register import nnictl as nnictl_path

    compat.require_pkg_resources()
    proc = subprocess.run([nnictl_path(), *args], capture_output=True, text=True, env=_env(), timeout=timeout)
    out = _ANSI.sub("", proc.stdout + proc.stderr)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nnictl {' '.join(args)} failed: {_last_line(out)}")
    return out


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() and "Warning" not in line]
    return lines[-1] if lines else "(no output)"


def create(config: str | Path, *, port: int = 8080) -> str:
    """``nnictl create``; returns the experiment id."""
    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(f"experiment config {config} not found")
    out = nnictl("create", "--config", str(config), "--port", str(port))
    match = re.search(r"Experiment ID:\s*(\w+)", out)
    if not match:
        raise RuntimeError(f"could not read the experiment id from nnictl's output: {_last_line(out)}")
    return match.group(1)


def resume(experiment_id: str, *, port: int = 8080) -> None:
    nnictl("resume", experiment_id, "--port", str(port))


def view(experiment_id: str, *, port: int = 8080) -> None:
    """``nnictl view``: serve a stopped experiment's web UI and REST API again (read-only)."""
    nnictl("view", experiment_id, "--port", str(port))


def stop(experiment_id: str) -> None:
    nnictl("stop", experiment_id, check=False)


def rest(port: int, path: str, *, timeout: float = 10) -> Any:
    with urllib.request.urlopen(f"http://localhost:{port}/api/v1/nni/{path}", timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def status(port: int) -> str:
    return rest(port, "check-status").get("status", "UNKNOWN")


def wait(port: int, *, timeout_s: float = 600, poll_s: float = 2.0, progress: bool = True) -> str:
    """Wait until the experiment leaves RUNNING; returns the final status."""
    deadline = time.monotonic() + timeout_s
    last = ""
    idle_jobs = None  # the job count of the previous poll that saw NO_MORE_TRIAL with nothing running
    while time.monotonic() < deadline:
        try:
            state = status(port)
            jobs = rest(port, "trial-jobs")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            state, jobs = "STARTING", []
        done = sum(1 for j in jobs if j.get("status") in ("SUCCEEDED", "FAILED", "USER_CANCELED", "EARLY_STOPPED"))
        line = f"experiment {state}: {done} trials finished"
        if progress and line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        if state in TERMINAL:
            return state
        # NO_MORE_TRIAL: the tuner has nothing left to propose; over once the running trials end. A tuner's
        # last sample and its "no more" arrive together, and NNI submits that trial just after switching to
        # NO_MORE_TRIAL: so the experiment is over only when two polls in a row see no active trial and the
        # same number of trials.
        idle = state in ("NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL") and not any(
            j.get("status") in ACTIVE_TRIALS for j in jobs)
        if idle and idle_jobs == len(jobs):
            return state
        idle_jobs = len(jobs) if idle else None
        time.sleep(poll_s)
    raise TimeoutError(f"experiment on port {port} still running after {timeout_s:.0f} s")


def trials(port: int) -> list[dict[str, Any]]:
    """Trial jobs as plain dicts: ``status``, ``parameter`` (the sample) and ``metrics`` (final metric dict)."""
    out = []
    for job in rest(port, "trial-jobs"):
        params = [json.loads(p) for p in job.get("hyperParameters", [])]
        finals = [json.loads(m["data"]) for m in job.get("finalMetricData", [])]
        metric = finals[-1] if finals else None
        if isinstance(metric, str):
            metric = json.loads(metric)
        out.append({"id": job.get("trialJobId"), "status": job.get("status"),
                    "parameter_id": params[-1].get("parameter_id") if params else None,
                    "parameter": params[-1].get("parameters") if params else None, "metrics": metric})
    return out


def packaged_config(name: str) -> Path:
    path = resources.files("nni_effnas.trials").joinpath("configs", name)
    return Path(str(path))


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else the next free port above it."""
    import socket

    for port in range(preferred, preferred + 100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {preferred}..{preferred + 99}")


def demo(*, config: str | None = None, port: int = 8080, timeout_s: float = 600) -> int:
    """The main job: the NB201 benchmark search under nnictl with the web UI up; prints what it found."""
    from nni_effnas.nb201 import load_table
    from nni_effnas.register import register

    register(quiet=True)
    if free_port(port) != port:
        print(f"port {port} is busy (an earlier experiment's web UI?); using {free_port(port)}")
        port = free_port(port)
    config_path = Path(config) if config else packaged_config("nb201_evolution.yml")
    print(f"starting NNI experiment from {config_path}")
    experiment_id = create(config_path, port=port)
    print(f"experiment {experiment_id}: web UI at http://localhost:{port}")
    try:
        final = wait(port, timeout_s=timeout_s)
    except TimeoutError as exc:
        print(f"{exc}; it goes on in the background: web UI at http://localhost:{port}, stop it with: "
              f"nnictl stop {experiment_id} (or wait longer with --timeout)", file=sys.stderr)
        return 1
    finished = trials(port)
    done = [t for t in finished if t["status"] == "SUCCEEDED" and isinstance(t["metrics"], dict)]
    failed = sum(1 for t in finished if t["status"] == "FAILED")
    if not done:
        print(f"experiment {experiment_id} ended {final} with no successful trial")
        return 1
    best = max(done, key=lambda t: t["metrics"]["default"])
    m = best["metrics"]
    table = load_table()
    dataset = _dataset_of(config_path)
    optimum = float(table.column(dataset, "test_acc_200ep").max())
    cost = sum(t["metrics"].get("cost", 0.0) for t in done)
    print(f"experiment {experiment_id} {final}: {len(done)} trials succeeded, {failed} failed")
    print(f"best architecture (by 12-epoch validation accuracy {m['default']:.2f}): {m['arch']} (index {m['index']})")
    print(f"its 200-epoch test accuracy on {dataset}: {m['test_acc']:.2f} %  (optimum of the space: {optimum:.2f} %)")
    print(f"simulated search cost: {cost:.0f} s of 12-epoch training ({cost / 3600:.2f} GPU-hours)")
    print(f"web UI: http://localhost:{port}   (stop it with: nnictl stop {experiment_id})")
    return 0


def _dataset_of(config_path: Path) -> str:
    match = re.search(r"--dataset\s+(\S+)", config_path.read_text())
    return match.group(1) if match else "cifar10"

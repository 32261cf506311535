"""Register our strategies as NNI tuners, so experiment configs say ``tuner: {name: EffnasRegularizedEvolution}``.

Runs ``nnictl algo register --meta_path META`` (NNI's documented plug-in seam) with one meta entry per strategy
(see :func:`nni_effnas.nni_tuner.registered_strategies`). Idempotent: when NNI's registry already holds exactly
these entries, nothing is run. NNI keeps the registry in ``registered_algorithms.yml`` under ``$NNI_CONFIG_DIR``,
else ``<venv>/nni/``, else ``~/.config/nni``.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from nni_effnas import compat
from nni_effnas.nni_tuner import builtin_name, registered_strategies


def algorithm_metas() -> list[dict[str, str]]:
    return [{"algoType": "tuner", "builtinName": builtin_name(s),
             "className": f"nni_effnas.nni_tuner.{builtin_name(s)}"} for s in registered_strategies()]


def registered_names() -> dict[str, str]:
    """NNI's custom algorithm registry: builtinName -> className."""
    from nni.tools.package_utils.config_manager import _load_custom_config

    return {meta.name: meta.class_name for meta in _load_custom_config()}


def is_registered() -> bool:
    current = registered_names()
    return all(current.get(m["builtinName"]) == m["className"] for m in algorithm_metas())


def nnictl() -> str:
    """Path of the ``nnictl`` of this Python environment."""
    candidate = Path(sys.executable).with_name("nnictl")
    found = str(candidate) if candidate.exists() else shutil.which("nnictl")
    if not found:
        raise RuntimeError("nnictl not found: install nni==3.0 in this environment (make setup)")
    return found


def register(*, quiet: bool = False) -> None:
    compat.require_pkg_resources()
    metas = algorithm_metas()
    names = ", ".join(m["builtinName"] for m in metas)
    if is_registered():
        if not quiet:
            print(f"already registered with NNI: {names}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        meta_path = Path(tmp) / "effnas_algorithms.yml"
        meta_path.write_text(yaml.safe_dump({"algorithms": metas}, sort_keys=False))
        proc = subprocess.run([nnictl(), "algo", "register", "--meta_path", str(meta_path)],
                              capture_output=True, text=True)
    if proc.returncode != 0 or not is_registered():
        raise RuntimeError(f"nnictl algo register failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    print(f"registered with NNI: {names}")

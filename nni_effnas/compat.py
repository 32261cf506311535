"""Every work-around nni-effnas needs for NNI 3.0 on today's stack, in one place.

NNI 3.0 is archived (read-only since 2024-09-18); nothing here will be fixed upstream. Each fix names the
symptom it prevents and has a test in ``tests/test_compat.py`` that shows the failure without it.
"""
from __future__ import annotations

import warnings

_applied = False


def apply() -> None:
    """Apply the import-time fixes (idempotent). Called by ``import nni_effnas``."""
    global _applied
    if _applied:
        return
    _applied = True
    silence_buffer_warning()


def silence_buffer_warning() -> None:
    """NNI's generated layer wrappers predate torch 2.13 and warn about ``torch.nn.Buffer`` on every import."""
    warnings.filterwarnings("ignore", message=r".*torch\.nn\.Buffer.*")

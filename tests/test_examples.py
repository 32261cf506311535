"""The examples in examples/ run and print what they promise."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script, expected", [("python_api.py", "regularized_evolution"),
                                              ("custom_strategy.py", "cells evaluated"),
                                              ("zero_cost.py", "zero_cost_warmup"),
                                              ("optuna_sampler.py", "predictor_guided best"),
                                              ("multiobjective_search.py", "MnasNet reward: best cell under 12 ms"),
                                              ("oneshot_search.py", "fair_darts: derived |"),
                                              ("oneshot_search.py --methods zc_pt", "candidate cells scored by nwot")])
def test_example_runs(script, expected):
    script, *args = script.split()
    # one intra-op thread, as the in-process tests (conftest's one_thread): on a busy 2-core machine two contending
    # threads make tiny tensors tens of times slower (the Zero-Cost-PT example: 13 s against 405 s)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expected in out.stdout

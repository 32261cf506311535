"""The examples in examples/ run and print what they promise."""
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
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expected in out.stdout

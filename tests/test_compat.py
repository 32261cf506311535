"""Each NNI 3.0 work-around in nni_effnas.compat, with the failure it prevents shown first."""
import json
import random
import subprocess
import sys

import pytest

from nni_effnas import compat
from nni_effnas.space import CategoricalSpace

SPACE = CategoricalSpace.from_dict({f"e{i}": list(range(5)) for i in range(6)}).to_nni()
IMPORT_NAS = "import warnings; warnings.simplefilter('default'); {pre}import nni.nas.nn.pytorch"


def test_buffer_warning_is_silenced():
    bare = subprocess.run([sys.executable, "-c", IMPORT_NAS.format(pre="")], capture_output=True, text=True)
    assert "is found to be not a nn.Module" in bare.stderr  # the failure: noise on every import
    fixed = subprocess.run([sys.executable, "-c", IMPORT_NAS.format(pre="import nni_effnas; ")],
                           capture_output=True, text=True)
    assert fixed.returncode == 0
    assert "is found to be not a nn.Module" not in fixed.stderr


def test_pkg_resources_checked_with_a_one_line_fix(monkeypatch):
    compat.require_pkg_resources()  # the pinned setuptools<81 provides it
    monkeypatch.setitem(sys.modules, "pkg_resources", None)  # what setuptools>=81 looks like
    with pytest.raises(RuntimeError, match=r"pip install 'setuptools<81'"):
        compat.require_pkg_resources()


def evolution_population(seed=None):
    from nni.algorithms.hpo.evolution_tuner import EvolutionTuner

    tuner = EvolutionTuner(optimize_mode="maximize", population_size=8)
    if seed is not None:
        compat.seed_evolution_tuner(tuner, seed)
    tuner.update_search_space(SPACE)
    return [ind.config for ind in tuner.population]


def test_evolution_tuner_is_unseeded_without_the_fix():
    assert evolution_population() != evolution_population()


def test_seed_evolution_tuner_makes_it_reproducible():
    assert evolution_population(seed=3) == evolution_population(seed=3)
    assert evolution_population(seed=3) != evolution_population(seed=4)


def test_private_global_random_isolates_nni_draws():
    random.seed(0)
    expected = random.random()
    random.seed(0)
    with compat.private_global_random(42):
        inside = [random.random() for _ in range(3)]
    assert random.random() == expected  # the caller's stream is untouched
    with compat.private_global_random(42):
        assert [random.random() for _ in range(3)] == inside


def test_nni_evolution_strategy_is_reproducible_end_to_end():
    from nni_effnas.loop import run_search
    from nni_effnas.strategies import create_strategy

    space = CategoricalSpace.from_nni(SPACE)

    def run():
        res = run_search(create_strategy("nni_evolution", seed=1, population_size=6), space,
                         lambda s: {"default": float(sum(s.values()))}, max_trials=30, cost_key=None)
        return [t.sample for t in res.trials]

    assert run() == run()


class FakeChannel:
    """NNI's trial command channel, handing out the queue head (what the local training service does)."""

    def __init__(self, record):
        self.record = record

    def receive_parameter(self):
        return self.record


@pytest.fixture
def rest_api():
    """A loopback stand-in for the manager's REST API: trial 'trialX' is recorded with parameter 7."""
    import http.server
    import threading

    recorded = {"parameter_id": 7, "parameter_source": "algorithm", "parameters": {"a": "mine"}, "parameter_index": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/api/v1/nni/trial-jobs/trialX":
                body = json.dumps({"trialJobId": "trialX", "hyperParameters": [json.dumps(recorded)]}).encode()
                self.send_response(200)
            else:
                body = b"{}"
                self.send_response(404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/platform/env1/channel"
    server.shutdown()


def test_trial_uses_its_recorded_parameters(monkeypatch, rest_api):
    import nni.trial

    other = {"parameter_id": 3, "parameter_source": "algorithm", "parameters": {"a": "theirs"}, "parameter_index": 0}
    monkeypatch.setattr(nni.trial, "get_default_trial_command_channel", lambda: FakeChannel(other))
    monkeypatch.setattr(nni.trial, "_params", None)
    monkeypatch.setenv("NNI_TRIAL_COMMAND_CHANNEL", rest_api)
    monkeypatch.setenv("NNI_TRIAL_JOB_ID", "trialX")
    # the failure: NNI's own call hands this trial another trial's parameters
    assert nni.get_next_parameter() == {"a": "theirs"}
    monkeypatch.setattr(nni.trial, "_params", None)
    assert compat.next_trial_parameters(retries=2, delay_s=0.01) == {"a": "mine"}
    assert nni.trial._params["parameter_id"] == 7  # metrics are reported under the recorded id


def test_trial_falls_back_when_rest_api_is_silent(monkeypatch, rest_api):
    import nni.trial

    mine = {"parameter_id": 1, "parameters": {"a": "received"}}
    monkeypatch.setattr(nni.trial, "get_default_trial_command_channel", lambda: FakeChannel(mine))
    monkeypatch.setattr(nni.trial, "_params", None)
    monkeypatch.setenv("NNI_TRIAL_COMMAND_CHANNEL", rest_api)
    monkeypatch.setenv("NNI_TRIAL_JOB_ID", "unknownTrial")
    assert compat.next_trial_parameters(retries=2, delay_s=0.01) == {"a": "received"}


def test_quiet_nni_logging_survives_nni_import():
    code = ("import logging; from nni_effnas import compat; compat.quiet_nni_logging(); "
            "from nni_effnas.strategies import create_strategy; from nni_effnas.space import CategoricalSpace; "
            "s = create_strategy('nni_tpe', seed=0); s.setup(CategoricalSpace.from_dict({'a': [1, 2]})); "
            "[s.tell(x, 1.0) for x in [s.ask(), s.ask()]]")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Using random seed" not in out.stdout + out.stderr
    # the failure it prevents: the same calls without it log every step
    noisy = subprocess.run([sys.executable, "-c", code.replace("compat.quiet_nni_logging(); ", "")],
                           capture_output=True, text=True)
    assert "Using random seed" in noisy.stdout + noisy.stderr

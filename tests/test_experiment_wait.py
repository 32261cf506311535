"""experiment.wait: when an nnictl experiment counts as over (no NNI server needed: the REST calls are faked)."""
from __future__ import annotations

import pytest

from nni_effnas import experiment


def _fake(monkeypatch, polls):
    """Each poll: (experiment status, [trial statuses]); the last poll repeats."""
    seen = []

    def status(port):
        seen.append(len(seen))
        return polls[min(len(seen) - 1, len(polls) - 1)][0]

    def rest(port, path):
        assert path == "trial-jobs"
        return [{"status": s} for s in polls[min(len(seen) - 1, len(polls) - 1)][1]]

    monkeypatch.setattr(experiment, "status", status)
    monkeypatch.setattr(experiment, "rest", rest)
    return seen


def test_the_last_trial_submitted_after_no_more_trial_is_waited_for(monkeypatch):
    """The tuner's last sample and NO_MORE_TRIAL arrive together; NNI lists the trial a moment later."""
    seen = _fake(monkeypatch, [("TUNER_NO_MORE_TRIAL", ["SUCCEEDED"]),
                               ("TUNER_NO_MORE_TRIAL", ["SUCCEEDED", "WAITING"]),
                               ("TUNER_NO_MORE_TRIAL", ["SUCCEEDED", "RUNNING"]),
                               ("TUNER_NO_MORE_TRIAL", ["SUCCEEDED", "SUCCEEDED"])])
    assert experiment.wait(1, poll_s=0, progress=False) == "TUNER_NO_MORE_TRIAL"
    assert len(seen) == 5  # two idle polls in a row with the same trials after the last one ran


def test_a_terminal_status_ends_the_wait_at_once_and_a_running_one_times_out(monkeypatch):
    seen = _fake(monkeypatch, [("DONE", ["SUCCEEDED", "RUNNING"])])
    assert experiment.wait(1, poll_s=0, progress=False) == "DONE" and len(seen) == 1
    _fake(monkeypatch, [("RUNNING", ["RUNNING"])])
    with pytest.raises(TimeoutError, match="still running"):
        experiment.wait(1, timeout_s=0.05, poll_s=0.01, progress=False)


def test_a_demo_that_outlasts_its_timeout_says_how_to_stop_it(monkeypatch, capsys):
    """No traceback: the experiment goes on in the background and the message says where and how to stop it."""
    monkeypatch.setattr("nni_effnas.register.register", lambda quiet: None)
    monkeypatch.setattr(experiment, "free_port", lambda port: port)
    monkeypatch.setattr(experiment, "create", lambda config, port: "exp123")
    _fake(monkeypatch, [("RUNNING", ["RUNNING"])])
    assert experiment.demo(port=8123, timeout_s=0.01) == 1
    err = capsys.readouterr().err
    assert "still running after 0 s" in err and "nnictl stop exp123" in err and "http://localhost:8123" in err

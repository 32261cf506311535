"""The `train` evaluator on a real NB201 network: the acceptance check of the foundation issue."""
import json

import pytest

from nni_effnas.nb201 import load_table
from nni_effnas.trials import main as trial_main

CONV_HEAVY = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_conv_heavy_cell_learns_digits_in_3_epochs(tmp_path, capsys):
    code = trial_main.main(["--space", "nb201", "--arch", CONV_HEAVY, "--evaluator", "train", "--dataset", "digits",
                            "--epochs", "3", "--out-dir", str(tmp_path)])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["val_acc"] >= 90.0
    assert metrics["default"] == metrics["val_acc"]
    assert metrics["arch"] == CONV_HEAVY
    assert (tmp_path / "model.pt").is_file()
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))


def test_train_reports_every_epoch_under_nni(tmp_path, monkeypatch):
    import nni

    reports = []
    monkeypatch.setattr(nni, "get_trial_id", lambda: "T")
    monkeypatch.setattr(nni, "get_next_parameter", lambda: load_table().sample(6111))
    monkeypatch.setattr(nni, "report_intermediate_result", reports.append)
    final = []
    monkeypatch.setattr(nni, "report_final_result", final.append)
    assert trial_main.main(["--evaluator", "train", "--dataset", "digits", "--epochs", "2", "--channels", "8",
                            "--limit", "400", "--out-dir", str(tmp_path)]) == 0
    assert [r["epoch"] for r in reports] == [1, 2]
    assert final[0]["default"] == pytest.approx(reports[-1]["default"])
    assert final[0]["sample"] == load_table().sample(6111)

"""``nni-effnas pareto``: the front of an NNI experiment database, an nnictl export or a search checkpoint."""
import json
import sqlite3

import pytest

from nni_effnas import pareto_export
from nni_effnas.cli import main

RESULTS = {"a": (90.0, 10.0), "b": (85.0, 5.0), "c": (80.0, 8.0), "d": (95.0, 20.0)}  # c is dominated by b


def make_experiment(root, exp_id="exp1"):
    db = root / exp_id / "db"
    db.mkdir(parents=True)
    con = sqlite3.connect(db / "nni.sqlite")
    con.execute("CREATE TABLE TrialJobEvent (timestamp integer, trialJobId text, event text, data text, logPath text,"
                " sequenceId integer, message text, environmentId text)")
    con.execute("CREATE TABLE MetricData (timestamp integer, trialJobId text, parameterId text, type text,"
                " sequence integer, data text)")
    for i, (trial, (acc, lat)) in enumerate(RESULTS.items()):
        con.execute("INSERT INTO TrialJobEvent VALUES (0, ?, 'RUNNING', ?, '', 0, '', '')",
                    (trial, json.dumps({"parameter_id": i, "parameters": {"op": trial}})))
        final = json.dumps(json.dumps({"default": acc, "latency_ms": lat}))  # NNI stores a JSON string of JSON
        con.execute("INSERT INTO MetricData VALUES (0, ?, ?, 'FINAL', 0, ?)", (trial, str(i), final))
    con.execute("INSERT INTO MetricData VALUES (0, 'e', '9', 'FINAL', 0, ?)", (json.dumps("55.0"),))  # no latency
    con.commit()
    con.close()


def test_front_from_an_experiment_database(tmp_path):
    make_experiment(tmp_path)
    trials = pareto_export.load_trials("exp1", experiment_dir=tmp_path)
    assert len(trials) == 5
    report = pareto_export.front_report(trials, cost_metric="latency_ms")
    assert [p["id"] for p in report["front"]] == ["b", "a", "d"] and report["skipped"] == 1
    assert report["front"][0]["parameters"] == {"op": "b"}
    assert report["reference"] == [80.0, 20.0]
    # by hand: b covers cost 5..20 at 85-80, a adds 10..20 at 90-85, d nothing (at the reference cost)
    assert report["hypervolume"] == pytest.approx(5 * 15 + 5 * 10)
    fixed = pareto_export.front_report(trials, cost_metric="latency_ms", reference=(70.0, 30.0))
    assert fixed["hypervolume"] == pytest.approx(15 * 25 + 5 * 20 + 5 * 10)


def test_front_from_an_nnictl_export_and_a_checkpoint(tmp_path):
    export = [{"trialJobId": t, "parameter": {"op": t}, "value": json.dumps({"default": a, "latency_ms": c})}
              for t, (a, c) in RESULTS.items()]
    (tmp_path / "export.json").write_text(json.dumps(export))
    report = pareto_export.front_report(pareto_export.load_trials(tmp_path / "export.json"), cost_metric="latency_ms")
    assert [p["id"] for p in report["front"]] == ["b", "a", "d"]

    from nni_effnas.api import search

    ckpt = tmp_path / "run.json"
    search(strategy="random", evaluator="benchmark", evaluator_args={"dataset": "cifar10", "device": "fpga"},
           max_trials=6, seed=0, checkpoint=ckpt)
    trials = pareto_export.load_trials(ckpt)
    assert len(trials) == 6
    report = pareto_export.front_report(trials, cost_metric="latency_fpga_ms")
    assert 1 <= len(report["front"]) <= 6 and report["hypervolume"] >= 0


def test_cli_writes_the_front_and_names_bad_input(tmp_path, capsys):
    make_experiment(tmp_path)
    out = tmp_path / "front.json"
    assert main(["pareto", "exp1", "--experiment-dir", str(tmp_path), "--json", str(out),
                 "--plot", str(tmp_path / "front.png")]) == 0
    assert [p["id"] for p in json.loads(out.read_text())["front"]] == ["b", "a", "d"]
    assert (tmp_path / "front.png").stat().st_size > 5000
    assert main(["pareto", "nope", "--experiment-dir", str(tmp_path)]) == 2
    assert "no NNI experiment 'nope'" in capsys.readouterr().err
    assert main(["pareto", "exp1", "--experiment-dir", str(tmp_path), "--cost-metric", "flops"]) == 2
    assert "no trial reports both 'default' and 'flops' as numbers; the trials report: default, latency_ms" in capsys.readouterr().err
    assert main(["pareto", "exp1", "--experiment-dir", str(tmp_path), "--reference", "x"]) == 2
    assert "--reference must be ACCURACY,COST" in capsys.readouterr().err
    assert main(["pareto", "exp1", "--experiment-dir", str(tmp_path), "--reference", "nan,3"]) == 2
    assert "--reference must be ACCURACY,COST (two numbers), got 'nan,3'" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{")
    assert main(["pareto", str(tmp_path / "bad.json")]) == 2
    assert "is not JSON" in capsys.readouterr().err


@pytest.mark.parametrize("content, expected", [
    ("[1, 2, 3]", "record 0 is int; expected objects with 'parameter' and 'value' (an nnictl export)"),
    ('{"trials": "abc"}', "'trials' is str; expected the list of a search checkpoint"),
    ('{"trials": [3]}', "trial 0 is int; expected an object of a search checkpoint"),
    ('{"trials": [{"status": "SUCCEEDED", "sample": {}, "reward": 1}]}', "trial 0 has no number; expected the number"),
    ('{"trials": [{"number": 0, "status": "SUCCEEDED", "sample": {}, "reward": 1, "metrics": 5}]}',
     "trial 0 has metrics 5; expected an object of metric -> value"),
    (b'[{"value": "\xff"}]', "is not UTF-8 text; expected an nnictl export or a search checkpoint (JSON)"),
])
def test_malformed_files_are_named(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError) as info:
        pareto_export.load_trials(path)
    assert str(path) in str(info.value) and expected in str(info.value) and "\n" not in str(info.value)
    assert main(["pareto", str(path)]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("content, reason", [(b"not a database " * 100, "file is not a database"),
                                             (b"", "no such table: MetricData")])
def test_unreadable_experiment_database_is_named(tmp_path, content, reason):
    database = tmp_path / "exp1" / "db" / "nni.sqlite"
    database.parent.mkdir(parents=True)
    database.write_bytes(content)
    with pytest.raises(ValueError) as info:
        pareto_export.load_trials("exp1", experiment_dir=tmp_path)
    assert str(info.value) == (f"{database} is not a readable NNI experiment database ({reason}); expected the "
                               "nni.sqlite of an NNI experiment")

import json
import math

import nni
import pytest

from nni_effnas import nni_tuner
from nni_effnas.nni_tuner import StrategyTuner, builtin_name, extract_reward, tuner_class


def make(space, strategy="regularized_evolution", **kwargs):
    tuner = StrategyTuner(strategy=strategy, seed=0, **kwargs)
    tuner.update_search_space(space.to_nni())
    return tuner


def score(p):
    return float(p["a"]) + (p["b"] == "z")


def test_registered_tuner_classes_are_importable_by_name():
    cls = nni_tuner.EffnasRegularizedEvolution
    assert cls is tuner_class("evolution")
    assert issubclass(cls, nni.tuner.Tuner)
    assert builtin_name("random") == "EffnasRandom"
    with pytest.raises(AttributeError):
        nni_tuner.EffnasDoesNotExist


def test_generate_and_receive_metric_dicts(toy_space):
    tuner = make(toy_space, population_size=3, sample_size=2)
    seen = []
    for pid in range(12):
        p = tuner.generate_parameters(pid)
        assert toy_space.validate(p) == p
        seen.append(toy_space.key(p))
        tuner.receive_trial_result(pid, p, {"default": score(p), "test_acc": 1.0})
        tuner.trial_end(pid, True)
    assert len(seen) == len(set(seen)), "an evaluated architecture was proposed again"
    assert len(tuner.strategy.population) == 3


def test_state_is_keyed_on_the_metric_parameter_id(toy_space):
    tuner = make(toy_space, strategy="random")
    p0, p1 = tuner.generate_parameters(0), tuner.generate_parameters(1)
    tuner.receive_trial_result(1, p1, {"default": 5.0})  # results arrive out of order
    tuner.receive_trial_result(0, p0, {"default": 1.0})
    assert tuner.results[toy_space.key(p0)] == 1.0
    assert tuner.results[toy_space.key(p1)] == 5.0
    assert tuner.pending == {}


def test_echoed_sample_wins_over_a_mixed_up_parameter_id(toy_space):
    tuner = make(toy_space, strategy="random")
    p0 = tuner.generate_parameters(0)
    other = {"a": 3, "b": "z", "c": False}
    tuner.receive_trial_result(0, p0, {"default": 9.0, "sample": other})
    assert tuner.results[toy_space.key(other)] == 9.0


def test_failed_trial_is_told_and_search_continues(toy_space):
    tuner = make(toy_space, population_size=2, sample_size=1)
    tuner.generate_parameters(0)
    tuner.trial_end(0, False)
    assert tuner.pending == {}
    assert len(tuner.strategy.population) == 0
    assert toy_space.validate(tuner.generate_parameters(1))


def test_nan_metric_counts_as_failed(toy_space):
    assert extract_reward({"default": math.nan})[0] is None
    assert extract_reward(3)[0] == 3.0
    assert extract_reward({"default": 2.0}, minimize=True)[0] == -2.0


def test_import_data_prevents_re_evaluation(toy_space):
    """nnictl resume replays finished trials; none of them is proposed again."""
    first = make(toy_space, strategy="random")
    history = []
    for pid in range(15):
        p = first.generate_parameters(pid)
        first.receive_trial_result(pid, p, {"default": score(p)})
        history.append({"parameter": p, "value": {"default": score(p)}})
    resumed = StrategyTuner(strategy="random", seed=123)
    resumed.import_data(history)  # before the search space, as NNI may do
    resumed.update_search_space(toy_space.to_nni())
    done = {toy_space.key(h["parameter"]) for h in history}
    new = []
    for pid in range(100, 109):
        p = resumed.generate_parameters(pid)
        new.append(toy_space.key(p))
        resumed.receive_trial_result(pid, p, {"default": score(p)})
    assert not done & set(new)
    assert len(done | set(new)) == 24
    with pytest.raises(nni.NoMoreTrialError):
        resumed.generate_parameters(999)


def test_import_data_rebuilds_evolution_population(toy_space):
    tuner = StrategyTuner(strategy="regularized_evolution", seed=0, population_size=4, sample_size=2)
    tuner.update_search_space(toy_space.to_nni())
    data = [{"parameter": {"a": a, "b": "x", "c": True}, "value": {"default": float(a)}} for a in range(4)]
    data.append({"parameter": {"a": 99, "b": "x", "c": True}, "value": 1.0})  # outside the space: skipped
    tuner.import_data(data)
    assert sorted(r for _, r in tuner.strategy.population) == [0.0, 1.0, 2.0, 3.0]


def test_bad_class_args():
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        StrategyTuner(strategy="nope")
    with pytest.raises(ValueError, match="optimize_mode 'up'"):
        StrategyTuner(strategy="random", optimize_mode="up")
    with pytest.raises(ValueError, match="needs classArgs.strategy"):
        StrategyTuner()


def test_checkpoint_restores_strategy_and_in_flight_samples(toy_space, tmp_path, monkeypatch):
    """nnictl resume: NNI re-runs the trials in flight at the stop itself; the tuner must not propose them again."""
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    first = make(toy_space, population_size=4, sample_size=2)
    finished = []
    for pid in range(6):
        p = first.generate_parameters(pid)
        first.receive_trial_result(pid, p, {"default": score(p)})
        finished.append({"parameter": p, "value": {"default": score(p)}})
    in_flight = [first.generate_parameters(pid) for pid in (6, 7)]  # running when the experiment stops
    population = list(first.strategy.population)
    assert (tmp_path / "effnas_tuner.json").is_file()

    resumed = StrategyTuner(strategy="regularized_evolution", seed=0, population_size=4, sample_size=2)
    resumed.load_checkpoint()
    resumed.update_search_space(toy_space.to_nni())
    resumed.import_data(finished)  # NNI replays finished trials: already known, not told twice
    assert list(resumed.strategy.population) == population
    keys_in_flight = {toy_space.key(p) for p in in_flight}
    new = [resumed.generate_parameters(pid) for pid in range(8, 12)]  # NNI continues after submitted id 7
    assert not keys_in_flight & {toy_space.key(p) for p in new}
    # the re-run of an in-flight trial reports through import_data and is then known
    resumed.import_data([{"parameter": in_flight[0], "value": {"default": 1.0}}])
    assert resumed.results[toy_space.key(in_flight[0])] == 1.0
    assert toy_space.key(in_flight[0]) not in resumed.resumed_in_flight


def test_unreadable_checkpoint_falls_back_to_import_data(toy_space, tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    (tmp_path / "effnas_tuner.json").write_text("{broken")
    tuner = StrategyTuner(strategy="random", seed=0)
    tuner.load_checkpoint()
    tuner.update_search_space(toy_space.to_nni())
    tuner.import_data([{"parameter": {"a": 1, "b": "x", "c": True}, "value": 2.0}])
    assert tuner.results == {toy_space.key({"a": 1, "b": "x", "c": True}): 2.0}


def test_generated_but_never_submitted_samples_are_free_again(toy_space, tmp_path, monkeypatch):
    """Parameters generated just before the stop but never submitted: NNI resumes numbering at their ids."""
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    first = make(toy_space, strategy="random")
    for pid in range(3):
        p = first.generate_parameters(pid)
        first.receive_trial_result(pid, p, {"default": 1.0})
    unsubmitted = first.generate_parameters(3)
    resumed = StrategyTuner(strategy="random", seed=0)
    resumed.load_checkpoint()
    resumed.update_search_space(toy_space.to_nni())
    assert toy_space.key(unsubmitted) in resumed.resumed_in_flight
    resumed.generate_parameters(3)  # NNI's next id after the 3 submitted ones
    assert resumed.resumed_in_flight == {}


@pytest.mark.parametrize("parameters", [{"lr": 0.1}, None, {"a": 9, "b": "x", "c": True}])
def test_result_with_parameters_outside_the_space_is_ignored_with_a_warning(toy_space, caplog, parameters):
    """A customised trial's parameters (or none): one warning naming the parameter id, and the search goes on."""
    tuner = make(toy_space, strategy="random")
    with caplog.at_level("WARNING", logger="nni_effnas.nni_tuner"):
        tuner.receive_trial_result(41, parameters, {"default": 1.0})
        tuner.trial_end(41, True)
    assert tuner.results == {}
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "parameter id 41" in caplog.text and "not a sample of the search space" in caplog.text
    p = tuner.generate_parameters(0)
    tuner.receive_trial_result(0, p, {"default": 2.0})
    assert tuner.results == {toy_space.key(p): 2.0}


def test_import_data_skips_malformed_records_and_imports_the_rest(toy_space, caplog):
    good = [{"parameter": {"a": a, "b": "x", "c": True}, "value": float(a)} for a in range(3)]
    data = [good[0], "garbage", 5, '{"__nni_type__": "path:nosuch.thing"}', {"parameter": good[1]["parameter"]},
            {"value": 1.0}, {"parameter": {"lr": 0.1}, "value": 1.0}, nni.dump(good[1]), good[2]]
    tuner = make(toy_space, strategy="random")
    with caplog.at_level("WARNING", logger="nni_effnas.nni_tuner"):
        tuner.import_data(data)
        tuner.import_data("{not json")
    assert tuner.results == {toy_space.key(g["parameter"]): g["value"] for g in good}
    skipped = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(skipped) == 7
    assert all(m.startswith("import_data: skipping") for m in skipped)
    assert "'garbage'" in skipped[0] and "skipping entry 5 (expected a dict" in skipped[1]


def checkpoint_of(toy_space, tmp_path, monkeypatch, strategy="random"):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    first = make(toy_space, strategy=strategy)
    for pid in range(3):
        p = first.generate_parameters(pid)
        first.receive_trial_result(pid, p, {"default": score(p)})
    return tmp_path / "effnas_tuner.json"


@pytest.mark.parametrize("written_by, resumed_by", [("random", "regularized_evolution"),
                                                    ("regularized_evolution", "reinforce")])
def test_checkpoint_of_another_strategy_is_refused(toy_space, tmp_path, monkeypatch, written_by, resumed_by):
    path = checkpoint_of(toy_space, tmp_path, monkeypatch, strategy=written_by)
    resumed = StrategyTuner(strategy=resumed_by, seed=0)
    message = f"tuner checkpoint {path} was written by strategy '{written_by}'; this tuner runs '{resumed_by}'"
    with pytest.raises(ValueError, match=message):
        resumed.load_checkpoint()
    resumed.update_search_space(toy_space.to_nni())
    assert resumed.results == {} and resumed.resumed_in_flight == {}


def test_checkpoint_of_the_same_strategy_under_an_alias_or_the_old_class_name_loads(toy_space, tmp_path,
                                                                                    monkeypatch):
    path = checkpoint_of(toy_space, tmp_path, monkeypatch, strategy="regularized_evolution")
    state = json.loads(path.read_text())
    assert state["strategy"] == "regularized_evolution"
    path.write_text(json.dumps({**state, "strategy": "RegularizedEvolution"}))  # as older tuners wrote it
    for tuner in (StrategyTuner(strategy="evolution", seed=0), nni_tuner.EffnasRegularizedEvolution(seed=0)):
        tuner.load_checkpoint()
        tuner.update_search_space(toy_space.to_nni())
        assert len(tuner.results) == 3


@pytest.mark.parametrize("edit, message", [
    (lambda s: {k: v for k, v in s.items() if k != "strategy_state"}, r"missing or malformed \['strategy_state'\]"),
    (lambda s: {"version": 1}, r"missing or malformed \['strategy', 'strategy_state', 'results', 'in_flight'\]"),
    (lambda s: {**s, "results": [1]}, r"missing or malformed \['results'\]"),
    (lambda s: [s], "holds a JSON list; expected a dict"),
])
def test_checkpoint_that_is_not_of_this_tuner_is_refused(toy_space, tmp_path, monkeypatch, edit, message):
    path = checkpoint_of(toy_space, tmp_path, monkeypatch)
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    resumed = StrategyTuner(strategy="random", seed=0)
    with pytest.raises(ValueError, match=f"tuner checkpoint {path} .*{message}"):
        resumed.load_checkpoint()
    resumed.update_search_space(toy_space.to_nni())
    assert resumed.results == {}


def test_checkpoint_that_does_not_fit_leaves_nothing_half_restored(toy_space, tmp_path, monkeypatch):
    path = checkpoint_of(toy_space, tmp_path, monkeypatch, strategy="regularized_evolution")
    state = json.loads(path.read_text())
    state["strategy_state"]["population"].append([{"a": 1, "b": "x", "c": True}, "not a reward"])
    path.write_text(json.dumps(state))
    fresh = make(toy_space, strategy="regularized_evolution").strategy.state_dict()
    resumed = StrategyTuner(strategy="regularized_evolution", seed=0)
    resumed.load_checkpoint()
    with pytest.raises(ValueError, match=f"tuner checkpoint {path} does not fit strategy 'regularized_evolution'"):
        resumed.update_search_space(toy_space.to_nni())
    assert resumed.results == {} and resumed.metrics == {} and resumed.resumed_in_flight == {}
    assert resumed.strategy.state_dict() == fresh  # its rng was loaded before the bad population: not kept

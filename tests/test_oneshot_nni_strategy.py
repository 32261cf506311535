"""EffnasOneShot under NNI 3.0's NasExperiment (sequential engine, raw format): the derived sample is the top model."""
import nni
import pytest
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.experiment import NasExperiment, NasExperimentConfig

from nni_effnas.oneshot.nni_strategy import EffnasOneShot
from nni_effnas.search_spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"channels": 4, "num_cells": 1}


def report_parameter_count(model):
    nni.report_final_result(float(sum(p.numel() for p in model.parameters())))


@pytest.mark.parametrize("method, method_args", [
    ("darts", None),
    ("p_darts", {"depths": [1, 2], "keep_ops": [3]}),  # its whole search: two progressive stages
])
def test_nas_experiment_exports_the_derived_sample(tmp_path, method, method_args):
    space = get_space("nb201")
    strategy = EffnasOneShot(space="nb201", method=method, seed=0, dataset="digits", epochs=1, batch_size=32,
                             model_kwargs=TINY, val_limit=200, method_args=method_args)
    config = NasExperimentConfig("sequential", "raw", "local")
    config.experiment_working_directory = str(tmp_path)
    exp = NasExperiment(space.model_space(in_channels=1, **TINY), FunctionalEvaluator(report_parameter_count),
                        strategy, config)
    try:
        exp.run()
    finally:
        exp.stop()  # NasExperiment.run leaves the experiment to atexit otherwise
    (top,) = exp.export_top_models(formatter="dict")
    assert top == strategy.result_.sample and set(top) == set(space.categorical().labels)
    stages = strategy.result_.extra.get("stages")
    assert stages is None if method == "darts" else [s["depth"] for s in stages] == [1, 2]
    (model,) = exp.export_top_models()
    assert model.metric > 0  # the evaluator scored the frozen derived model
    restored = EffnasOneShot(space="nb201")
    restored.load_state_dict(strategy.state_dict())
    assert restored.result_.sample == strategy.result_.sample


def test_model_space_with_other_labels_is_refused(tmp_path):
    config = NasExperimentConfig("sequential", "raw", "local")
    config.experiment_working_directory = str(tmp_path)
    darts_labels = EffnasOneShot(space="darts", epochs=1)
    exp = NasExperiment(get_space("nb201").model_space(**TINY), FunctionalEvaluator(report_parameter_count),
                        darts_labels, config)
    try:
        with pytest.raises(ValueError, match="searches"):
            exp.run()
    finally:
        exp.stop()  # start() failed inside NNI before its own stop; unregisters NNI's atexit hook

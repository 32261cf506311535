"""Our differentiable search as an NNI 3.0 strategy: :class:`EffnasOneShot`, for
``nni.nas.experiment.NasExperiment(model_space, evaluator, EffnasOneShot(...))``.

NNI's seams used: ``nni.nas.strategy.base.Strategy`` (``_initialize`` / ``_run`` / ``state_dict``), the
execution engine (``engine.submit_models`` / ``wait_models``) and ``ExecutableModelSpace.freeze``. ``_run`` runs
the method's whole search (:func:`nni_effnas.oneshot.search_oneshot`: P-DARTS's stages too) in the calling
process, freezes the experiment's model space with the derived sample and submits that one model to the engine,
where the experiment's evaluator scores it (e.g. trains it, or looks it up);
``NasExperiment.export_top_models(formatter="dict")`` then returns the derived sample.

Deviations from NNI's own one-shot strategies: the supernet is rebuilt from the registered space ``space`` with
``model_kwargs`` (the experiment's model space must have the same labels, checked in ``_initialize``), so the
searched weights are not those of the model instance handed to ``NasExperiment``; the evaluator scores the derived
architecture afterwards, it does not drive the supernet's training. Use an explicit
``NasExperimentConfig("sequential", "raw", "local")``: NNI's default config only recognises its own one-shot
strategies and would otherwise pick the training-service engine.
"""
from __future__ import annotations

from typing import Any, Mapping

from nni.nas.strategy import Strategy


from nni_effnas.oneshot.runner import OneShotResult, search_oneshot
from nni_effnas.search_spaces import get_space

__all__ = ["EffnasOneShot"]


class EffnasOneShot(Strategy):
    """One ``search_oneshot(space=space, method=method, seed=seed, **run_args)`` under NNI's NasExperiment.

    ``run_args`` are :func:`~nni_effnas.oneshot.run_oneshot`'s other keyword arguments (dataset, epochs,
    model_kwargs, ...).
    ``result_`` holds the :class:`OneShotResult` after the run (kept in ``state_dict``, so a resumed experiment
    does not search again).
    """

    def __init__(self, *, space: str = "nb201", method: str = "darts", seed: int = 0, **run_args: Any) -> None:
        super().__init__()
        self.space, self.method, self.seed = space, method, seed
        self.run_args = dict(run_args)
        self.result_: OneShotResult | None = None

    def extra_repr(self) -> str:
        return f"space={self.space!r}, method={self.method!r}, seed={self.seed}"

    def _initialize(self, model_space: Any, engine: Any) -> Any:
        expected = set(get_space(self.space).categorical().labels)
        labels = {str(label) for label in model_space.simplify()}
        if labels != expected:
            raise ValueError(f"the experiment's model space has labels {sorted(labels)}, but space {self.space!r} "
                             f"searches {sorted(expected)}")
        return model_space

    def _run(self) -> None:
        if self.result_ is None:
            self.result_ = search_oneshot(space=self.space, method=self.method, seed=self.seed, **self.run_args)
        model = self.model_space.freeze(dict(self.result_.sample))
        self.engine.submit_models(model)
        self.engine.wait_models(model)

    def state_dict(self) -> dict[str, Any]:
        return {"result": None if self.result_ is None else self.result_.to_dict()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        result = state_dict.get("result")
        self.result_ = None if result is None else OneShotResult(**result)

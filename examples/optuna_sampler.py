"""Our predictor-guided search as an Optuna sampler, in a study stored in a SQLite file, stopped and resumed.

    .venv/bin/python examples/optuna_sampler.py

The objective looks a NAS-Bench-201 cell up in the offline table (12-epoch validation accuracy on CIFAR-10, the
search signal of the NATS-Bench protocol); any objective over categorical parameters works the same way. The
second process-like step builds a new sampler on the same database: it is told the 15 earlier trials before its
first proposal, so its predictor starts from them and it proposes none of them again.
"""
import tempfile
from pathlib import Path

import optuna

from nni_effnas.nb201 import EDGE_LABELS, OPS
from nni_effnas.optuna_sampler import StrategySampler
from nni_effnas.tabular import TabularBenchmark

bench = TabularBenchmark.nb201("cifar10")


def objective(trial: optuna.Trial) -> float:
    cell = {edge: trial.suggest_categorical(edge, OPS) for edge in EDGE_LABELS}
    result = bench.evaluate(cell)
    trial.set_user_attr("test_acc_200ep", result["reported"])
    return result["default"]


optuna.logging.set_verbosity(optuna.logging.WARNING)
with tempfile.TemporaryDirectory() as tmp:
    storage = f"sqlite:///{Path(tmp) / 'nb201.db'}"
    first = StrategySampler("predictor_guided", seed=0)
    study = optuna.create_study(direction="maximize", sampler=first, storage=storage, study_name="nb201")
    study.optimize(objective, n_trials=15)
    print(f"first run: {len(study.trials)} trials, best validation accuracy {study.best_value:.2f}")

    # ... the process stops; later a new one continues the same study
    second = StrategySampler("predictor_guided", seed=1)
    resumed = optuna.load_study(study_name="nb201", storage=storage, sampler=second)
    resumed.optimize(objective, n_trials=10)
    cells = {tuple(sorted(t.params.items())) for t in resumed.trials}
    best = resumed.best_trial
    print(f"resumed: the sampler was told {second.n_told - 10} earlier trials; {len(resumed.trials)} trials, "
          f"{len(cells)} distinct cells")
    print(f"best cell: {'|'.join(best.params[e] for e in EDGE_LABELS)}")
    print(f"predictor_guided best: validation {best.value:.2f}, 200-epoch test {best.user_attrs['test_acc_200ep']:.2f} "
          f"(optimum {bench.optimum():.2f})")

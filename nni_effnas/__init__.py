"""nni-effnas: efficient neural architecture search as a plugin for Microsoft NNI.

Layout: ``nni_effnas`` holds what the parts share (spaces, the NAS-Bench-201 table, the search loop, the NNI
adapter and compat module, the CLI); ``nni_effnas.search_spaces``, ``nni_effnas.strategies`` and
``nni_effnas.trials`` hold the search spaces, the search strategies and the trial side (evaluators, configs).
"""
from nni_effnas import compat as _compat

_compat.apply()

__version__ = "0.1.0"

"""Tuning on held-out data: orders, estimators, settings and mixtures, chosen by held-out NLL.

One module per concern:

- ``statistics``: fold statistics (a training part and a held-out part reduced to arrays over the
  held-out positions, counted once);
- ``families``: each estimator family's held-out log-probabilities and their exact gradients;
- ``search``: the L-BFGS-B search per (estimator, order) and cross-fitted checks of its settings;
- ``splits``: the held-out data (validation file, held-out slice, folds);
- ``mixtures``: whether an order mixture or a two-direction whole-name mixture earns its place;
- ``pipeline``: ``tune`` itself (stages, choice, summary, refit on every name given) and ``build``.
"""

from .families import FAMILIES, addk_logprobs, position_logprobs
from .pipeline import DEFAULT_ORDERS, MIXTURE_ORDERS, TUNABLE, UNIT, TuningResult, build, tune
from .search import Fit, fit_family, fit_logprobs
from .splits import Split, make_splits
from .statistics import FoldStats, concat_folds, fold_stats

__all__ = [
    "FAMILIES", "addk_logprobs", "position_logprobs", "DEFAULT_ORDERS", "MIXTURE_ORDERS", "TUNABLE", "UNIT",
    "TuningResult", "build", "tune", "Fit", "fit_family", "fit_logprobs", "Split", "make_splits",
    "FoldStats", "concat_folds", "fold_stats",
]

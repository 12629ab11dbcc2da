"""The auto-tuned baseline: a search over tile sizes that compiles and runs each candidate.

Two searches share one contract, ``search_…(evaluate, depth, …) -> Tuning``, where
``evaluate(sizes)`` builds and runs the kernel tiled with ``sizes`` and returns its time
(``None`` if the build failed or its output was wrong):

* ``optuna``: Optuna's tree-structured Parzen estimator over the size of each band member,
  the way an auto-tuner is used in practice, with a budget of evaluations;
* ``exhaustive``: every combination of a short list of sizes, the ground truth for small
  kernels.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tiler.errors import TilerError

# The sizes the tuner picks from for each member: the powers of two up to 512 and every
# multiple of 8 up to 512 (a size at least the trip count leaves that loop in one tile).
LARGEST_SIZE = 512
TUNING_SIZES = tuple(sorted({1 << k for k in range(LARGEST_SIZE.bit_length())}
                            | set(range(8, LARGEST_SIZE + 1, 8))))
# The grid of ``exhaustive`` per member: 5 values, so 125 points for a 3-deep band.
EXHAUSTIVE_SIZES = (16, 32, 64, 128, 256)
# Random points Optuna's TPE draws before it starts modelling (its own default): at most
# half the budget, so that a small budget still gets a guided second half.
MAX_STARTUP_TRIALS = 10

Evaluate = Callable[[tuple[int, ...]], float | None]


@dataclass(frozen=True)
class Trial:
    """One evaluated point: the sizes and the time (``None``: failed or wrong output)."""

    sizes: tuple[int, ...]
    seconds: float | None


@dataclass(frozen=True)
class Tuning:
    """The outcome of a search.

    Attributes:
        method: ``optuna`` or ``exhaustive``.
        library: the library and version that drove the search, and its settings.
        trials: every evaluation in order.
        wall_s: the wall time of the whole search, tiling, compiling and running included.
    """

    method: str
    library: str
    trials: tuple[Trial, ...]
    wall_s: float

    @property
    def best(self) -> Trial | None:
        """Return the fastest trial with a time, or ``None`` if none succeeded."""
        timed = [trial for trial in self.trials if trial.seconds is not None]
        return min(timed, key=lambda trial: trial.seconds) if timed else None


def search_optuna(evaluate: Evaluate, depth: int, budget: int, seed: int = 0,
                  sizes: Sequence[int] = TUNING_SIZES) -> Tuning:
    """Return the trials of Optuna's TPE sampler minimising the time over ``budget`` points.

    Each member's size is drawn as an index into the sorted ``sizes``: TPE models an integer
    as ordered, so what it learns about 32 carries over to 40, which a categorical choice
    would not. Raises ``TilerError`` when Optuna is not installed.
    """
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    startup = max(1, min(MAX_STARTUP_TRIALS, budget // 2))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    values = sorted(set(sizes))
    started = time.perf_counter()
    trials = []
    for _ in range(budget):
        trial = study.ask()
        point = tuple(values[trial.suggest_int(f"member{k}", 0, len(values) - 1)]
                      for k in range(depth))
        seconds = evaluate(point)
        trials.append(Trial(point, seconds))
        if seconds is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, seconds)
    return Tuning("optuna", f"optuna {optuna.__version__} TPE (seed {seed}, "
                  f"{startup} random start points)", tuple(trials),
                  time.perf_counter() - started)


def search_exhaustive(evaluate: Evaluate, depth: int,
                      sizes: Sequence[int] = EXHAUSTIVE_SIZES) -> Tuning:
    """Return the trials of every combination of ``sizes`` over ``depth`` members."""
    started = time.perf_counter()
    trials = tuple(Trial(point, evaluate(point))
                   for point in itertools.product(sorted(set(sizes)), repeat=depth))
    return Tuning("exhaustive", f"grid of {','.join(map(str, sorted(set(sizes))))} per member",
                  trials, time.perf_counter() - started)


def exhaustive_points(depth: int, sizes: Sequence[int] = EXHAUSTIVE_SIZES) -> int:
    """Return the number of points ``search_exhaustive`` evaluates."""
    return len(set(sizes)) ** depth


def import_optuna():
    """Return the ``optuna`` module; raise ``TilerError`` saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise TilerError("the autotuned baseline needs Optuna: pip install 'tiler[bench]' "
                         "(or use --autotune exhaustive or --autotune none)") from None
    return optuna

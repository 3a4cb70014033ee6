"""Intervals and tests, from statsmodels and scipy (the optional `stats` extra), never hand-rolled.

Backtests and pilots need them; the funnel report does not, so a plain install works without
them and only `--baseline` and `--pilot` ask for the extra.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

from connector.report.facts import ReportError

CONFIDENCE = 0.95
POWER = 0.8  # how likely a real difference of the size observed is found significant
RESAMPLES = 2000


class StatsMissing(ReportError):
    """The statistics libraries are not installed (exit 2, with the command that adds them)."""


def _need():
    try:
        import statsmodels.stats.proportion as proportion  # type: ignore[import-untyped]
        import statsmodels.stats.power as power  # type: ignore[import-untyped]
        import scipy.stats as scipy_stats  # type: ignore[import-untyped]
    except ImportError:
        raise StatsMissing("backtests and pilots need the statistics libraries (statsmodels and scipy): "
                           "pip install 'revsync[stats]', then run the report again") from None
    return proportion, power, scipy_stats


def _num(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else round(value, 4)


@dataclass(frozen=True)
class Share:
    """k of n, with its 95% Wilson interval."""

    k: int
    n: int
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        return round(self.k / self.n, 4) if self.n else None

    def asdict(self) -> dict:
        return {"count": self.k, "of": self.n, "rate": self.value, "low": self.low, "high": self.high}


def wilson(k: int, n: int) -> Share:
    if n == 0:
        return Share(k, n, None, None)
    proportion, _, _ = _need()
    low, high = proportion.proportion_confint(k, n, alpha=1 - CONFIDENCE, method="wilson")
    return Share(k, n, _num(low), _num(high))


def bootstrap_ratio(amounts: Sequence[float], picked: Sequence[bool]) -> tuple[float | None, float | None]:
    """95% percentile-bootstrap interval of sum(amounts where picked) / sum(amounts), resampling
    the amounts (seeded: the same data give the same interval)."""
    if len(amounts) < 2 or not sum(amounts):
        return None, None
    _, _, scipy_stats = _need()
    import numpy as np
    a = np.asarray(amounts, dtype=float)
    p = np.asarray(picked, dtype=float)

    def share(x, y, axis=-1):
        total = x.sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (x * y).sum(axis=axis) / total, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate sample (every amount picked) is no error here
        result = scipy_stats.bootstrap((a, p), share, paired=True, vectorized=True, n_resamples=RESAMPLES,
                                       confidence_level=CONFIDENCE, method="percentile",
                                       rng=np.random.default_rng(0))
    return _num(result.confidence_interval.low), _num(result.confidence_interval.high)


def bootstrap_mean(values: Sequence[float]) -> tuple[float | None, float | None]:
    """95% percentile-bootstrap interval of a mean (seeded)."""
    if len(values) < 2:
        return None, None
    _, _, scipy_stats = _need()
    import numpy as np
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy_stats.bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=RESAMPLES,
                                       confidence_level=CONFIDENCE, method="percentile",
                                       rng=np.random.default_rng(0))
    return _num(result.confidence_interval.low), _num(result.confidence_interval.high)


@dataclass(frozen=True)
class Difference:
    """Arm a against arm b: the difference of their rates with its 95% (Newcombe) interval, the
    score test's p-value, and the records each arm needs to find a difference this large
    significant with 80% power (None when the rates are equal: no size would)."""

    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    needed_a: int | None
    needed_b: int | None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 1 - CONFIDENCE

    def asdict(self, a: Share, b: Share) -> dict:
        more = 0 if self.significant else None
        if not self.significant and self.needed_a is not None and self.needed_b is not None:
            more = max(0, self.needed_a - a.n) + max(0, self.needed_b - b.n)
        return {"difference": self.diff, "low": self.low, "high": self.high, "p_value": self.p_value,
                "significant": self.significant, "needed_per_arm": [self.needed_a, self.needed_b],
                "more_records_needed": more}


def compare(a: Share, b: Share) -> Difference:
    if not a.n or not b.n:
        return Difference(None, None, None, None, None, None)
    proportion, power, _ = _need()
    pa, pb = a.k / a.n, b.k / b.n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        low, high = proportion.confint_proportions_2indep(a.k, a.n, b.k, b.n, method="newcomb", compare="diff",
                                                          alpha=1 - CONFIDENCE)
        p_value = None
        if 0 < a.k + b.k < a.n + b.n:  # all or none positive in both arms: nothing to test
            p_value = _num(proportion.test_proportions_2indep(a.k, a.n, b.k, b.n, method="score",
                                                              compare="diff").pvalue)
        needed_a = needed_b = None
        effect = proportion.proportion_effectsize(pa, pb)
        if effect:
            ratio = b.n / a.n
            n_a = float(power.NormalIndPower().solve_power(effect_size=abs(effect), alpha=1 - CONFIDENCE,
                                                           power=POWER, ratio=ratio))
            if math.isfinite(n_a):  # the solver gives up on differences so large that any size shows them
                needed_a, needed_b = math.ceil(n_a), math.ceil(n_a * ratio)
    return Difference(round(pa - pb, 4), _num(low), _num(high), p_value, needed_a, needed_b)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The two-sided Mann-Whitney U p-value of two samples (None when either is empty)."""
    if not a or not b:
        return None
    _, _, scipy_stats = _need()
    return _num(scipy_stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)

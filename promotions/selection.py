"""Selection-adjusted statistics for the candidates of one run (pure; numpy only).

A run's candidates are the trials of one search, so the best of them looks better than it is.
Two corrections, both computed from the stored folds of every candidate of the run:

* **Deflated Sharpe ratio** (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014): the
  probability that the candidate's true Sharpe ratio exceeds the best one expected among ``N``
  unskilled trials. The "returns" are the candidate's fold net P&L values (one per test fold, so
  the Sharpe ratio is per fold, not annualised); ``N`` is the number of candidates in the run and
  ``V`` the variance of their per-fold Sharpe ratios::

      SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))      g = Euler-Mascheroni
      DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2))

  with ``T`` folds and the skewness and (non-excess) kurtosis of the candidate's fold P&L.

* **Probability of backtest overfitting** (Bailey, Borwein, López de Prado & Zhu, 2017),
  combinatorially symmetric cross-validation over the folds x candidates matrix of net P&L: the
  folds are cut into ``S`` equal, contiguous groups; for every way of choosing ``S/2`` groups as
  in-sample, the candidate with the best in-sample mean P&L is ranked among all candidates
  out-of-sample; PBO is the share of splits in which it ranks at or below the median (logit <= 0).

Both return ``None`` with a reason when the run holds too few candidates or folds to judge:
the gate then says ``inconclusive``, never ``pass``.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
_Z = NormalDist()


@dataclass(frozen=True)
class Verdict:
    value: float | None
    reason: str = ""
    detail: dict | None = None


def fold_sharpe(pnl: np.ndarray) -> float:
    """Mean over sample standard deviation of per-fold P&L; 0 when undefined."""
    if pnl.size < 2:
        return 0.0
    sd = float(pnl.std(ddof=1))
    return float(pnl.mean()) / sd if sd > 0 else 0.0


def expected_max_sharpe(*, trials: int, variance: float) -> float:
    """The best Sharpe ratio expected among ``trials`` unskilled strategies (SR0)."""
    if trials < 2 or variance <= 0:
        return 0.0
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * _Z.inv_cdf(1 - 1 / trials)
                                  + EULER_GAMMA * _Z.inv_cdf(1 - 1 / (trials * math.e)))


def deflated_sharpe(matrix: np.ndarray, column: int, *, min_candidates: int, min_folds: int) -> Verdict:
    """DSR of candidate ``column`` of a folds x candidates P&L matrix."""
    folds, candidates = matrix.shape
    if candidates < min_candidates:
        return Verdict(None, f"{candidates} candidate(s) in the run; at least {min_candidates} are needed to judge "
                             "selection bias")
    if folds < min_folds:
        return Verdict(None, f"{folds} common fold(s); at least {min_folds} are needed")
    sharpes = np.array([fold_sharpe(matrix[:, j]) for j in range(candidates)])
    variance = float(sharpes.var(ddof=1))
    sr0 = expected_max_sharpe(trials=candidates, variance=variance)
    pnl = matrix[:, column]
    sr = float(sharpes[column])
    sd = float(pnl.std(ddof=0))
    if sd == 0:
        return Verdict(None, "the candidate's fold P&L does not vary; its Sharpe ratio is undefined")
    z = (pnl - pnl.mean()) / sd
    skew = float((z ** 3).mean())
    kurt = float((z ** 4).mean())
    denominator = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    if denominator <= 0:
        return Verdict(None, "the fold P&L's higher moments leave the Sharpe ratio's variance undefined")
    dsr = _Z.cdf((sr - sr0) * math.sqrt(folds - 1) / math.sqrt(denominator))
    return Verdict(dsr, detail={"sharpe": sr, "expected_max_sharpe": sr0, "trials": candidates,
                                "sharpe_variance": variance, "folds": folds, "skew": skew, "kurtosis": kurt})


@functools.lru_cache(maxsize=8)
def _splits(groups: int) -> np.ndarray:
    """Every way of choosing half of ``groups`` as in-sample, one row each (a constant table)."""
    chosen = np.array(list(itertools.combinations(range(groups), groups // 2)))
    combos = np.zeros((len(chosen), groups))
    combos[np.arange(len(chosen))[:, None], chosen] = 1.0
    combos.setflags(write=False)
    return combos


def probability_of_backtest_overfitting(matrix: np.ndarray, *, partitions: int, min_candidates: int,
                                        min_folds: int) -> Verdict:
    """PBO by CSCV over a folds x candidates P&L matrix, with at most ``partitions`` groups."""
    folds, candidates = matrix.shape
    if candidates < min_candidates:
        return Verdict(None, f"{candidates} candidate(s) in the run; at least {min_candidates} are needed")
    groups = min(partitions, folds) // 2 * 2
    if folds < min_folds or groups < 4:
        return Verdict(None, f"{folds} common fold(s); at least {max(min_folds, 4)} are needed")
    size = folds // groups
    trimmed = matrix[folds - size * groups:]  # drop the oldest remainder rows
    group_sums = trimmed.reshape(groups, size, candidates).sum(axis=1)  # groups x candidates
    combos = _splits(groups)
    in_sample = combos @ group_sums            # splits x candidates (sums over equal-size groups)
    out_sample = group_sums.sum(axis=0) - in_sample
    best = in_sample.argmax(axis=1)
    oos_best = out_sample[np.arange(len(best)), best]
    # relative rank of the in-sample winner out of sample: 1..N (ties share the mean rank)
    below = (out_sample < oos_best[:, None]).sum(axis=1)
    ties = (out_sample == oos_best[:, None]).sum(axis=1)
    rank = below + (ties + 1) / 2
    omega = rank / (candidates + 1)
    logits = np.log(omega / (1 - omega))
    pbo = float((logits <= 0).mean())
    return Verdict(pbo, detail={"splits": int(len(combos)), "groups": groups, "folds_used": size * groups,
                                "median_logit": float(np.median(logits))})

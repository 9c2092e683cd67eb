"""One rule for "within noise" in every notebook: paired tests over seeds, Holm over the family.

The rule.  A difference between the two frameworks is claimed only when the paired test over
seeds, Holm-adjusted over all the comparisons made together (``compare_frameworks``: one row
per model), gives p < alpha (0.05).  Otherwise the verdict is "no detectable difference".
The mean difference and its confidence interval are reported either way, in the metric's
own units, so "no detectable difference" always comes with how large a difference the runs
could still hide.  ``docs/statistics.md`` says how to read it, and why five or more seeds.

Why paired.  A seed fixes the batches (their order and content): with the same seed both
frameworks see the same batches.  Whatever a seed does to a model's score - an easy or hard
batch order, a lucky start - it does to both frameworks alike, so the per-seed difference
``a - b`` cancels it.  An unpaired test would count that seed-to-seed spread as noise and
miss a small, steady framework difference; the paired test sees only the spread of the
differences.

What is here:

* ``paired_difference(a, b)``: mean of ``a - b`` over pairs, its t interval, the paired
  t-test's (or the Wilcoxon signed-rank test's) p-value and Cohen's d_z.
* ``bootstrap_ci(metric, scores, labels)``: percentile bootstrap over test videos (rows) of
  any metric of (N, C) arrays, e.g. ``yt8m_lib.evaluation.metrics.gap``;
  ``paired_bootstrap_ci`` does the same for the difference of two models on the same videos;
  ``gap_bootstrap_ci`` is the same for the GAP, fast (top-20 pairs sorted once, resamples as
  weights), also over the mean of several seeds and for a paired difference.
* ``holm(p_values)``: Holm-Bonferroni adjusted p-values.
* ``compare_frameworks(frame, metric=...)``: one row per model with the verdict.

The tests themselves are scipy's (``scipy.stats.ttest_rel`` and ``wilcoxon``); this module
adds the pairing, the checks, the degenerate cases and the rule.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

TESTS = ("t", "wilcoxon")
NO_DIFFERENCE = "no detectable difference"


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """The result of ``paired_difference`` (a frozen dataclass; ``dataclasses.asdict`` gives
    a dict).

    ``mean`` is the effect in the metric's own units: the mean of ``a - b`` over the pairs.
    ``ci_low``/``ci_high`` bound it (t interval at ``confidence``, whatever ``test`` is).
    ``sd`` is the standard deviation of the differences (ddof 1); ``d_z = mean / sd`` is the
    standardized effect (Cohen's d_z).  ``p_value`` comes from ``test`` ("t": paired t-test,
    "wilcoxon": Wilcoxon signed-rank, both two-sided).  ``note`` is empty unless something
    about the numbers needs saying (all differences equal).
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    sd: float
    d_z: float
    test: str
    confidence: float
    note: str = ""


class BootstrapInterval(NamedTuple):
    """``(estimate, ci_low, ci_high)``: the metric on all rows and its percentile interval.

    A named tuple, so both ``est, lo, hi = bootstrap_ci(...)`` and ``result.ci_low`` work.
    """

    estimate: float
    ci_low: float
    ci_high: float


# ------------------------------------------------------------------------------ checks


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return confidence


def _as_paired_arrays(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float)  # Series lose their index here: pairs are by position
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(
            f"a and b must be 1-D (one value per seed), got shapes {a.shape} and {b.shape}"
        )
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same length (one value per seed, paired), "
            f"got {a.size} and {b.size}"
        )
    if a.size < 2:
        raise ValueError(f"a paired comparison needs at least 2 pairs, got {a.size}")
    for name, values in (("a", a), ("b", b)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{name} has NaN or infinite values at positions {bad.tolist()}")
    return a, b


# ------------------------------------------------------------------------------ paired test


def paired_difference(a, b, *, confidence: float = 0.95, test: str = "t") -> PairedDifference:
    """Mean difference ``a - b`` over pairs (one pair per seed), its interval and p-value.

    ``a[i]`` and ``b[i]`` must come from the same seed (pairs are by position).  The interval
    is the t interval of the mean difference, ``mean ± t(n-1) * sd / sqrt(n)``; the p-value is
    the paired t-test's (``test="t"``) or the Wilcoxon signed-rank test's
    (``test="wilcoxon"``, scipy's defaults: zero differences dropped, exact distribution for
    small n without ties), two-sided.  Raises ``ValueError`` for different lengths, fewer than
    2 pairs, NaN or infinite values, an unknown test or a confidence outside (0, 1).

    All differences equal (sd 0, e.g. both frameworks bit-identical on every seed): the
    interval is the single point ``[mean, mean]``; with a zero mean, p = 1 and d_z = 0; with a
    nonzero mean the t-test's p is 0 and d_z is ±inf - the limit of an ever smaller noise,
    as scipy gives it - and the Wilcoxon p is scipy's (2 / 2**n for n equal signs).  The
    result's ``note`` says so: identical differences on different seeds usually mean the
    seed changed nothing, and then the n pairs are one run repeated, not n replicates.
    """
    confidence = _check_confidence(confidence)
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}: use one of {TESTS}")
    a, b = _as_paired_arrays(a, b)
    d = a - b
    n = d.size
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if np.all(d == d[0]):  # no spread at all (d.std may still be a rounding error above 0)
        sd = 0.0
        zero = mean == 0.0
        if test == "t":
            p_value = 1.0 if zero else 0.0
        else:
            p_value = 1.0 if zero else float(_scipy_stats.wilcoxon(d).pvalue)
        return PairedDifference(
            n=n,
            mean=mean,
            ci_low=mean,
            ci_high=mean,
            p_value=p_value,
            sd=0.0,
            d_z=0.0 if zero else math.copysign(math.inf, mean),
            test=test,
            confidence=confidence,
            note=(
                "all differences equal (sd 0): the interval is one point; check that the "
                "seeds really change the runs"
            ),
        )
    t_result = _scipy_stats.ttest_rel(a, b)
    interval = t_result.confidence_interval(confidence_level=confidence)
    if test == "t":
        p_value = float(t_result.pvalue)
    else:
        p_value = float(_scipy_stats.wilcoxon(d).pvalue)
    return PairedDifference(
        n=n,
        mean=mean,
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        p_value=p_value,
        sd=sd,
        d_z=mean / sd,
        test=test,
        confidence=confidence,
    )


# ------------------------------------------------------------------------------ bootstrap


def _percentile_bootstrap(
    statistic: Callable[[np.ndarray | None], float],
    num_rows: int,
    n_boot: int,
    seed: int,
    confidence: float,
) -> BootstrapInterval:
    """``statistic(rows)`` on all rows (``rows=None``) and on ``n_boot`` resamples of rows
    drawn with replacement by ``numpy.random.default_rng(seed)``, one resample at a time (so
    memory stays that of one resample); the percentile interval of the resampled values."""
    confidence = _check_confidence(confidence)
    if int(n_boot) != n_boot or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot}")
    if num_rows < 2:
        raise ValueError(f"a bootstrap over videos needs at least 2 rows, got {num_rows}")
    estimate = float(statistic(None))
    rng = np.random.default_rng(seed)
    replicates = np.empty(int(n_boot))
    for i in range(int(n_boot)):
        replicates[i] = statistic(rng.integers(0, num_rows, size=num_rows))
    bad = np.count_nonzero(~np.isfinite(replicates))
    if bad or not math.isfinite(estimate):
        raise ValueError(
            f"the metric gave NaN or infinite values ({bad} of {n_boot} "
            f"resamples, estimate {estimate})"
        )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return BootstrapInterval(estimate, float(low), float(high))


def _check_rows(labels, *scores) -> int:
    num_rows = np.shape(labels)[0] if np.ndim(labels) else 0
    for s in scores:
        if np.ndim(s) == 0 or np.shape(s)[0] != num_rows:
            raise ValueError(
                f"scores and labels must have the same number of rows (videos), "
                f"got {[np.shape(s) for s in scores]} and {np.shape(labels)}"
            )
    return num_rows


def bootstrap_ci(
    metric: Callable, scores, labels, *, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> BootstrapInterval:
    """Percentile bootstrap interval of ``metric(scores, labels)`` over test videos (rows).

    ``metric`` is any function of (N, C) arrays returning a number, e.g.
    ``yt8m_lib.evaluation.metrics.gap``.  Returns ``BootstrapInterval(estimate, ci_low,
    ci_high)``: the metric on all rows and the ``(1-confidence)/2`` and ``(1+confidence)/2``
    quantiles of the metric over ``n_boot`` resamples of rows with replacement.  The same
    ``seed`` gives the same resampled rows (and so the same interval) on every call, also for
    another model's scores of the same videos.  It measures the noise from which videos were
    tested, not from training (that is what seeds and ``paired_difference`` are for).
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    num_rows = _check_rows(labels, scores)

    def statistic(rows):
        if rows is None:
            return metric(scores, labels)
        return metric(scores[rows], labels[rows])

    return _percentile_bootstrap(statistic, num_rows, n_boot, seed, confidence)


def paired_bootstrap_ci(
    metric: Callable,
    scores_a,
    scores_b,
    labels,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Percentile bootstrap interval of ``metric(scores_a, labels) - metric(scores_b, labels)``.

    Two models scored on the same videos: each resample draws one set of rows and scores both
    models on it, so what the videos do to both cancels in the difference (as seeds do in
    ``paired_difference``).  Arguments and result as ``bootstrap_ci``.
    """
    scores_a = np.asarray(scores_a)
    scores_b = np.asarray(scores_b)
    labels = np.asarray(labels)
    num_rows = _check_rows(labels, scores_a, scores_b)
    if scores_a.shape != scores_b.shape:
        raise ValueError(
            f"scores_a and scores_b must have the same shape, got "
            f"{scores_a.shape} and {scores_b.shape}"
        )

    def statistic(rows):
        if rows is None:
            return metric(scores_a, labels) - metric(scores_b, labels)
        y = labels[rows]
        return metric(scores_a[rows], y) - metric(scores_b[rows], y)

    return _percentile_bootstrap(statistic, num_rows, n_boot, seed, confidence)


# ------------------------------------------------------------------- GAP over test videos
#
# ``bootstrap_ci(metrics.gap, ...)`` recomputes the GAP of every resample from (N, C) arrays:
# about 0.3 s for the 2,849 real test videos x 3,862 classes, so 1,000 resamples of ten runs
# take most of an hour. GAP only reads each video's top-20 pairs, so the pairs are sorted
# once per run and a resample becomes a weight per video (how often it was drawn): the
# same rows as ``bootstrap_ci`` with the same seed, the same value (copies of a pair are
# counted one after another, as a stable sort of the resampled rows places them), in
# milliseconds.


def _gap_pairs(scores, labels, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """(video of each pooled top-k pair, hit of each pair), sorted as GAP ranks them."""
    from yt8m_lib.evaluation.ranking import top_k_sorted

    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape != labels.shape:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be equal (N, C)")
    top = top_k_sorted(scores, top_k)
    rows = np.arange(scores.shape[0])[:, None]
    pooled = scores[rows, top].astype(np.float64).ravel()
    order = np.argsort(-pooled, kind="stable")
    videos = np.repeat(np.arange(scores.shape[0]), top.shape[1])
    return videos[order], (labels[rows, top] > 0).ravel()[order]


def _weighted_gap(pairs, positives: np.ndarray, weights: np.ndarray) -> float:
    """GAP of the set in which video v appears ``weights[v]`` times."""
    videos, hits = pairs
    w = weights[videos]
    before_w = np.cumsum(w) - w  # pairs ranked above this pair's first copy
    before_h = np.cumsum(w * hits) - w * hits
    total = 0.0
    for copy in range(1, int(w.max(initial=0)) + 1):  # the copy-th copy of each pair
        at = hits & (w >= copy)
        total += float(np.sum((before_h[at] + copy) / (before_w[at] + copy)))
    num_positives = float(np.dot(weights, positives))
    return total / num_positives if num_positives else 0.0


def _runs(scores) -> list:
    """One (N, C) array, or a list of them (seeds of one model): always a list."""
    return list(scores) if isinstance(scores, (list, tuple)) else [scores]


def gap_bootstrap_ci(
    scores,
    labels,
    *,
    scores_b=None,
    top_k: int = 20,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Percentile bootstrap interval over test videos of the GAP@``top_k``, fast.

    ``scores``: one (N, C) array, or a list of them (the seeds of one model: the statistic is
    their mean GAP, every seed scored on the same resampled videos).  With ``scores_b`` (the
    same shapes, another model on the same videos) the statistic is the difference of the
    mean GAPs, a - b: the paired bootstrap.  Equal to ``bootstrap_ci(metrics.gap, ...)`` /
    ``paired_bootstrap_ci`` with the same seed, up to the order of pairs whose scores tie
    across videos.
    """
    labels = np.asarray(labels)
    a = [_gap_pairs(s, labels, top_k) for s in _runs(scores)]
    b = [] if scores_b is None else [_gap_pairs(s, labels, top_k) for s in _runs(scores_b)]
    positives = np.count_nonzero(labels, axis=1).astype(np.float64)
    num_rows = labels.shape[0]

    def statistic(rows):
        weights = np.ones(num_rows) if rows is None else np.bincount(rows, minlength=num_rows)
        weights = weights.astype(np.float64)
        value = np.mean([_weighted_gap(p, positives, weights) for p in a])
        if b:
            value -= np.mean([_weighted_gap(p, positives, weights) for p in b])
        return float(value)

    return _percentile_bootstrap(statistic, num_rows, n_boot, seed, confidence)


# ------------------------------------------------------------------------------ Holm


def _holm_array(p: np.ndarray) -> np.ndarray:
    """Holm step-down on a 1-D float array; NaN entries stay NaN and are not counted in m."""
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[(p < 0) | (p > 1)].tolist()}")
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    if m == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    # i-th smallest (0-based) times (m - i), then a running maximum keeps the order monotone
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def holm(p_values):
    """Holm-Bonferroni adjusted p-values, in the input order and of the input's kind.

    A list or tuple gives a list, a numpy array an array, a dict a dict with the same keys,
    a pandas Series a Series with the same index.  The i-th smallest of m p-values becomes
    ``max over j <= i of min(1, (m - j + 1) * p_(j))``: monotone in the raw p-values and at
    most 1.  Rejecting where the adjusted p < alpha controls the family-wise error rate at
    alpha.  NaN (a comparison that could not be tested) stays NaN and does not count in m.
    """
    if isinstance(p_values, pd.Series):
        values = p_values.to_numpy(dtype=float)
        return pd.Series(_holm_array(values), index=p_values.index, name=p_values.name)
    if isinstance(p_values, Mapping):
        keys = list(p_values)
        adjusted = _holm_array(np.array([p_values[k] for k in keys], dtype=float))
        return {k: float(v) for k, v in zip(keys, adjusted)}
    values = np.asarray(p_values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional, got shape {values.shape}")
    adjusted = _holm_array(values)
    if isinstance(p_values, np.ndarray):
        return adjusted
    return [float(v) for v in adjusted]


# ------------------------------------------------------------------------------ frameworks


def _group_label(keys: list[str], key) -> dict:
    key = key if isinstance(key, tuple) else (key,)
    return dict(zip(keys, key))


def compare_frameworks(
    frame: pd.DataFrame,
    *,
    metric: str,
    by: str | Sequence[str] = "model",
    pair_on: str = "seed",
    a: str = "keras",
    b: str = "torch",
    framework_col: str = "framework",
    alpha: float = 0.05,
    confidence: float = 0.95,
    test: str = "t",
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """One row per group (model) comparing framework ``a`` with ``b`` on column ``metric``.

    ``frame`` has one row per run: the ``by`` column(s), ``pair_on`` (the seed),
    ``framework_col`` and ``metric`` (e.g. ``yt8m_lib.runs.tables.runs_frame``).
    Within each group the runs of ``a`` and ``b`` are paired on ``pair_on``; seeds present
    for only one framework are dropped with a warning (and listed in ``note``); rows of other
    frameworks are ignored.  Two runs of the same group, framework and seed, or a NaN
    ``metric`` in a pair, raise ``ValueError``.

    Columns: the ``by`` column(s), ``n`` (pairs), ``mean_<a>``, ``mean_<b>`` (over the
    pairs), ``mean_diff`` (a - b, metric units), ``ci_low``, ``ci_high``, ``d_z``,
    ``p_value`` (``paired_difference`` with ``test``), ``p_holm`` (Holm over the rows of this
    call: the family), ``verdict`` and ``note``.  The verdict is "<a> ahead" or "<b> ahead"
    only where ``p_holm < alpha`` (ahead: larger metric if ``higher_is_better``, smaller for
    losses and times), else "no detectable difference".  A group with fewer than 2 pairs gets
    NaN statistics (``mean_diff`` is still given for 1 pair), that verdict and a note.
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*keys, pair_on, framework_col, metric] if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; it has {list(frame.columns)}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    rows = []
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        label = _group_label(keys, key)
        where = ", ".join(f"{k}={v}" for k, v in label.items())
        values = {}
        notes = []
        for framework in (a, b):
            runs = group[group[framework_col] == framework]
            no_seed = runs[pair_on].isna()
            if no_seed.any():
                notes.append(f"{int(no_seed.sum())} {framework} run(s) without {pair_on}")
                runs = runs[~no_seed]
            repeated = runs[pair_on][runs[pair_on].duplicated()].unique().tolist()
            if repeated:
                raise ValueError(
                    f"{where}: more than one {framework} run for {pair_on} "
                    f"{repeated}; one run per {pair_on} and framework"
                )
            values[framework] = runs.set_index(pair_on)[metric]
        shared = [s for s in values[a].index if s in values[b].index]
        for framework in (a, b):
            unmatched = [s for s in values[framework].index if s not in shared]
            if unmatched:
                notes.append(f"dropped {framework} {pair_on}(s) {unmatched} (no pair)")
        if notes:
            warnings.warn(f"{where}: " + "; ".join(notes), UserWarning, stacklevel=2)
        x = values[a].loc[shared].to_numpy(dtype=float)
        y = values[b].loc[shared].to_numpy(dtype=float)
        row = {
            **label,
            "n": len(shared),
            f"mean_{a}": np.nan,
            f"mean_{b}": np.nan,
            "mean_diff": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "d_z": np.nan,
            "p_value": np.nan,
        }
        if len(shared) < 2:
            notes.append(f"fewer than 2 paired {pair_on}s: no test")
            if len(shared) == 1:
                row.update({f"mean_{a}": x[0], f"mean_{b}": y[0], "mean_diff": x[0] - y[0]})
        else:
            try:
                result = paired_difference(x, y, confidence=confidence, test=test)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            row.update(
                {
                    f"mean_{a}": x.mean(),
                    f"mean_{b}": y.mean(),
                    "mean_diff": result.mean,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "d_z": result.d_z,
                    "p_value": result.p_value,
                }
            )
            if result.note:
                notes.append(result.note)
        row["note"] = "; ".join(notes)
        rows.append(row)
    columns = [
        *keys,
        "n",
        f"mean_{a}",
        f"mean_{b}",
        "mean_diff",
        "ci_low",
        "ci_high",
        "d_z",
        "p_value",
        "p_holm",
        "verdict",
        "note",
    ]
    table = pd.DataFrame(rows, columns=[c for c in columns if c not in ("p_holm", "verdict")])
    table["p_holm"] = holm(table["p_value"].astype(float)).to_numpy()
    better = np.sign(table["mean_diff"]) * (1 if higher_is_better else -1)
    detected = table["p_holm"] < alpha  # NaN compares False: untested rows stay undetected
    table["verdict"] = np.where(
        detected & (better > 0),
        f"{a} ahead",
        np.where(detected & (better < 0), f"{b} ahead", NO_DIFFERENCE),
    )
    table.attrs.update(
        {
            "a": a,
            "b": b,
            "metric": metric,
            "alpha": alpha,
            "test": test,
            "confidence": confidence,
            "higher_is_better": higher_is_better,
        }
    )
    return table[columns]


def compare_models(
    frame: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    metric: str = "gap",
    model_col: str = "model",
    pair_on: str = "seed",
    alpha: float = 0.05,
    confidence: float = 0.95,
    test: str = "t",
) -> pd.DataFrame:
    """One row per (a, b) model pair of one framework's runs, paired over seeds (a seed gives
    both models the same batch order), Holm-adjusted over ``pairs`` (the family), with the
    same verdict rule as ``compare_frameworks``. Pairs whose models are absent are left out.
    """
    rows = []
    for a, b in pairs:
        part = frame[frame[model_col].isin([a, b])].assign(_family="all")
        if set(part[model_col]) != {a, b}:
            continue
        row = compare_frameworks(
            part,
            metric=metric,
            by="_family",
            pair_on=pair_on,
            a=a,
            b=b,
            framework_col=model_col,
            alpha=1.0 - 1e-12,  # the verdict is decided below, over the whole family
            confidence=confidence,
            test=test,
        ).iloc[0]
        rows.append(
            {
                "a": a,
                "b": b,
                "n": row["n"],
                "mean_a": row[f"mean_{a}"],
                "mean_b": row[f"mean_{b}"],
                "mean_diff": row["mean_diff"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "p_value": row["p_value"],
                "note": row["note"],
            }
        )
    table = pd.DataFrame(
        rows,
        columns=["a", "b", "n", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "p_value"]
        + ["note"],
    )
    table["p_holm"] = holm(table["p_value"].astype(float)).to_numpy()
    detected = table["p_holm"] < alpha
    table["verdict"] = [
        (f"{a} ahead" if d > 0 else f"{b} ahead") if hit else NO_DIFFERENCE
        for a, b, d, hit in zip(table["a"], table["b"], table["mean_diff"], detected)
    ]
    table.attrs.update({"metric": metric, "alpha": alpha, "test": test})
    return table

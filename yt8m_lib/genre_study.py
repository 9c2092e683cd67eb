"""Chapter 08, "which genre is this video?": class models read through genre rules, and
trained genre heads, scored against the same ground truth, with intervals and paired tests.

Every (run, source) becomes one *entry*: the run's (N, G) genre scores on the test videos
and their ``genre_report``.  A class model (``record["target"]`` absent or "classes") gives
one entry per rule of ``GENRE_RULES`` (``topk_mean`` with ``k``); a genre head
(``record["target"] == "genres"``: the same architecture trained on the ``Vertical1`` genres)
gives one entry, source ``"head"``, scored by ``genre_report_from_scores``.  The ground
truth (genre sets and majority genres, ``yt8m_lib.evaluation.genres``) comes from the test
videos' class labels; the two baselines from the *training* labels (``GenrePrior``).

What the chapter reads (all pandas frames, no figures here):

* ``metrics_frame``: tidy, one row per (model, framework, seed, source, metric), for
  ``METRICS``;
* ``summary_frame``: mean over seeds with two 95 % intervals: over seeds (t interval: what
  retraining would change) and over test videos (percentile bootstrap of the *seed-mean*
  metric, the same resampled videos for every seed: what another test set would change;
  for the metrics of ``BOOTSTRAP_METRICS``);
* ``baselines_frame``: the most frequent training genre and the label prior (per rule);
* ``per_genre_frame``: per-genre precision, recall, F1 and AP, mean over seeds;
* ``confusion`` and ``confused_pairs``: rates (mean over seeds), counts per seed, and the
  most confused (true -> predicted) pairs with example videos and their labels;
* ``compare_to_best``: every rule, or the head, against the best rule of the same model and
  framework, paired over seeds (``stats``), Holm over the family, with a paired bootstrap
  over test videos beside it; the best rule is chosen on the *validate* videos
  (``study_from_records(..., split="validate")`` and ``rule_means``), never on test;
* ``model_ranking``: the models' order by class GAP against their order by a genre metric
  (Kendall tau), and ``reading``: the chapter's sentences, generated from these frames.

Imports no framework: ``predict_scores`` imports the run's own one when it is called.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from yt8m_lib import stats
from yt8m_lib.evaluation.genres import (
    GENRE_RULES,
    GenrePrior,
    Vocabulary,
    genre_report,
    genre_report_from_scores,
    genre_scores,
    majority_genre,
    true_genres,
)
from yt8m_lib.runs.tables import shared_files

HEAD = "head"  # the source name of a trained genre head
# the files a run was scored on, per split: test (the finding) and validate (where the best
# epoch was kept, and where the chapter chooses its genre rule)
SPLITS = {
    "test": lambda record: record["evaluations"]["test"]["data"],
    "validate": lambda record: record["data"]["val"],
}
SOURCES = (*GENRE_RULES, HEAD)
DEFAULT_K = 3  # topk_mean's k
METRICS = ("strict_accuracy", "lenient_accuracy", "macro_f1", "micro_f1", "macro_ap", "gap")
METRIC_NAMES = {
    "strict_accuracy": "strict accuracy",
    "lenient_accuracy": "lenient accuracy",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "macro_ap": "macro-AP",
    "gap": "genre GAP",
}
# the metrics that depend on the predicted genre only: cheap enough to bootstrap over videos
BOOTSTRAP_METRICS = ("strict_accuracy", "lenient_accuracy", "macro_f1", "micro_f1")
ID_COLUMNS = ["model", "framework", "seed", "source"]
FRAMEWORK_NAMES = {"keras": "Keras", "torch": "PyTorch"}


# ------------------------------------------------------------------------------ the study


@dataclass
class GenreStudy:
    """The test videos' ground truth and one entry per (run, source).

    ``entries``: dicts with ``model``, ``framework``, ``seed``, ``source`` (a rule or
    ``"head"``), ``class_gap`` (the run's test GAP@20 over classes; None for a head),
    ``scores`` ((N, G) genre scores), ``predicted`` ((N,) predicted genre: highest score,
    lowest genre index on ties) and ``report`` (the genre report)."""

    vocab: Vocabulary
    ids: tuple[str, ...]
    labels: np.ndarray  # (N, C) bool
    prior: GenrePrior
    k: int = DEFAULT_K
    entries: list[dict] = field(default_factory=list)

    @property
    def sets(self) -> np.ndarray:
        return true_genres(self.labels, self.vocab)

    @property
    def majority(self) -> np.ndarray:
        return majority_genre(self.labels, self.vocab)

    def groups(self) -> list[tuple[str, str, str]]:
        """(model, framework, source) in the order the entries came."""
        return list(dict.fromkeys((e["model"], e["framework"], e["source"]) for e in self.entries))

    def select(self, model: str, framework: str, source: str) -> list[dict]:
        """The entries of one (model, framework, source), by seed."""
        chosen = [
            e
            for e in self.entries
            if (e["model"], e["framework"], e["source"]) == (model, framework, source)
        ]
        return sorted(chosen, key=lambda e: e["seed"])


def _entry(run: dict, source: str, scores: np.ndarray, report: dict) -> dict:
    return {
        "model": run["model"],
        "framework": run["framework"],
        "seed": run["seed"],
        "source": source,
        "class_gap": run.get("class_gap"),
        "scores": scores,
        "predicted": scores.argmax(axis=1),
        "report": report,
    }


def study_from_scores(
    runs: Iterable[dict],
    labels,
    vocab: Vocabulary,
    prior: GenrePrior,
    *,
    ids=None,
    rules=GENRE_RULES,
    k: int = DEFAULT_K,
) -> GenreStudy:
    """The study of runs given with their test scores, the rows aligned with ``labels``.

    ``runs``: dicts with ``model``, ``framework``, ``seed``, ``scores`` ((N, C) class scores,
    or (N, G) genre scores when ``target`` is "genres") and optionally ``class_gap``; an
    iterable, so that scores can be produced one run at a time (only genre scores are kept).
    ``labels``: (N, C) 0/1 test labels; ``prior``: from the training labels."""
    labels = np.asarray(labels) == 1
    ids = tuple(ids) if ids is not None else tuple(str(i) for i in range(labels.shape[0]))
    study = GenreStudy(vocab, ids, labels, prior, k)
    for run in runs:
        scores = np.asarray(run["scores"])
        if run.get("target", "classes") == "genres":
            report = genre_report_from_scores(scores, labels, vocab, rule=HEAD, genre_prior=prior)
            study.entries.append(_entry(run, HEAD, scores.astype(np.float64), report))
            continue
        for rule in rules:
            report = genre_report(scores, labels, vocab, rule, k=k, genre_prior=prior)
            kept = genre_scores(scores, vocab, rule, k).astype(np.float64)
            study.entries.append(_entry(run, rule, kept, report))
    return study


# ------------------------------------------------------------------------------ from runs


def predict_scores(record: dict, data_paths, device=None):
    """(ids, (N, outputs) scores) of a run's best weights on ``data_paths``, in its own
    framework (imported here, so that a PyTorch-only analysis never starts TensorFlow)."""
    if record["framework"] == "keras":
        from yt8m_lib.keras.train import predict_scores as predict
    else:
        from yt8m_lib.torch.train import predict_scores as predict
    return predict(record["run_dir"], data_paths, device=device)


def _aligned(ids, run_ids, scores: np.ndarray, run_dir) -> np.ndarray:
    """A run's score rows put in the order of the labels' ``ids``."""
    if sorted(run_ids) != sorted(ids):
        raise ValueError(f"{run_dir}: its videos are not the labels' ones")
    row_of = {video: row for row, video in enumerate(ids)}
    aligned = np.empty_like(scores)
    aligned[np.array([row_of[v] for v in run_ids])] = scores
    return aligned


def head_report(record: dict, data_paths, vocabulary, *, device=None) -> dict:
    """The genre report of a genre head's run on ``data_paths`` (what ``yt8m evaluate``
    prints under ``genre`` for a head): its (N, G) scores against the videos' class labels,
    baselines from the run's training labels when its files are here (else from the
    evaluated set, as the report's ``source`` says)."""
    from yt8m_lib.data import datasets

    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary.load(vocabulary)
    level, num_classes = record["data"]["level"], int(record["data"]["num_classes"])
    run_ids, scores = predict_scores(record, data_paths, device=device)
    ids, labels = datasets.read_labels(data_paths, level, num_classes)
    prior = None
    train = record["data"].get("train") or []
    train = [train] if isinstance(train, str) else train
    if train and all(Path(p).is_file() for p in train):
        prior = GenrePrior.from_labels(datasets.read_labels(train, level, num_classes)[1], vocab)
    aligned = _aligned(ids, run_ids, scores, record.get("run_dir"))
    return genre_report_from_scores(aligned, labels, vocab, rule=HEAD, genre_prior=prior)


def _shared(records: list[dict], what: str, get: Callable[[dict], object]):
    values = {repr(get(r)) for r in records}
    if len(values) != 1:
        raise ValueError(f"the runs do not share their {what}: {sorted(values)[:3]}")
    return get(records[0])


def _by_level(records: list[dict]) -> dict[str, list[dict]]:
    """The runs of each level: video- and frame-level models read different files of the same
    videos (the synthetic data holds both levels; each level shares its own files)."""
    levels: dict[str, list[dict]] = {}
    for record in records:
        levels.setdefault(record["data"]["level"], []).append(record)
    return levels


def study_from_records(
    records,
    data_dir,
    *,
    split: str = "test",
    rules=GENRE_RULES,
    k: int = DEFAULT_K,
    device=None,
    predict: Callable | None = None,
    verbose: bool = True,
) -> GenreStudy:
    """The study of finished run records (class models and genre heads) on their test split,
    or, with ``split="validate"``, on the validate files they were selected on (where the
    chapter chooses its genre rule, so that the test videos choose nothing).

    The runs of one level must share the test and training files (by name), all runs the
    number of classes and the test videos (one split, so that every seed and model scores the
    same videos: the frame- and video-level files of a dataset hold the same videos).  The
    vocabulary is the dataset's (``datasets.load_vocabulary``: ``vocabulary.csv``, else the
    synthetic fallback); the baselines' prior comes from the training files' labels.  ``predict``
    (record, paths) -> (ids, scores) replaces ``predict_scores`` (tests)."""
    from yt8m_lib.data import datasets

    records = list(records)
    if not records:
        raise ValueError("no run records to study")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    num_classes = _shared(records, "classes", lambda r: int(r["data"]["num_classes"]))
    scored_on = SPLITS[split]
    files = {  # the files of the split, per level
        level: shared_files(runs, split, scored_on) for level, runs in _by_level(records).items()
    }
    level = "video" if "video" in files else next(iter(files))  # labels: the smaller files
    same_level = _by_level(records)[level]
    train = shared_files(same_level, "training", lambda r: r["data"]["train"])
    vocab = datasets.load_vocabulary(data_dir, num_classes)
    ids, labels = datasets.read_labels(files[level], level, num_classes)
    _, train_labels = datasets.read_labels(train, level, num_classes)
    prior = GenrePrior.from_labels(train_labels, vocab)
    predict = predict or (lambda record, paths: predict_scores(record, paths, device=device))

    def runs():
        for record in records:
            run_ids, scores = predict(record, files[record["data"]["level"]])
            aligned = _aligned(ids, run_ids, scores, record["run_dir"])
            target = record.get("target", "classes")
            if verbose:
                print(
                    f"scored {record['framework']} {record['model']} seed {record['seed']}"
                    f"{' (genre head)' if target == 'genres' else ''}: {len(run_ids)} videos"
                )
            yield {
                "model": record["model"],
                "framework": record["framework"],
                "seed": record["seed"],
                "target": target,
                "class_gap": None
                if target == "genres"
                else (record["evaluations"][split].get("gap")),
                "scores": aligned,
            }

    return study_from_scores(runs(), labels, vocab, prior, ids=ids, rules=rules, k=k)


# ------------------------------------------------------------------------------ metrics


def _value(report: dict, metric: str):
    if metric in ("macro_f1", "macro_ap"):
        return report["macro"][metric.split("_")[1]]
    if metric == "micro_f1":
        return report["micro"]["f1"]
    return report[metric]


def _nan(value) -> float:
    return np.nan if value is None else float(value)


def metrics_frame(study: GenreStudy) -> pd.DataFrame:
    """Tidy: one row per (model, framework, seed, source, metric) with its ``value``."""
    rows = [
        {**{c: e[c] for c in ID_COLUMNS}, "metric": m, "value": _nan(_value(e["report"], m))}
        for e in study.entries
        for m in METRICS
    ]
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, "metric", "value"])


def runs_frame(study: GenreStudy) -> pd.DataFrame:
    """Wide: one row per entry, the ``METRICS`` as columns and the run's class GAP."""
    rows = [
        {
            **{c: e[c] for c in ID_COLUMNS},
            **{m: _nan(_value(e["report"], m)) for m in METRICS},
            "class_gap": _nan(e["class_gap"]),
        }
        for e in study.entries
    ]
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *METRICS, "class_gap"])


def baselines_frame(study: GenreStudy) -> pd.DataFrame:
    """The two baselines (frequencies from the training labels): the most frequent genre
    (the same under every rule) and the label prior under each rule of the study."""
    rows, seen = [], set()
    for e in study.entries:
        base = e["report"]["baselines"]
        rule = "max" if e["source"] == HEAD else e["source"]  # a head's label prior uses max
        for name, key in (("most frequent genre", None), ("label prior", rule)):
            if (name, key) in seen:
                continue
            seen.add((name, key))
            part = base["most_frequent_genre" if key is None else "label_prior"]
            rows.append(
                {
                    "baseline": name,
                    "rule": key or "any",
                    "genre": part["genre"],
                    **{m: _nan(_value(part, m)) for m in METRICS},
                    "source": base["source"],
                    "num_source_videos": base["num_source_videos"],
                }
            )
    return pd.DataFrame(rows)


def best_baseline(baselines: pd.DataFrame, metric: str) -> pd.Series:
    """The baseline row with the highest ``metric`` (the constant predictor to beat)."""
    return baselines.loc[baselines[metric].idxmax()]


# --- metrics of predicted genres, for the bootstrap: ``truth`` = [majority, genre set...]


def _truth(study: GenreStudy) -> np.ndarray:
    return np.column_stack([study.majority, study.sets.astype(np.int64)])


def _strict(predicted: np.ndarray, truth: np.ndarray) -> float:
    labelled = truth[:, 0] >= 0
    if not labelled.any():
        return np.nan
    return float((predicted[labelled] == truth[labelled, :1]).mean())


def _lenient(predicted: np.ndarray, truth: np.ndarray) -> float:
    labelled = truth[:, 0] >= 0
    if not labelled.any():
        return np.nan
    sets = truth[labelled, 1:]
    hits = np.take_along_axis(sets, predicted[labelled], axis=1)
    return float(hits.mean())


def _macro_f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean over seeds (columns) of the report's macro-F1: genres with support only,
    precision 0 for a genre never predicted."""
    labelled = truth[:, 0] >= 0
    majority = truth[labelled, 0]
    num_genres = truth.shape[1] - 1
    support = np.bincount(majority, minlength=num_genres)
    if not support.any():
        return np.nan
    values = []
    for column in predicted[labelled].T:
        hits = np.bincount(majority[column == majority], minlength=num_genres)
        count = np.bincount(column, minlength=num_genres)
        precision = np.divide(hits, count, out=np.zeros(num_genres), where=count > 0)
        recall = np.divide(hits, support, out=np.zeros(num_genres), where=support > 0)
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros(num_genres), where=total > 0)
        values.append(f1[support > 0].mean())
    return float(np.mean(values))


VIDEO_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "strict_accuracy": _strict,
    "lenient_accuracy": _lenient,
    "macro_f1": _macro_f1,
    "micro_f1": _strict,  # one predicted and one true genre per video: micro-F1 = strict
}


def _predicted(entries: list[dict]) -> np.ndarray:
    """(N, seeds) predicted genres."""
    return np.column_stack([e["predicted"] for e in entries])


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    from scipy import stats as scipy_stats

    values = values[np.isfinite(values)]
    if values.size < 2:
        return np.nan, np.nan
    half = scipy_stats.t.ppf((1 + confidence) / 2, values.size - 1) * values.std(ddof=1)
    half /= math.sqrt(values.size)
    return float(values.mean() - half), float(values.mean() + half)


def summary_frame(
    study: GenreStudy, *, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> pd.DataFrame:
    """One row per (model, framework, source, metric): ``seeds``, ``mean`` and ``std`` over
    seeds, ``seed_ci_low``/``seed_ci_high`` (t interval over seeds; NaN with one seed) and
    ``video_ci_low``/``video_ci_high``: the percentile bootstrap over test videos of the
    seed-mean metric (``n_boot`` resamples drawn by ``seed``, the same videos for every seed
    and every model; NaN for metrics outside ``BOOTSTRAP_METRICS``)."""
    truth = _truth(study)
    rows = []
    for model, framework, source in study.groups():
        entries = study.select(model, framework, source)
        predicted = _predicted(entries)
        for metric in METRICS:
            values = np.array([_nan(_value(e["report"], metric)) for e in entries])
            low, high = _t_interval(values, confidence)
            video = (np.nan, np.nan)
            if metric in VIDEO_METRICS and truth.shape[0] >= 2:
                interval = stats.bootstrap_ci(
                    VIDEO_METRICS[metric],
                    predicted,
                    truth,
                    n_boot=n_boot,
                    seed=seed,
                    confidence=confidence,
                )
                video = (interval.ci_low, interval.ci_high)
            rows.append(
                {
                    "model": model,
                    "framework": framework,
                    "source": source,
                    "metric": metric,
                    "seeds": len(entries),
                    "mean": float(np.nanmean(values)) if np.isfinite(values).any() else np.nan,
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                    "seed_ci_low": low,
                    "seed_ci_high": high,
                    "video_ci_low": video[0],
                    "video_ci_high": video[1],
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ per genre


def per_genre_frame(study: GenreStudy) -> pd.DataFrame:
    """One row per (model, framework, source, genre): ``support``, ``positives`` and the
    mean over seeds of ``precision``, ``recall``, ``f1`` and ``ap`` (NaN where undefined)."""
    rows = []
    for model, framework, source in study.groups():
        entries = study.select(model, framework, source)
        for g, genre in enumerate(study.vocab.genre_names):
            cells = [e["report"]["per_genre"][g] for e in entries]
            rows.append(
                {
                    "model": model,
                    "framework": framework,
                    "source": source,
                    "genre": genre,
                    "support": cells[0]["support"],
                    "positives": cells[0]["positives"],
                    **{
                        key: float(np.mean([_nan(c[key]) for c in cells]))
                        for key in ("precision", "recall", "f1", "ap")
                    },
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ confusion


def _confusion_counts(study: GenreStudy, entries: list[dict]) -> np.ndarray:
    """(G, G) counts summed over the entries (seeds): rows majority genre, columns predicted."""
    majority = study.majority
    labelled = majority >= 0
    num_genres = study.vocab.num_genres
    total = np.zeros((num_genres, num_genres), dtype=np.int64)
    for e in entries:
        np.add.at(total, (majority[labelled], e["predicted"][labelled]), 1)
    return total


def confusion(
    study: GenreStudy, model: str, framework: str, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rates, counts per seed) of one (model, framework, source): rows the majority genres
    that have test videos, columns every genre.  A row of ``rates`` is the mean over seeds of
    that genre's rates (every seed scores the same videos) and sums to 1; ``counts`` are
    videos per seed (the mean over seeds).  ``attrs["seeds"]``: the seeds averaged."""
    entries = study.select(model, framework, source)
    if not entries:
        raise ValueError(f"no runs of {model} / {framework} / {source}")
    total = _confusion_counts(study, entries)
    names = list(study.vocab.genre_names)
    counts = pd.DataFrame(
        total / len(entries),
        index=pd.Index(names, name="true genre"),
        columns=pd.Index(names, name="predicted genre"),
    )
    counts = counts.loc[counts.sum(axis=1) > 0]
    rates = counts.div(counts.sum(axis=1), axis=0)
    for frame in (rates, counts):
        frame.attrs["seeds"] = len(entries)
    return rates, counts


def confused_pairs(
    study: GenreStudy,
    model: str,
    framework: str,
    source: str,
    *,
    top: int = 10,
    examples: int = 3,
) -> pd.DataFrame:
    """The ``top`` most frequent mistakes (true -> predicted genre, off the diagonal) of one
    (model, framework, source), by videos per seed: ``true``, ``predicted``, ``rate`` (share
    of the true genre's videos sent there, mean over seeds), ``count_per_seed``, ``support``
    (videos of the true genre), ``seeds_wrong`` (of the first example), ``example_ids`` (up
    to ``examples`` videos making that mistake in the most seeds, ties by test order) and
    ``examples`` (each id with its label names)."""
    rates, counts = confusion(study, model, framework, source)
    entries = study.select(model, framework, source)
    predicted = _predicted(entries)
    majority = study.majority
    names = list(study.vocab.genre_names)
    long = counts.stack().rename("count_per_seed").reset_index()
    long.columns = ["true", "predicted", "count_per_seed"]
    long = long[(long["true"] != long["predicted"]) & (long["count_per_seed"] > 0)]
    long = long.sort_values("count_per_seed", ascending=False, kind="stable").head(top)
    rows = []
    for row in long.itertuples(index=False):
        t, p = names.index(row.true), names.index(row.predicted)
        wrong = ((predicted == p) & (majority == t)[:, None]).sum(axis=1)
        chosen = np.argsort(-wrong, kind="stable")[:examples]
        chosen = [int(i) for i in chosen if wrong[i] > 0]
        described = [
            f"{study.ids[i]}: "
            + ", ".join(study.vocab.names[c] for c in np.flatnonzero(study.labels[i]))
            for i in chosen
        ]
        rows.append(
            {
                "true": row.true,
                "predicted": row.predicted,
                "rate": float(rates.loc[row.true, row.predicted]),
                "count_per_seed": float(row.count_per_seed),
                "support": int((majority == t).sum()),
                "seeds_wrong": int(wrong[chosen[0]]) if chosen else 0,
                "example_ids": tuple(study.ids[i] for i in chosen),
                "examples": " | ".join(described),
            }
        )
    columns = ["true", "predicted", "rate", "count_per_seed", "support", "seeds_wrong"]
    return pd.DataFrame(rows, columns=[*columns, "example_ids", "examples"])


# ------------------------------------------------------------------------------ comparisons


def rule_means(study: GenreStudy) -> pd.DataFrame:
    """One row per (model, framework, source, metric) with its ``mean`` over seeds and the
    number of ``seeds``: what ``best_rules`` and ``overall_rule`` choose from. Built from the
    validate study, it chooses the rule before the test videos are looked at."""
    frame = metrics_frame(study)
    grouped = frame.groupby(["model", "framework", "source", "metric"], sort=False)["value"]
    return grouped.agg(mean="mean", seeds="size").reset_index()


def best_rules(summary: pd.DataFrame, metric: str) -> dict[tuple[str, str], str]:
    """{(model, framework): the rule with the highest mean ``metric``} (ties: the first rule
    of ``GENRE_RULES``) in ``summary`` (``summary_frame`` or ``rule_means``; the validate
    study's, so that the choice is not made on the videos it is then scored on)."""
    part = summary[(summary["metric"] == metric) & summary["source"].isin(GENRE_RULES)]
    best = {}
    for (model, framework), group in part.groupby(["model", "framework"], sort=False):
        order = group.set_index("source")["mean"].reindex(
            [r for r in GENRE_RULES if r in set(group.source)]
        )
        best[(model, framework)] = str(order.idxmax())
    return best


def _paired(
    study: GenreStudy,
    comparisons: list[tuple[str, str, str, str, str]],
    *,
    n_boot: int,
    seed: int,
    alpha: float,
    confidence: float,
) -> pd.DataFrame:
    """One row per (metric, model, framework, a, b): ``a - b`` paired over the shared seeds
    (``stats.paired_difference``), Holm over all rows, and the paired bootstrap over test
    videos of the seed-mean difference (``stats.paired_bootstrap_ci``)."""
    truth = _truth(study)
    rows = []
    for metric, model, framework, a, b in comparisons:
        ea = {e["seed"]: e for e in study.select(model, framework, a)}
        eb = {e["seed"]: e for e in study.select(model, framework, b)}
        shared = sorted(set(ea) & set(eb))
        x = np.array([_nan(_value(ea[s]["report"], metric)) for s in shared])
        y = np.array([_nan(_value(eb[s]["report"], metric)) for s in shared])
        row = {
            "metric": metric,
            "model": model,
            "framework": framework,
            "a": a,
            "b": b,
            "n": len(shared),
            "mean_a": float(x.mean()) if shared else np.nan,
            "mean_b": float(y.mean()) if shared else np.nan,
            "mean_diff": float((x - y).mean()) if shared else np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_value": np.nan,
            "video_ci_low": np.nan,
            "video_ci_high": np.nan,
            "note": "",
        }
        if len(shared) >= 2:
            result = stats.paired_difference(x, y, confidence=confidence)
            row.update(ci_low=result.ci_low, ci_high=result.ci_high, p_value=result.p_value)
            row["note"] = result.note
        else:
            row["note"] = "fewer than 2 paired seeds: no test over seeds"
        if shared and metric in VIDEO_METRICS and truth.shape[0] >= 2:
            interval = stats.paired_bootstrap_ci(
                VIDEO_METRICS[metric],
                _predicted([ea[s] for s in shared]),
                _predicted([eb[s] for s in shared]),
                truth,
                n_boot=n_boot,
                seed=seed,
                confidence=confidence,
            )
            row.update(video_ci_low=interval.ci_low, video_ci_high=interval.ci_high)
        rows.append(row)
    columns = [
        "metric",
        "model",
        "framework",
        "a",
        "b",
        "n",
        "mean_a",
        "mean_b",
        "mean_diff",
        "ci_low",
        "ci_high",
        "p_value",
        "video_ci_low",
        "video_ci_high",
        "note",
    ]
    table = pd.DataFrame(rows, columns=columns)
    table["p_holm"] = stats.holm(table["p_value"].astype(float)).to_numpy()
    detected = table["p_holm"] < alpha  # NaN: untested, never detected
    table["verdict"] = [
        (f"{a} ahead" if d > 0 else f"{b} ahead") if hit else stats.NO_DIFFERENCE
        for a, b, d, hit in zip(table["a"], table["b"], table["mean_diff"], detected)
    ]
    table.attrs.update(alpha=alpha, confidence=confidence, family=len(table))
    return table


def compare_to_best(
    study: GenreStudy,
    summary: pd.DataFrame,
    sources=GENRE_RULES,
    metrics=("macro_f1", "strict_accuracy"),
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each of ``sources`` (``a``: the rules, or ``(HEAD,)`` for the genre heads) against the
    best rule (``b``: highest mean in ``summary``, ``best_rules``) of the same model and
    framework, per metric, scored on ``study``'s videos and paired over seeds (a seed gives a
    rule the very same run, a head the same batch order); the best rule itself and sources
    the study lacks are left out; empty when none is left.  Holm runs over every row (all
    metrics, models, frameworks and sources: one family).  Pass the validate study's
    ``rule_means`` as ``summary``: the rule is then chosen on validate and tested on test,
    and a rule can turn out ahead of it.  Given the test study's own summary, the choice is
    made on the same videos: a detected difference then says "this rule is worse than the
    best one", and the best rule's lead is optimistic."""
    comparisons = []
    for metric in metrics:
        for (model, framework), best in best_rules(summary, metric).items():
            for source in sources:
                if source != best and study.select(model, framework, source):
                    comparisons.append((metric, model, framework, source, best))
    return _paired(study, comparisons, n_boot=n_boot, seed=seed, alpha=alpha, confidence=confidence)


def overall_rule(summary: pd.DataFrame, metric: str) -> str:
    """The rule with the highest mean ``metric`` averaged over every model and framework."""
    part = summary[(summary["metric"] == metric) & summary["source"].isin(GENRE_RULES)]
    means = part.groupby("source")["mean"].mean()
    return str(means.reindex([r for r in GENRE_RULES if r in means.index]).idxmax())


def model_ranking(
    study: GenreStudy, metric: str = "macro_f1", source: str | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Per framework: the models ordered by mean class GAP and by mean genre ``metric``
    (under ``source``; default the rule with the highest mean over models and frameworks,
    as ``overall_rule``), Kendall's tau between the two orders,
    and the paired test (over seeds, Holm over each framework's pairs) of each adjacent pair
    in the genre order.  Columns: framework, source, metric, gap_order, genre_order, tau,
    relation ("same order", "reversed", "different order", or "one model"), tests (list of
    ``stats.compare_models`` rows as dicts)."""
    from scipy import stats as scipy_stats

    runs = runs_frame(study)
    classes = runs[runs["source"] != HEAD]
    if source is None:
        rules = runs[runs["source"].isin(GENRE_RULES)]
        means = rules.groupby(["source", "model", "framework"])[metric].mean()
        means = means.groupby(level="source").mean()
        source = str(means.reindex([r for r in GENRE_RULES if r in means.index]).idxmax())
    rows = []
    for framework, part in runs[runs["source"] == source].groupby("framework", sort=False):
        gap = (
            classes[classes["framework"] == framework]
            .groupby("model", sort=False)["class_gap"]
            .mean()
            .sort_values(ascending=False, kind="stable")
        )
        genre = (
            part.groupby("model", sort=False)[metric]
            .mean()
            .sort_values(ascending=False, kind="stable")
        )
        models = list(genre.index)
        tau = np.nan
        if len(models) >= 2:
            tau = float(scipy_stats.kendalltau(gap.reindex(models), genre.to_numpy()).statistic)
        if len(models) < 2:
            relation = "one model"
        elif list(gap.index) == models:
            relation = "same order"
        elif list(gap.index) == models[::-1]:
            relation = "reversed"
        else:
            relation = "different order"
        pairs = list(zip(models[:-1], models[1:]))
        tests = stats.compare_models(part, pairs, metric=metric, alpha=alpha) if pairs else None
        rows.append(
            {
                "framework": framework,
                "source": source,
                "metric": metric,
                "gap_order": list(gap.index),
                "gap_means": [float(v) for v in gap],
                "genre_order": models,
                "genre_means": [float(v) for v in genre],
                "tau": tau,
                "relation": relation,
                "tests": [] if tests is None else tests.to_dict("records"),
            }
        )
    return pd.DataFrame(rows)


def forest_frame(tests: pd.DataFrame) -> pd.DataFrame:
    """``compare_to_best`` rows of *one metric* for ``plots.forest_plot``: one row per
    comparison, named "model · Framework: a - b" in its ``model`` column (the best rule
    differs between metrics, so the rows of two metrics do not line up: one figure each)."""
    if tests["metric"].nunique() > 1:
        raise ValueError("forest_frame takes the comparisons of one metric")
    names = [
        f"{m} · {FRAMEWORK_NAMES.get(f, f)}: {a} - {b}"
        for m, f, a, b in zip(tests["model"], tests["framework"], tests["a"], tests["b"])
    ]
    return tests.assign(model=names)


# ------------------------------------------------------------------------------ reading


def _interval(low, high, digits=3) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def _signed(low, high, digits=3) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def summary_row(summary: pd.DataFrame, model, framework, source, metric) -> pd.Series:
    """The ``summary_frame`` row of one (model, framework, source, metric)."""
    return summary[
        (summary.model == model)
        & (summary.framework == framework)
        & (summary.source == source)
        & (summary.metric == metric)
    ].iloc[0]


def describe_value(summary: pd.DataFrame, model, framework, source, metric) -> str:
    """ "0.412 (seeds [0.405, 0.419], videos [0.391, 0.433])" of one summary row."""
    row = summary_row(summary, model, framework, source, metric)
    return (
        f"{row['mean']:.3f} (seeds {_interval(row.seed_ci_low, row.seed_ci_high)}, "
        f"videos {_interval(row.video_ci_low, row.video_ci_high)})"
    )


def _difference(row) -> str:
    return (
        f"{row.mean_diff:+.3f} (seeds {_signed(row.ci_low, row.ci_high)}, "
        f"videos {_signed(row.video_ci_low, row.video_ci_high)}, Holm p = "
        + ("n/a" if not np.isfinite(row.p_holm) else f"{row.p_holm:.2g}")
        + f"): {row.verdict}"
    )


def reading(
    summary: pd.DataFrame,
    baselines: pd.DataFrame,
    rule_tests: pd.DataFrame,
    head_tests: pd.DataFrame | None = None,
    ranking: pd.DataFrame | None = None,
    metrics=("macro_f1", "strict_accuracy"),
    choose_from: pd.DataFrame | None = None,
) -> list[str]:
    """The chapter's reading, one markdown bullet per line, from the frames above: per metric
    the best rule of each model and framework with its intervals, how far the other rules are
    behind it (paired, Holm) and where it stands against the strongest baseline; the head
    against the best rule; the genre ranking of the models against their GAP ranking.  The
    best rule is the one ``compare_to_best`` was given: ``choose_from`` (the validate
    study's ``rule_means``), else the highest mean in ``summary`` itself."""
    chosen_on = "the rule chosen on validate" if choose_from is not None else "best rule"
    choose_from = summary if choose_from is None else choose_from
    lines = []
    for metric in metrics:
        name = METRIC_NAMES[metric]
        base = best_baseline(baselines, metric)
        lines.append(
            f"- **{name}**: the strongest baseline is the {base['baseline']}"
            + (f" ({base['rule']} rule)" if base["rule"] != "any" else "")
            + f", answering {base['genre']} for every video: {base[metric]:.3f}."
        )
        tests = rule_tests[rule_tests["metric"] == metric]
        for (model, framework), best in best_rules(choose_from, metric).items():
            where = f"{model} ({FRAMEWORK_NAMES.get(framework, framework)})"
            value = describe_value(summary, model, framework, best, metric)
            low = summary_row(summary, model, framework, best, metric)
            bounds = [v for v in (low.seed_ci_low, low.video_ci_low) if np.isfinite(v)]
            if bounds and min(bounds) > base[metric]:
                against = "above the baseline in both intervals"
            elif low["mean"] > base[metric]:
                against = "above the baseline on average, not in every interval"
            else:
                against = "not above the baseline"
            others = tests[(tests.model == model) & (tests.framework == framework)]
            behind = "; ".join(f"{row.a} {_difference(row)}" for row in others.itertuples())
            lines.append(
                f"  - {where}: {chosen_on} `{best}`, {value}, {against}. Other rules minus "
                f"`{best}`: {behind or 'none'}."
            )
    if head_tests is None or head_tests.empty:
        lines.append(
            "- **Trained genre head**: none in this study, so no rule is compared with one."
        )
    else:
        lines.append(f"- **Trained genre head against {chosen_on}** (head minus rule):")
        for row in head_tests.itertuples():
            lines.append(
                f"  - {METRIC_NAMES[row.metric]}, {row.model} "
                f"({FRAMEWORK_NAMES.get(row.framework, row.framework)}), head "
                f"{row.mean_a:.3f} against `{row.b}` {row.mean_b:.3f}: {_difference(row)}."
            )
    if ranking is not None:
        for row in ranking.itertuples():
            if row.relation == "one model":
                continue
            gap = " > ".join(f"{m} {v:.3f}" for m, v in zip(row.gap_order, row.gap_means))
            genre = " > ".join(f"{m} {v:.3f}" for m, v in zip(row.genre_order, row.genre_means))
            verdicts = "; ".join(
                f"{t['a']} - {t['b']} {t['mean_diff']:+.3f}, Holm p = "
                + ("n/a" if not np.isfinite(t["p_holm"]) else f"{t['p_holm']:.2g}")
                + f": {t['verdict']}"
                for t in row.tests
            )
            lines.append(
                f"- **Genre against GAP ranking** ({FRAMEWORK_NAMES.get(row.framework)}): by "
                f"class GAP {gap}; by {METRIC_NAMES[row.metric]} (`{row.source}`) {genre}: "
                f"{row.relation} (Kendall tau {row.tau:+.2f} over {len(row.genre_order)} "
                f"models). Genre difference between neighbours: {verdicts or 'n/a'}."
            )
    return lines

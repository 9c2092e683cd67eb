"""Genres: the thesis's question "which genre is this video?" answered from class scores.

A class's genre is its ``Vertical1`` in vocabulary.csv (24 categories + "(Unknown)" in the
2018 vocabulary; an empty ``Vertical1`` also counts as "(Unknown)").  Genres are ordered
alphabetically, with "(Unknown)" last; "genre index" below means that order.  The page
``docs/genres.md`` explains the same definitions with examples.

Ground truth (defined here once, used by every metric):

* **genre set** of a video (``true_genres``) = the genres of its labels;
* **majority genre** (``majority_genre``) = the genre holding most of its labels; on a tie
  the *lowest genre index* wins; a video without labels has none (-1).

Genre scores (``genre_scores``): class scores become one score per genre by a named rule,
over the classes of that genre:

* ``"max"`` (the default, and the rule of ``genre_accuracy`` and ``genre_confusion``): the
  largest class score - a genre is as likely as its most likely entity (a sum favours genres
  with many classes, such as Games with 734);
* ``"sum"``: the sum of the class scores;
* ``"noisy_or"``: 1 - prod(1 - p), the chance that at least one class is present if the
  classes were independent (scores must be probabilities, in [0, 1]);
* ``"topk_mean"``: the mean of the genre's k largest class scores (all its classes when it
  has fewer than k).

A video's **predicted genre** is its highest-scoring genre, lowest genre index on ties.

Metrics:

* **genre top-1 accuracy** (``genre_accuracy``, max rule) = the fraction of videos, among
  those with at least one label, whose predicted genre is in their genre set; ``genre_report``
  calls it ``lenient_accuracy`` and adds ``strict_accuracy`` (predicted genre == majority
  genre), per-genre precision/recall/F1/AP, averages, a genre-level GAP and two baselines
  (see ``genre_report``);
* **confusion matrix** (``genre_confusion``, max rule): rows = a video's majority genre,
  columns = its predicted genre; videos without labels are left out.

``genre_report_from_scores`` scores (N, G) genre scores directly (a trained genre head) with
the same ground truth, keys and baselines.

``report_summary`` cuts a report down to what ``yt8m evaluate`` prints under ``genre``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yt8m_lib.errors import DataError
from yt8m_lib.evaluation.arrays import as_arrays as _as_arrays
from yt8m_lib.evaluation.arrays import check_values as _check_values
from yt8m_lib.evaluation.arrays import chunk_rows as _chunk_rows
from yt8m_lib.evaluation.arrays import chunks as _chunks
from yt8m_lib.evaluation.ranking import global_average_precision

UNKNOWN_GENRE = "(Unknown)"
VOCABULARY_COLUMNS = (
    "Index",
    "TrainVideoCount",
    "KnowledgeGraphId",
    "Name",
    "WikiUrl",
    "Vertical1",
    "Vertical2",
    "Vertical3",
    "WikiDescription",
)
SYNTHETIC_GENRES = 8  # genres of the fallback vocabulary (a handful, so that errors are visible)


def _genre_order(name: str):
    return (name == UNKNOWN_GENRE, name)


@dataclass(frozen=True)
class Vocabulary:
    names: tuple[str, ...]  # class names, by class index
    genre_names: tuple[str, ...]  # alphabetical, "(Unknown)" last
    class_genre: np.ndarray  # int64 (C,): index into genre_names of each class

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def num_genres(self) -> int:
        return len(self.genre_names)

    @classmethod
    def from_genres(cls, names, genres) -> Vocabulary:
        """From class names and each class's genre name (in class index order)."""
        genres = [g.strip() or UNKNOWN_GENRE for g in genres]
        if len(genres) != len(names) or not names:
            raise ValueError("need one genre per class and at least one class")
        genre_names = tuple(sorted(set(genres), key=_genre_order))
        position = {g: i for i, g in enumerate(genre_names)}
        class_genre = np.array([position[g] for g in genres], dtype=np.int64)
        return cls(tuple(names), genre_names, class_genre)

    @classmethod
    def load(cls, path) -> Vocabulary:
        """Read vocabulary.csv (official columns; rows in any ``Index`` order, 0..C-1 once)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "vocabulary file not found")
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"Index", "Name", "Vertical1"} - set(reader.fieldnames or ())
            if missing:
                raise DataError(
                    path,
                    f"not a YouTube-8M vocabulary: missing column(s) {', '.join(sorted(missing))}",
                )
            rows = {}
            for line, row in enumerate(reader, start=2):
                try:
                    index = int(row["Index"])
                except (TypeError, ValueError):
                    raise DataError(
                        path, f"line {line}: Index {row['Index']!r} is not an integer"
                    ) from None
                if index in rows:
                    raise DataError(path, f"line {line}: Index {index} appears twice")
                rows[index] = (row["Name"] or "", row["Vertical1"] or "")
        if not rows:
            raise DataError(path, "vocabulary has no classes")
        if sorted(rows) != list(range(len(rows))):
            raise DataError(
                path,
                f"Index values must be 0..{len(rows) - 1}, each once; got "
                f"min {min(rows)}, max {max(rows)} over {len(rows)} rows",
            )
        names = [rows[i][0] for i in range(len(rows))]
        return cls.from_genres(names, [rows[i][1] for i in range(len(rows))])

    @classmethod
    def synthetic(cls, num_classes: int, num_genres: int = SYNTHETIC_GENRES) -> Vocabulary:
        """Fallback when there is no vocabulary.csv: classes split into contiguous, nearly
        equal blocks, one per genre ("Genre 00", "Genre 01", ...)."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        num_genres = max(1, min(num_genres, num_classes))
        genres = [f"Genre {c * num_genres // num_classes:02d}" for c in range(num_classes)]
        return cls.from_genres([f"Class {c}" for c in range(num_classes)], genres)

    def genre_of(self, class_index: int) -> str:
        return self.genre_names[self.class_genre[class_index]]

    def classes_by_genre(self) -> tuple[np.ndarray, np.ndarray]:
        """(column order grouping classes by genre, start of each genre in that order)."""
        order = np.argsort(self.class_genre, kind="stable")
        starts = np.searchsorted(self.class_genre[order], np.arange(self.num_genres))
        return order, starts


GENRE_RULES = ("max", "sum", "noisy_or", "topk_mean")


def _check_rule(rule, k) -> tuple[str, int]:
    if rule not in GENRE_RULES:
        raise ValueError(f"unknown genre rule {rule!r}; choose one of {', '.join(GENRE_RULES)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return rule, int(k)


def _genre_scores(p: np.ndarray, vocab: Vocabulary, rule: str = "max", k: int = 3) -> np.ndarray:
    order, starts = vocab.classes_by_genre()
    if rule == "max":  # in the scores' own dtype, as it always was
        return np.maximum.reduceat(p[:, order], starts, axis=1)
    q = p[:, order].astype(np.float64)
    if rule == "sum":
        return np.add.reduceat(q, starts, axis=1)
    if rule == "noisy_or":
        if ((q < 0) | (q > 1)).any():
            raise ValueError("the noisy_or rule needs probabilities: scores in [0, 1]")
        with np.errstate(divide="ignore"):  # a score of 1: log 0 = -inf, genre score 1
            # 1 - prod(1 - p), through logs: exact also for tiny p
            return -np.expm1(np.add.reduceat(np.log1p(-q), starts, axis=1))
    ends = np.append(starts[1:], q.shape[1])  # topk_mean; every genre has at least one class
    out = np.empty((q.shape[0], starts.size))
    for g, (start, end) in enumerate(zip(starts, ends)):
        size = end - start
        kept = size - min(k, size)
        out[:, g] = np.partition(q[:, start:end], kept, axis=1)[:, kept:].mean(axis=1)
    return out


def _genre_label_counts(y: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    order, starts = vocab.classes_by_genre()
    return np.add.reduceat(y[:, order].astype(np.int32), starts, axis=1)


def _majority(counts: np.ndarray) -> np.ndarray:
    """Genre index with the most labels (argmax: lowest index on ties); -1 without labels."""
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)


def _checked(array, vocab: Vocabulary, what: str) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim != 2 or a.shape[1] != vocab.num_classes:
        raise ValueError(f"{what} must be (N, {vocab.num_classes}), got {a.shape}")
    return a


def genre_scores(predictions, vocab: Vocabulary, rule: str = "max", k: int = 3) -> np.ndarray:
    """(N, G) genre scores of (N, C) class scores by ``rule`` (see the module docstring):
    ``"max"`` (default; keeps the scores' dtype), ``"sum"``, ``"noisy_or"`` or ``"topk_mean"``
    (mean of the genre's ``k`` largest class scores); the other rules give float64."""
    rule, k = _check_rule(rule, k)
    return _genre_scores(_checked(predictions, vocab, "predictions"), vocab, rule, k)


def true_genres(labels, vocab: Vocabulary) -> np.ndarray:
    """(N, G) bool: each video's genre set, the genres of its labels."""
    return _genre_label_counts(_checked(labels, vocab, "labels") == 1, vocab) > 0


def majority_genre(labels, vocab: Vocabulary) -> np.ndarray:
    """(N,) int: the genre holding most of a video's labels; on a tie the lowest genre index
    (alphabetical order, "(Unknown)" last) wins; -1: the video has no labels."""
    return _majority(_genre_label_counts(_checked(labels, vocab, "labels") == 1, vocab))


@dataclass(frozen=True, eq=False)
class GenrePrior:
    """Training-set frequencies for the baselines of ``genre_report``.

    ``class_frequency`` (C,): fraction of the training videos that carry each class;
    ``genre_frequency`` (G,): fraction of the labelled training videos whose majority genre is
    each genre; ``source``: where they come from, written into the report.
    """

    class_frequency: np.ndarray
    genre_frequency: np.ndarray
    num_videos: int
    source: str = "training labels"

    @classmethod
    def from_labels(cls, labels, vocab: Vocabulary, source: str = "training labels") -> GenrePrior:
        """From (N, C) 0/1 training labels, or an iterable of such batches (a whole training
        set need not fit in memory)."""
        one = isinstance(labels, np.ndarray) or (
            isinstance(labels, (list, tuple)) and len(labels) > 0 and np.ndim(labels[0]) == 1
        )
        batches = [labels] if one else labels
        class_counts = np.zeros(vocab.num_classes, dtype=np.int64)
        genre_counts = np.zeros(vocab.num_genres, dtype=np.int64)
        num_videos = 0
        for batch in batches:
            y = _checked(batch, vocab, "training labels")
            step = _chunk_rows(vocab.num_classes)
            for start in range(0, y.shape[0], step):  # bounded temporaries
                yc = y[start : start + step]
                _check_values(np.zeros(yc.shape[:1] + (0,)), yc, start)  # labels 0 or 1
                yc = yc == 1
                class_counts += np.count_nonzero(yc, axis=0)
                majority = _majority(_genre_label_counts(yc, vocab))
                genre_counts += np.bincount(majority[majority >= 0], minlength=vocab.num_genres)
            num_videos += y.shape[0]
        if num_videos == 0:
            raise ValueError("no training videos")
        return cls(
            class_counts / num_videos, genre_counts / max(1, genre_counts.sum()), num_videos, source
        )


def _check_prior(prior, vocab: Vocabulary):
    if prior is None:
        return None
    if not isinstance(prior, GenrePrior):
        raise ValueError(f"genre_prior must be a GenrePrior, got {type(prior).__name__}")
    if prior.class_frequency.shape != (vocab.num_classes,) or prior.genre_frequency.shape != (
        vocab.num_genres,
    ):
        raise ValueError(
            f"the genre prior has {prior.class_frequency.shape} classes and "
            f"{prior.genre_frequency.shape} genres, the vocabulary "
            f"{vocab.num_classes} and {vocab.num_genres}"
        )
    return prior


def _ratio(numerator, denominator):
    return float(numerator / denominator) if denominator else None


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _average_precision(scores: np.ndarray, relevant: np.ndarray):
    """AP of 1-D scores vs bool relevance: sum over the distinct score thresholds, highest
    first, of (recall gain) x (precision at that threshold).  Equal scores form one block, so
    the result does not depend on the order of tied entries (a constant score gives the
    prevalence).  None without relevant entries."""
    positives = int(np.count_nonzero(relevant))
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    hits = np.cumsum(relevant[order])
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # end of each tie block
    hits_at = hits[last]
    gains = np.diff(hits_at, prepend=0)
    return float(np.sum(gains * (hits_at / (last + 1.0))) / positives)


def _summary(
    scores: np.ndarray,
    sets: np.ndarray,
    majority: np.ndarray,
    vocab: Vocabulary,
    per_genre: bool = True,
) -> dict:
    """The metrics of ``genre_report`` from (N, G) genre scores, genre sets and majority genres."""
    num_genres = vocab.num_genres
    labelled = majority >= 0
    num_labelled = int(labelled.sum())
    predicted = scores.argmax(axis=1)[labelled]  # lowest genre index on ties
    truth = majority[labelled]
    correct = predicted == truth
    true_positives = np.bincount(truth[correct], minlength=num_genres)
    predicted_count = np.bincount(predicted, minlength=num_genres)
    support = np.bincount(truth, minlength=num_genres)
    positives = np.count_nonzero(sets, axis=0)
    rows = []
    for g in range(num_genres):
        precision = float(true_positives[g] / predicted_count[g]) if predicted_count[g] else 0.0
        recall = _ratio(true_positives[g], support[g])
        f1 = (
            None
            if recall is None
            else (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        )
        rows.append(
            {
                "genre": vocab.genre_names[g],
                "support": int(support[g]),
                "positives": int(positives[g]),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "ap": _average_precision(scores[:, g], sets[:, g]),
            }
        )
    supported = [row for row in rows if row["support"]]
    strict = _ratio(int(correct.sum()), num_labelled)
    out = {
        "num_videos": int(scores.shape[0]),
        "num_labelled": num_labelled,
        "strict_accuracy": strict,
        "lenient_accuracy": _ratio(
            int(sets[labelled][np.arange(num_labelled), predicted].sum()), num_labelled
        ),
        "macro": {
            "precision": _mean([r["precision"] for r in supported]),
            "recall": _mean([r["recall"] for r in supported]),
            "f1": _mean([r["f1"] for r in supported]),
            "ap": _mean([r["ap"] for r in rows]),
        },
        # one predicted and one true genre per labelled video: micro P = R = F1 = strict
        "micro": {
            "precision": strict,
            "recall": strict,
            "f1": strict,
            "ap": _average_precision(scores.ravel(), sets.ravel()),
        },
        "gap": global_average_precision(scores, sets, top_k=num_genres),
    }
    if per_genre:
        out["per_genre"] = rows
    return out


def _baselines(
    vocab: Vocabulary,
    rule: str,
    k: int,
    sets: np.ndarray,
    majority: np.ndarray,
    prior: GenrePrior | None,
    evaluated_class_counts: np.ndarray,
) -> dict:
    if prior is None:  # no training labels: the evaluated set's own frequencies (optimistic)
        labelled = majority[majority >= 0]
        prior = GenrePrior(
            evaluated_class_counts / sets.shape[0],
            np.bincount(labelled, minlength=vocab.num_genres) / max(1, labelled.size),
            sets.shape[0],
            "evaluated set (no training labels given)",
        )
    shape = sets.shape
    top = int(np.argmax(prior.genre_frequency))  # lowest index on ties
    constant = np.zeros(vocab.num_genres)
    constant[top] = 1.0
    label_prior = _genre_scores(prior.class_frequency[None, :].astype(np.float64), vocab, rule, k)[
        0
    ]
    return {
        "source": prior.source,
        "num_source_videos": int(prior.num_videos),
        "most_frequent_genre": {
            "genre": vocab.genre_names[top],
            "frequency": float(prior.genre_frequency[top]),
            **_summary(np.broadcast_to(constant, shape), sets, majority, vocab, per_genre=False),
        },
        "label_prior": {
            "genre": vocab.genre_names[int(np.argmax(label_prior))],
            **_summary(np.broadcast_to(label_prior, shape), sets, majority, vocab, per_genre=False),
        },
    }


class GenreCounts:
    """Accumulates, batch by batch, genre hits and the confusion matrix (max rule) and, for
    ``report``, each video's genre scores under ``rule``, genre set and majority genre (N x G
    floats) plus per-class label counts.  Used by ``metrics.StreamingEvaluator`` and the
    whole-array functions here; inputs of ``add`` are validated arrays, labels bool."""

    def __init__(
        self, vocab: Vocabulary, rule: str = "max", k: int = 3, prior: GenrePrior | None = None
    ):
        self.vocab = vocab
        self.rule, self.k = _check_rule(rule, k)
        self.prior = _check_prior(prior, vocab)
        self.confusion = np.zeros((vocab.num_genres, vocab.num_genres), dtype=np.int64)
        self.hits = 0
        self.num_labelled = 0
        self.class_counts = np.zeros(vocab.num_classes, dtype=np.int64)
        self._scores: list[np.ndarray] = []
        self._sets: list[np.ndarray] = []
        self._majority: list[np.ndarray] = []

    def add(self, p: np.ndarray, y: np.ndarray) -> None:
        max_scores = _genre_scores(p, self.vocab)
        # the rule's scores first: a noisy_or refusal leaves the counts untouched
        scores = (
            max_scores if self.rule == "max" else _genre_scores(p, self.vocab, self.rule, self.k)
        )
        predicted = max_scores.argmax(axis=1)
        counts = _genre_label_counts(y, self.vocab)
        labelled = counts.sum(axis=1) > 0
        rows = np.flatnonzero(labelled)
        self.hits += int((counts[rows, predicted[rows]] > 0).sum())
        self.num_labelled += rows.size
        np.add.at(self.confusion, (counts[rows].argmax(axis=1), predicted[rows]), 1)
        self.class_counts += np.count_nonzero(y, axis=0)
        self._scores.append(scores.astype(np.float64))
        self._sets.append(counts > 0)
        self._majority.append(_majority(counts))

    def accuracy(self) -> float:
        """Genre top-1 accuracy; NaN when no video had a label."""
        return self.hits / self.num_labelled if self.num_labelled else float("nan")

    def report(self) -> dict:
        """The ``genre_report`` dict of everything added so far (baselines from ``prior``)."""
        if not self._scores:
            raise ValueError("no videos (empty set)")
        scores = np.concatenate(self._scores)
        sets = np.concatenate(self._sets)
        majority = np.concatenate(self._majority)
        out = {"rule": self.rule, "k": self.k if self.rule == "topk_mean" else None}
        out.update(_summary(scores, sets, majority, self.vocab))
        out["baselines"] = _baselines(
            self.vocab, self.rule, self.k, sets, majority, self.prior, self.class_counts
        )
        return out


def _counted(
    predictions,
    labels,
    vocab: Vocabulary,
    rule: str = "max",
    k: int = 3,
    prior: GenrePrior | None = None,
) -> GenreCounts:
    counts = GenreCounts(vocab, rule, k, prior)  # checks the rule and prior before the arrays
    p, y = _as_arrays(predictions, labels)
    if p.shape[1] != vocab.num_classes:
        raise ValueError(f"{p.shape[1]} classes, but the vocabulary has {vocab.num_classes}")
    if p.shape[0] == 0:
        raise ValueError("no videos (empty set)")
    for _, pc, yc in _chunks(p, y):  # validated row chunks: bounded temporaries
        counts.add(pc, yc)
    return counts


def genre_accuracy(predictions, labels, vocab: Vocabulary) -> float:
    """Fraction of labelled videos whose top genre is among their true genres (NaN if none)."""
    return _counted(predictions, labels, vocab).accuracy()


def genre_confusion(predictions, labels, vocab: Vocabulary):
    """pandas DataFrame of counts: rows majority true genre, columns predicted top genre."""
    import pandas as pd

    matrix = _counted(predictions, labels, vocab).confusion
    names = list(vocab.genre_names)
    return pd.DataFrame(
        matrix,
        index=pd.Index(names, name="true genre"),
        columns=pd.Index(names, name="predicted genre"),
    )


def genre_report(
    predictions,
    labels,
    vocab: Vocabulary,
    rule: str = "max",
    *,
    k: int = 3,
    train_labels=None,
    genre_prior: GenrePrior | None = None,
) -> dict:
    """Genre metrics of (N, C) class scores and 0/1 labels, as a JSON-ready dict.

    Genre scores come from ``rule`` (``k`` for ``"topk_mean"``); the predicted genre is the
    highest-scoring one (lowest genre index on ties).  Keys:

    * ``rule``, ``k`` (None unless ``topk_mean``), ``num_videos``, ``num_labelled`` (videos
      with at least one label);
    * ``strict_accuracy``: predicted genre == majority genre; ``lenient_accuracy``: predicted
      genre in the genre set (equal to ``genre_accuracy`` under the max rule); both over the
      labelled videos, so strict <= lenient always;
    * ``per_genre``: one dict per genre, in genre order: ``genre``, ``support`` (labelled
      videos whose majority genre it is), ``positives`` (videos whose genre set holds it),
      ``precision``, ``recall``, ``f1`` - single-label view, predicted vs majority genre,
      labelled videos only; precision 0.0 when the genre is never predicted, recall and F1
      None without support - and ``ap``: multi-label view, the genre's score ranking all
      videos against membership of the genre set (equal scores count as one block: a constant
      score gives the prevalence); None without positives;
    * ``macro``: unweighted means of precision, recall and F1 over the genres *with support*,
      and of AP over the genres with positives (genres without are left out);
    * ``micro``: precision = recall = F1 = ``strict_accuracy`` (one predicted and one true
      genre per labelled video) and ``ap`` over all (video, genre) pairs pooled;
    * ``gap``: ``metrics.gap`` of the genre scores vs the genre sets with top_k = the number
      of genres (every pair kept; equal scores in video order, as there); it equals micro AP
      when no scores are tied.  AP, micro AP and GAP count every video: one without labels is
      a negative for every genre, as in the official GAP;
    * ``baselines``: ``source`` of the frequencies, ``num_source_videos``, and two summaries
      (the keys above but ``per_genre``, plus the ``genre`` they predict):
      ``most_frequent_genre`` (every video gets the genre that is most often the majority
      genre, with its ``frequency``) and ``label_prior`` (every video scored with each class's
      frequency, turned into genre scores by the same rule).  The frequencies come from
      ``train_labels`` ((N, C) 0/1 or an iterable of batches) or ``genre_prior``; with
      neither, from the evaluated set itself, and ``source`` says so (such a baseline has
      seen the answers: an upper bound on what a constant predictor could do).

    Undefined values (no labelled video, no support, no positives) are None, never NaN.
    """
    if train_labels is not None and genre_prior is not None:
        raise ValueError("give train_labels or genre_prior, not both")
    if train_labels is not None:
        genre_prior = GenrePrior.from_labels(train_labels, vocab)
    return _counted(predictions, labels, vocab, rule, k, genre_prior).report()


def genre_report_from_scores(
    genre_scores,
    labels,
    vocab: Vocabulary,
    *,
    rule: str = "head",
    train_labels=None,
    genre_prior: GenrePrior | None = None,
) -> dict:
    """``genre_report`` of (N, G) *genre* scores (columns in genre order), such as a trained
    genre head's outputs or ``genre_scores`` of some rule, against (N, C) 0/1 *class* labels:
    the same ground truth (genre sets and majority genres from the class labels), the same
    keys and the same two baselines, so a head and a rule are scored alike.  ``rule`` only
    names the source in the report; the label-prior baseline uses the max rule."""
    if train_labels is not None and genre_prior is not None:
        raise ValueError("give train_labels or genre_prior, not both")
    if train_labels is not None:
        genre_prior = GenrePrior.from_labels(train_labels, vocab)
    prior = _check_prior(genre_prior, vocab)
    scores = np.asarray(genre_scores, dtype=np.float64)
    y = _checked(labels, vocab, "labels")
    if scores.ndim != 2 or scores.shape != (y.shape[0], vocab.num_genres):
        raise ValueError(
            f"genre scores must be (N, {vocab.num_genres}) for {y.shape[0]} videos, "
            f"got {scores.shape}"
        )
    if scores.shape[0] == 0:
        raise ValueError("no videos (empty set)")
    if not np.isfinite(scores).all():
        raise ValueError("genre scores hold NaN or infinity")
    _check_values(np.zeros(y.shape[:1] + (0,)), y, 0)  # labels 0 or 1
    y = y == 1
    counts = _genre_label_counts(y, vocab)
    sets, majority = counts > 0, _majority(counts)
    out = {"rule": rule, "k": None}
    out.update(_summary(scores, sets, majority, vocab))
    out["baselines"] = _baselines(
        vocab, "max", 3, sets, majority, prior, np.count_nonzero(y, axis=0)
    )
    return out


def _headline(report: dict) -> dict:
    return {
        "strict_accuracy": report["strict_accuracy"],
        "lenient_accuracy": report["lenient_accuracy"],
        "macro_f1": report["macro"]["f1"],
        "micro_f1": report["micro"]["f1"],
    }


def report_summary(report: dict) -> dict:
    """The genre block ``yt8m evaluate`` prints, from a ``genre_report`` dict (the run record
    keeps the whole report): ``rule`` (and ``k`` for ``topk_mean``), ``num_labelled``,
    ``strict_accuracy``, ``lenient_accuracy``, ``macro_f1``, ``micro_f1`` (= strict accuracy),
    ``macro_ap``, ``gap``, ``baselines`` (``source``, ``num_source_videos`` and, for
    ``most_frequent_genre`` and ``label_prior``, the ``genre`` predicted, the most frequent
    genre's ``frequency`` and the four headline numbers) and ``per_genre`` (the report's rows)."""
    base = report["baselines"]
    out = {"rule": report["rule"]}
    if report.get("k") is not None:
        out["k"] = report["k"]
    return {
        **out,
        "num_labelled": report["num_labelled"],
        **_headline(report),
        "macro_ap": report["macro"]["ap"],
        "gap": report["gap"],
        "baselines": {
            "source": base["source"],
            "num_source_videos": base["num_source_videos"],
            "most_frequent_genre": {
                "genre": base["most_frequent_genre"]["genre"],
                "frequency": base["most_frequent_genre"]["frequency"],
                **_headline(base["most_frequent_genre"]),
            },
            "label_prior": {
                "genre": base["label_prior"]["genre"],
                **_headline(base["label_prior"]),
            },
        },
        "per_genre": report["per_genre"],
    }

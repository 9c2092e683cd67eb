"""The official YouTube-8M metrics (2018 challenge definitions), one numpy implementation.

Every model of both frameworks is scored by this module, so no difference in the comparison
can come from two metric implementations.  ``predictions`` and ``labels`` are (N, C) arrays:
scores (any real numbers, usually probabilities) and labels in {0, 1} (bool, int or float).

Definitions (the reference is the 2018 starter code's ``eval_util.py`` and
``average_precision_calculator.py``):

* **Hit@1**: fraction of videos whose top-scored class is one of their labels.
* **PERR** (precision at equal recall rate): for a video with n labels, the fraction of its
  n top-scored classes that are labels; mean over all videos, a video without labels counts 0.
  (The starter code also ignores classes scored <= 0; scores here are probabilities, which
  are > 0, and this module does not add that quirk.)
* **GAP@k**: keep each video's top-k (class, score) pairs, pool them over the whole set, sort
  by score descending and compute AP = sum_i precision@i * rel_i / P, where P counts *every*
  label of the set, including those outside any video's top k.
* **mAP@k**: for each class, the AP over that class's entries among the kept top-k pairs,
  divided by the class's full positive count; mean over the classes with at least one positive.

Tie-breaking (the starter code leaves it to ``np.argpartition`` and a random shuffle; here it
is deterministic, so that results never depend on batch sizes or chunking):

* within a video, classes are ranked by score descending and, for equal scores, by class
  index ascending - the lowest class index wins (Hit@1 = ``np.argmax``; the top-k set and
  the top-n set of PERR follow the same order);
* in the pooled GAP/mAP list, equal scores keep their pooled order: video order, then rank
  within the video (a stable sort).

Bad input (different shapes, not 2-D, no videos or no classes, NaN or infinite scores,
labels other than 0/1, top_k < 1) raises ``ValueError`` with a message saying what is wrong.

``StreamingEvaluator`` accumulates batch by batch, keeping only each video's top-k pairs and
per-class positive counts (memory O(N*k), not O(N*C)), and gives exactly the numbers of the
whole-array functions; with a vocabulary it also scores genres (``yt8m_lib.evaluation.genres``).
"""

from __future__ import annotations

import math

import numpy as np

from yt8m_lib.evaluation import genres
from yt8m_lib.evaluation.arrays import as_arrays as _as_arrays
from yt8m_lib.evaluation.arrays import check_top_k as _check_top_k
from yt8m_lib.evaluation.arrays import chunks as _chunks
from yt8m_lib.evaluation.ranking import gap_from_pooled, pooled_order, top_k_sorted

METRIC_KEYS = ("gap", "hit_at_1", "perr", "map", "num_videos")


def _map_from_pooled(
    classes: np.ndarray, scores: np.ndarray, hits: np.ndarray, positives_per_class: np.ndarray
) -> float:
    num_classes = positives_per_class.size
    order = pooled_order(scores)
    cls = classes.ravel()[order]
    rel = hits.ravel()[order]
    # regroup by class, keeping the score-descending pooled order inside each class
    by_class = np.argsort(cls, kind="stable")
    cls, rel = cls[by_class], rel[by_class]
    starts = np.searchsorted(cls, np.arange(num_classes))
    position = np.arange(cls.size) - starts[cls]  # rank within the class, from 0
    cum_hits = np.cumsum(rel)
    hits_before_class = np.concatenate([[0], cum_hits])[starts]
    hits_within = cum_hits - hits_before_class[cls]
    precision = np.where(rel, hits_within / (position + 1.0), 0.0)
    ap_sum = np.bincount(cls, weights=precision, minlength=num_classes)
    has_positives = positives_per_class > 0
    if not has_positives.any():
        return 0.0
    return float(np.mean(ap_sum[has_positives] / positives_per_class[has_positives]))


class StreamingEvaluator:
    """Accumulates batches of (predictions, labels); ``result()`` equals the whole-array metrics.

    Keeps per video only its top-k classes, scores (float64) and hits, plus per-class positive
    counts and running sums for Hit@1 and PERR.  With ``vocabulary`` (a
    ``yt8m_lib.evaluation.genres.Vocabulary`` or a path to vocabulary.csv) it also accumulates genre
    top-1 accuracy and the genre confusion matrix, and ``result()["genre"]`` is the
    ``genres.genre_report`` of the whole set, with genre scores by ``genre_rule`` (``genre_k``
    for ``"topk_mean"``) and baselines from ``genre_prior`` (a ``genres.GenrePrior`` of the
    training labels; without it, from the evaluated set, as the report says).
    """

    def __init__(
        self,
        num_classes: int,
        top_k: int = 20,
        vocabulary=None,
        genre_rule: str = "max",
        genre_k: int = 3,
        genre_prior=None,
    ):
        if (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, (int, np.integer))
            or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.top_k = _check_top_k(top_k)
        self._k = min(self.top_k, self.num_classes)
        self._classes: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._hits: list[np.ndarray] = []
        self._positives = np.zeros(self.num_classes, dtype=np.int64)
        self._hit_count = 0
        self._perr: list[np.ndarray] = []  # per video; summed exactly (math.fsum) at the end
        self.num_videos = 0
        self.vocabulary = None
        if vocabulary is not None:
            if not isinstance(vocabulary, genres.Vocabulary):
                vocabulary = genres.Vocabulary.load(vocabulary)
            if vocabulary.num_classes != self.num_classes:
                raise ValueError(
                    f"the vocabulary has {vocabulary.num_classes} classes, "
                    f"the evaluator {self.num_classes}"
                )
            self.vocabulary = vocabulary
            self._genre_counts = genres.GenreCounts(vocabulary, genre_rule, genre_k, genre_prior)

    def add(self, predictions, labels) -> None:
        """Add one batch; an empty batch (0, C) is ignored."""
        p, y = _as_arrays(predictions, labels)
        if p.shape[1] != self.num_classes:
            raise ValueError(f"batch has {p.shape[1]} classes, the evaluator {self.num_classes}")
        for _, pc, yc in _chunks(p, y):
            self._add_chunk(pc, yc)
        self.num_videos += p.shape[0]

    def _add_chunk(self, p: np.ndarray, y: np.ndarray) -> None:
        if self.vocabulary is not None:  # first: a genre rule's refusal leaves no partial chunk
            self._genre_counts.add(p, y)
        rows = np.arange(p.shape[0])[:, None]
        num_labels = np.count_nonzero(y, axis=1)
        # one ranking serves all metrics: top max(k, most labels of a video) classes
        depth = min(self.num_classes, max(self._k, int(num_labels.max(initial=0))))
        ranked = top_k_sorted(p, depth)
        ranked_hits = y[rows, ranked]

        self._hit_count += int(ranked_hits[:, 0].sum())
        within_n = np.arange(depth)[None, :] < num_labels[:, None]
        perr_hits = np.count_nonzero(ranked_hits & within_n, axis=1)
        self._perr.append(perr_hits / np.maximum(num_labels, 1))

        top = ranked[:, : self._k]
        self._classes.append(top.astype(np.int32))
        self._scores.append(p[rows, top].astype(np.float64))
        self._hits.append(ranked_hits[:, : self._k].copy())
        self._positives += np.count_nonzero(y, axis=0)

    def result(self) -> dict:
        if self.num_videos == 0:
            raise ValueError("no videos were evaluated (empty set)")
        classes = np.concatenate(self._classes)
        scores = np.concatenate(self._scores)
        hits = np.concatenate(self._hits)
        out = {
            "gap": gap_from_pooled(scores, hits, int(self._positives.sum())),
            "hit_at_1": self._hit_count / self.num_videos,
            # an exact sum: the result must not depend on how the set was split into batches
            "perr": math.fsum(np.concatenate(self._perr).tolist()) / self.num_videos,
            "map": _map_from_pooled(classes, scores, hits, self._positives),
            "num_videos": int(self.num_videos),
        }
        if self.vocabulary is not None:
            out["genre_accuracy"] = self._genre_counts.accuracy()
            out["genre_confusion"] = self._genre_counts.confusion.tolist()
            out["genres"] = list(self.vocabulary.genre_names)
            out["genre"] = self._genre_counts.report()
        return out


def _evaluate(predictions, labels, top_k: int) -> dict:
    top_k = _check_top_k(top_k)
    p, y = _as_arrays(predictions, labels)
    if p.shape[0] == 0:
        raise ValueError("no videos to evaluate (empty set)")
    evaluator = StreamingEvaluator(p.shape[1], top_k)
    evaluator.add(p, y)
    return evaluator.result()


def gap(predictions, labels, top_k: int = 20) -> float:
    """Global average precision over each video's top-k pairs (denominator: all labels)."""
    return _evaluate(predictions, labels, top_k)["gap"]


def mean_ap(predictions, labels, top_k: int = 20) -> float:
    """Mean over classes with positives of the per-class AP over the kept top-k pairs."""
    return _evaluate(predictions, labels, top_k)["map"]


def perr(predictions, labels) -> float:
    """Precision at equal recall rate, mean over videos (no labels: 0)."""
    return _evaluate(predictions, labels, 1)["perr"]


def hit_at_one(predictions, labels) -> float:
    """Fraction of videos whose arg-max class (lowest index on ties) is a label."""
    p, y = _as_arrays(predictions, labels)
    if p.shape[0] == 0:
        raise ValueError("no videos to evaluate (empty set)")
    hits = 0
    for _, pc, yc in _chunks(p, y):
        hits += int(yc[np.arange(pc.shape[0]), np.argmax(pc, axis=1)].sum())
    return hits / p.shape[0]


def evaluate_all(predictions, labels, top_k: int = 20) -> dict:
    """{"gap", "hit_at_1", "perr", "map", "num_videos"} of a whole (N, C) set."""
    return _evaluate(predictions, labels, top_k)

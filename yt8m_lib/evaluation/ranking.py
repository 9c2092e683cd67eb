"""Ranking pieces of the official metrics: each video's top-k classes in rank order, and
the global average precision of pooled (score, hit) pairs. A module of its own so that the
metrics and the genre scores both use them without importing each other."""

from __future__ import annotations

import numpy as np

from yt8m_lib.evaluation.arrays import as_arrays, check_top_k, chunks


def top_k_sorted(scores: np.ndarray, k: int) -> np.ndarray:
    """Class indices (rows, min(k, C)) of each row's top-k scores, in rank order.

    Rank order: score descending, then class index ascending (the lowest index wins a tie,
    also at the boundary of the top-k set).  Uses ``np.partition`` (O(C) per row) to find
    the k-th score; rows where that score is tied with scores left outside fall back to a
    stable full sort.
    """
    rows, num_classes = scores.shape
    k = min(k, num_classes)
    if k == num_classes:
        return np.argsort(-scores, axis=1, kind="stable")
    kth = np.partition(scores, num_classes - k, axis=1)[:, num_classes - k, None]
    above = scores >= kth
    exact = np.count_nonzero(above, axis=1) == k  # no tie with the k-th left outside
    # flat positions list a row's columns in ascending order: class index order
    if exact.all():
        candidates = (np.flatnonzero(above) % num_classes).reshape(rows, k)
    else:  # ties at the boundary: lowest class indices win, by a stable sort of those rows
        candidates = np.empty((rows, k), dtype=np.int64)
        candidates[exact] = (np.flatnonzero(above[exact]) % num_classes).reshape(-1, k)
        candidates[~exact] = np.argsort(-scores[~exact], axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(scores, candidates, axis=1)
    order = np.argsort(-chosen, axis=1, kind="stable")  # ties keep class index order
    return np.take_along_axis(candidates, order, axis=1)


def pooled_order(scores: np.ndarray) -> np.ndarray:
    """Order of the pooled (row-major) top-k entries: score descending, stable."""
    return np.argsort(-scores.ravel(), kind="stable")


def gap_from_pooled(scores: np.ndarray, hits: np.ndarray, num_positives: int) -> float:
    if num_positives == 0:
        return 0.0  # as the starter code: no positives, AP 0
    rel = hits.ravel()[pooled_order(scores)]
    ranks = np.flatnonzero(rel) + 1.0
    precision_at_hits = np.arange(1, ranks.size + 1) / ranks
    return float(precision_at_hits.sum() / num_positives)


def global_average_precision(predictions, labels, top_k: int = 20) -> float:
    """GAP@k of a whole (N, C) set: each video's top-k (class, score) pairs pooled and
    sorted by score, divided by every positive of the set (the official definition; equal
    to ``metrics.gap``)."""
    top_k = check_top_k(top_k)
    p, y = as_arrays(predictions, labels)
    if p.shape[0] == 0:
        raise ValueError("no videos to evaluate (empty set)")
    scores, hits, positives = [], [], 0
    for _, pc, yc in chunks(p, y):
        top = top_k_sorted(pc, top_k)
        rows = np.arange(pc.shape[0])[:, None]
        scores.append(pc[rows, top].astype(np.float64))
        hits.append(yc[rows, top])
        positives += int(np.count_nonzero(yc))
    return gap_from_pooled(np.concatenate(scores), np.concatenate(hits), positives)

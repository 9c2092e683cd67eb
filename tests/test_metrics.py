"""The official YouTube-8M metrics: hand-computed cases, a literal slow reference, streaming."""

import numpy as np
import pytest

from yt8m_lib.evaluation import arrays, metrics
from yt8m_lib.evaluation.genres import Vocabulary
from yt8m_lib.evaluation.metrics import (
    StreamingEvaluator,
    evaluate_all,
    gap,
    hit_at_one,
    mean_ap,
    perr,
)

# Two videos, three classes; video 0's label 2 lies outside its top 2.
P2 = np.array([[0.9, 0.6, 0.1], [0.8, 0.3, 0.7]])
Y2 = np.array([[1, 0, 1], [0, 0, 1]])


# ---------------------------------------------------------------- slow reference (loops)


def _ranked(row, k):
    """Classes by score descending, lowest index first on ties."""
    return sorted(range(len(row)), key=lambda c: (-row[c], c))[:k]


def _ap(entries, positives):
    """AP of (score, label) entries sorted by score (stable), over `positives` positives."""
    entries = sorted(entries, key=lambda e: -e[0])
    hits, total = 0, 0.0
    for i, (_, label) in enumerate(entries, start=1):
        if label:
            hits += 1
            total += hits / i
    return total / positives if positives else 0.0


def reference(p, y, k):
    pooled, per_class = [], [[] for _ in range(p.shape[1])]
    for v in range(p.shape[0]):
        for c in _ranked(p[v], k):
            pooled.append((p[v, c], y[v, c]))
            per_class[c].append((p[v, c], y[v, c]))
    perr_sum = 0.0
    for v in range(p.shape[0]):
        n = int(y[v].sum())
        if n:
            perr_sum += sum(y[v, c] for c in _ranked(p[v], n)) / n
    aps = [_ap(per_class[c], y[:, c].sum()) for c in range(p.shape[1]) if y[:, c].sum() > 0]
    return {
        "gap": _ap(pooled, y.sum()),
        "hit_at_1": float(np.mean([y[v, _ranked(p[v], 1)[0]] for v in range(p.shape[0])])),
        "perr": perr_sum / p.shape[0],
        "map": float(np.mean(aps)) if aps else 0.0,
    }


# ---------------------------------------------------------------- hand-computed cases


def test_gap_denominator_counts_labels_outside_the_top_k():
    # pooled top-2: 0.9 hit, 0.8 miss, 0.7 hit, 0.6 miss; 3 labels in all (one never retrieved)
    assert gap(P2, Y2, top_k=2) == pytest.approx((1 / 1 + 2 / 3) / 3)


def test_gap_with_top_k_larger_than_the_number_of_classes_keeps_every_class():
    # all six pairs: hits at ranks 1, 3 and 6
    assert gap(P2, Y2, top_k=100) == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)
    assert gap(P2, Y2, top_k=100) == gap(P2, Y2, top_k=3)


def test_gap_ties_in_the_pooled_list_keep_video_order():
    p = np.array([[0.5, 0.1], [0.5, 0.2]])
    y = np.array([[0, 0], [1, 0]])
    assert gap(p, y, top_k=1) == pytest.approx(1 / 2)  # the miss of video 0 ranks first
    assert gap(p[::-1], y[::-1], top_k=1) == pytest.approx(1.0)


def test_gap_of_a_set_without_labels_is_zero():
    assert gap(P2, np.zeros_like(Y2)) == 0.0


def test_mean_ap_skips_classes_without_positives_and_divides_by_all_positives():
    # class 0: entries 0.9 hit, 0.8 miss, 1 positive -> AP 1
    # class 1: no positives -> not averaged (it would pull the mean to 0.5)
    # class 2: one retrieved entry 0.7 hit, 2 positives -> AP 1/2
    assert mean_ap(P2, Y2, top_k=2) == pytest.approx((1.0 + 0.5) / 2)


def test_hit_at_one_breaks_ties_by_lowest_class_index():
    p = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.1], [0.1, 0.3, 0.2]])
    assert hit_at_one(p, np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])) == pytest.approx(1 / 3)
    assert hit_at_one(p, np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1]])) == pytest.approx(2 / 3)


def test_perr_counts_a_video_without_labels_as_zero():
    p = np.array(
        [
            [0.9, 0.8, 0.1, 0.7],  # 2 labels, top 2 = {0, 1}: 1/2
            [0.1, 0.2, 0.9, 0.3],  # no labels: 0
            [0.1, 0.2, 0.9, 0.3],
        ]
    )  # 1 label, top 1 = {2}: 1
    y = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]])
    assert perr(p, y) == pytest.approx((0.5 + 0 + 1) / 3)


def test_perr_breaks_ties_at_the_boundary_by_lowest_class_index():
    p = np.full((1, 3), 0.5)
    assert perr(p, np.array([[0, 1, 0]])) == 0.0
    assert perr(p, np.array([[1, 0, 0]])) == 1.0


def test_top_k_sorted_orders_by_score_then_class_index():
    scores = np.array([[0.1, 0.7, 0.7, 0.3, 0.7, 0.9]])
    assert metrics.top_k_sorted(scores, 3).tolist() == [[5, 1, 2]]
    assert metrics.top_k_sorted(scores, 10).tolist() == [[5, 1, 2, 4, 3, 0]]


def test_evaluate_all_returns_the_contract_keys_as_python_numbers():
    result = evaluate_all(P2, Y2, top_k=2)
    assert set(result) == {"gap", "hit_at_1", "perr", "map", "num_videos"}
    assert result["num_videos"] == 2 and type(result["num_videos"]) is int
    assert all(type(result[k]) is float for k in ("gap", "hit_at_1", "perr", "map"))
    assert result["hit_at_1"] == pytest.approx(0.5)
    assert result["perr"] == pytest.approx((1 / 2 + 0) / 2)  # video 1: top 1 is class 0


def test_labels_may_be_bool_int_or_float():
    expected = gap(P2, Y2, top_k=2)
    for labels in (Y2.astype(bool), Y2.astype(np.float32), Y2.astype(np.uint8)):
        assert gap(P2, labels, top_k=2) == expected


# ---------------------------------------------------------------- against the reference


@pytest.mark.parametrize("quantized", [False, True])
def test_matches_a_literal_reference_on_random_data(quantized):
    rng = np.random.default_rng(1 + quantized)
    for _ in range(25):
        n, c, k = rng.integers(1, 30), rng.integers(1, 25), int(rng.integers(1, 30))
        # quantized scores create many ties, inside and at the boundary of the top k
        p = rng.integers(0, 4, (n, c)) / 3 if quantized else rng.random((n, c))
        y = (rng.random((n, c)) < 0.2).astype(int)
        expected = reference(p, y, k)
        result = evaluate_all(p, y, top_k=k)
        for key in expected:
            assert result[key] == pytest.approx(expected[key]), (key, n, c, k)


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
def test_streaming_equals_whole_array(batch_size):
    rng = np.random.default_rng(batch_size)
    n, c = 300, 50
    p = rng.random((n, c)).astype(np.float32)
    p[::5] = np.round(p[::5], 1)  # some tied rows
    y = rng.random((n, c)) < 0.05
    evaluator = StreamingEvaluator(c, top_k=20)
    for start in range(0, n, batch_size):
        evaluator.add(p[start : start + batch_size], y[start : start + batch_size])
    assert evaluator.result() == evaluate_all(p, y, top_k=20)


def test_streaming_across_internal_chunks_equals_one_small_batch(monkeypatch):
    rng = np.random.default_rng(0)
    p, y = rng.random((40, 30)), rng.random((40, 30)) < 0.1
    expected = evaluate_all(p, y)
    monkeypatch.setattr(arrays, "_CHUNK_ELEMENTS", 90)  # 3 rows per internal chunk
    assert evaluate_all(p, y) == expected


def test_streaming_ignores_empty_batches_and_rejects_an_empty_set():
    evaluator = StreamingEvaluator(3)
    evaluator.add(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="empty"):
        evaluator.result()
    evaluator.add(P2, Y2)
    assert evaluator.result()["num_videos"] == 2


def test_streaming_rejects_a_batch_with_another_number_of_classes():
    with pytest.raises(ValueError, match="classes"):
        StreamingEvaluator(4).add(P2, Y2)


def test_streaming_with_a_vocabulary_adds_genre_results():
    vocab = Vocabulary.from_genres(["a", "b", "c"], ["Music", "Games", "Music"])
    evaluator = StreamingEvaluator(3, top_k=2, vocabulary=vocab)
    evaluator.add(P2[:1], Y2[:1])
    evaluator.add(P2[1:], Y2[1:])
    result = evaluator.result()
    assert result["genres"] == ["Games", "Music"]
    # both videos: Music scores highest (0.9 and 0.8) and both have Music labels
    assert result["genre_accuracy"] == 1.0
    assert result["genre_confusion"] == [[0, 0], [0, 2]]
    assert {k: result[k] for k in evaluate_all(P2, Y2, 2)} == evaluate_all(P2, Y2, 2)


def test_streaming_rejects_a_vocabulary_of_another_size():
    with pytest.raises(ValueError, match="vocabulary"):
        StreamingEvaluator(5, vocabulary=Vocabulary.synthetic(4))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "p, y, message",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "differ in shape"),
        (np.zeros(3), np.zeros(3), "2-D"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "empty"),
        (np.zeros((2, 0)), np.zeros((2, 0)), "no classes"),
        (np.array([[0.1, np.nan]]), np.array([[0, 1]]), "NaN or infinite"),
        (np.array([[0.1, np.inf]]), np.array([[0, 1]]), "NaN or infinite"),
        (np.array([[0.1, 0.2]]), np.array([[0, 2]]), "0 or 1"),
        (np.array([[0.1, 0.2]]), np.array([[0, 0.5]]), "0 or 1"),
    ],
)
@pytest.mark.parametrize("function", [gap, hit_at_one, perr, mean_ap, evaluate_all])
def test_bad_input_raises_a_clear_value_error(function, p, y, message):
    with pytest.raises(ValueError, match=message):
        function(p, y)


@pytest.mark.parametrize("top_k", [0, -1, 2.5, None])
def test_bad_top_k_raises(top_k):
    with pytest.raises(ValueError, match="top_k"):
        gap(P2, Y2, top_k=top_k)


def test_the_ranking_module_gap_equals_the_evaluator_gap():
    """Genre GAP uses ranking.global_average_precision (no import of this module): it must
    be the official GAP, ties and all."""
    from yt8m_lib.evaluation.ranking import global_average_precision

    rng = np.random.default_rng(3)
    scores = np.round(rng.random((200, 40)), 2)  # rounded: many ties
    labels = rng.random((200, 40)) < 0.1
    for k in (1, 5, 20, 40):
        assert global_average_precision(scores, labels, k) == gap(scores, labels, k)

"""Genres from vocabulary.csv: loading, genre scores by each rule, true and majority genres,
accuracy, confusion, the genre report (hand-computed, against a slow loop reference, streamed)."""

import csv
import json
import math
import warnings

import numpy as np
import pytest

from yt8m_lib import paths
from yt8m_lib.errors import DataError
from yt8m_lib.evaluation import arrays
from yt8m_lib.evaluation.genres import (
    GENRE_RULES,
    UNKNOWN_GENRE,
    VOCABULARY_COLUMNS,
    GenrePrior,
    Vocabulary,
    genre_accuracy,
    genre_confusion,
    genre_report,
    genre_scores,
    majority_genre,
    report_summary,
    true_genres,
)
from yt8m_lib.evaluation.metrics import METRIC_KEYS, StreamingEvaluator, evaluate_all


def write_vocabulary(path, rows):
    """rows: (index, name, vertical1), written in the given order with the official columns."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=VOCABULARY_COLUMNS)
        writer.writeheader()
        for index, name, vertical in rows:
            writer.writerow(
                {
                    "Index": index,
                    "Name": name,
                    "Vertical1": vertical,
                    "WikiDescription": "a, quoted\nmulti-line text",
                }
            )
    return path


@pytest.fixture
def tiny(tmp_path):
    # rows out of Index order; class 3 has no Vertical1
    return Vocabulary.load(
        write_vocabulary(
            tmp_path / "vocabulary.csv",
            [
                (2, "Guitar", "Arts & Entertainment"),
                (0, "Game", "Games"),
                (3, "Thing", ""),
                (1, "Car", "Autos & Vehicles"),
                (4, "Video game", "Games"),
            ],
        )
    )


def test_load_orders_classes_by_index_and_names_empty_genres_unknown(tiny):
    assert tiny.num_classes == 5
    assert tiny.names == ("Game", "Car", "Guitar", "Thing", "Video game")
    assert tiny.genre_names == ("Arts & Entertainment", "Autos & Vehicles", "Games", UNKNOWN_GENRE)
    assert tiny.class_genre.tolist() == [2, 1, 0, 3, 2]
    assert tiny.genre_of(3) == UNKNOWN_GENRE


def test_genre_score_is_the_maximum_over_the_genres_classes(tiny):
    p = np.array([[0.1, 0.2, 0.3, 0.4, 0.8]])
    # Arts: 0.3 (class 2), Autos: 0.2 (class 1), Games: max(0.1, 0.8), Unknown: 0.4
    np.testing.assert_allclose(genre_scores(p, tiny), [[0.3, 0.2, 0.8, 0.4]])


def test_true_genres_are_the_genres_of_the_labels(tiny):
    y = np.array([[1, 0, 1, 0, 1], [0, 0, 0, 0, 0]])
    assert true_genres(y, tiny).tolist() == [[True, False, True, False], [False] * 4]
    # Games holds 2 of video 0's labels; a video without labels has none (-1)
    assert majority_genre(y, tiny).tolist() == [2, -1]


def test_genre_accuracy_counts_any_true_genre_and_skips_unlabelled_videos(tiny):
    p = np.array(
        [
            [0.9, 0.1, 0.2, 0.1, 0.1],  # top genre Games
            [0.1, 0.9, 0.2, 0.1, 0.1],  # top genre Autos
            [0.1, 0.9, 0.2, 0.1, 0.1],  # top genre Autos, no labels: left out
            [0.1, 0.2, 0.3, 0.9, 0.1],
        ]
    )  # top genre Unknown
    y = np.array(
        [
            [0, 0, 1, 0, 1],  # Arts + Games: Games is among them -> hit
            [0, 0, 1, 0, 0],  # Arts -> miss
            [0, 0, 0, 0, 0],
            [0, 0, 0, 1, 0],
        ]
    )  # Unknown -> hit
    assert genre_accuracy(p, y, tiny) == pytest.approx(2 / 3)


def test_confusion_uses_the_majority_true_genre_with_ties_to_the_lowest_index(tiny):
    p = np.array(
        [
            [0.9, 0.1, 0.2, 0.1, 0.1],  # predicted Games
            [0.1, 0.9, 0.2, 0.1, 0.1],  # predicted Autos
            [0.1, 0.1, 0.1, 0.1, 0.1],
        ]
    )  # all tied: predicted genre 0 (Arts)
    y = np.array(
        [
            [0, 0, 1, 0, 1],  # Arts 1, Games 1: tie -> Arts (index 0)
            [1, 1, 0, 0, 1],  # Games 2, Autos 1 -> Games
            [0, 0, 0, 0, 0],
        ]
    )  # no labels: not counted
    table = genre_confusion(p, y, tiny)
    assert list(table.index) == list(tiny.genre_names) == list(table.columns)
    assert table.loc["Arts & Entertainment", "Games"] == 1
    assert table.loc["Games", "Autos & Vehicles"] == 1
    assert table.to_numpy().sum() == 2


def test_synthetic_vocabulary_splits_classes_into_contiguous_genres():
    vocab = Vocabulary.synthetic(10, num_genres=3)
    assert vocab.num_classes == 10 and vocab.num_genres == 3
    assert vocab.class_genre.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert Vocabulary.synthetic(2).num_genres == 2  # never more genres than classes


@pytest.mark.parametrize(
    "rows, message",
    [
        ([(0, "a", "X"), (0, "b", "Y")], "twice"),
        ([(0, "a", "X"), (2, "b", "Y")], "0..1"),
        ([("zero", "a", "X")], "not an integer"),
    ],
)
def test_load_rejects_bad_indices(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        Vocabulary.load(write_vocabulary(tmp_path / "v.csv", rows))


def test_load_rejects_missing_files_and_columns(tmp_path):
    with pytest.raises(DataError, match="not found"):
        Vocabulary.load(tmp_path / "absent.csv")
    (tmp_path / "v.csv").write_text("Index,Name\n0,a\n")
    with pytest.raises(DataError, match="Vertical1"):
        Vocabulary.load(tmp_path / "v.csv")


def test_genre_functions_reject_a_vocabulary_of_another_size(tiny):
    with pytest.raises(ValueError):
        genre_accuracy(np.zeros((1, 4)), np.zeros((1, 4)), tiny)
    with pytest.raises(ValueError):
        genre_scores(np.zeros((1, 4)), tiny)


# ---------------------------------------------------------------- genre scores by rule


def test_each_rule_turns_class_scores_into_genre_scores(tiny):
    p = np.array([[0.1, 0.2, 0.3, 0.4, 0.8]], dtype=np.float32)
    # genres: Arts = class 2, Autos = class 1, Games = classes 0 and 4, Unknown = class 3
    expected = {
        "max": [0.3, 0.2, 0.8, 0.4],
        "sum": [0.3, 0.2, 0.1 + 0.8, 0.4],
        "noisy_or": [0.3, 0.2, 1 - 0.9 * 0.2, 0.4],
        "topk_mean": [0.3, 0.2, (0.1 + 0.8) / 2, 0.4],
    }  # k=3 > 2 classes: both
    for rule, want in expected.items():
        np.testing.assert_allclose(genre_scores(p, tiny, rule), [want], rtol=1e-6, err_msg=rule)
    assert genre_scores(p, tiny).dtype == np.float32  # max: the scores' dtype, as before
    assert genre_scores(p, tiny, "sum").dtype == np.float64


def test_topk_mean_averages_the_k_largest_scores_of_a_genre():
    vocab = Vocabulary.from_genres(list("abcd"), ["X", "X", "X", "Y"])
    p = np.array([[0.2, 0.9, 0.5, 0.1]])
    np.testing.assert_allclose(genre_scores(p, vocab, "topk_mean", k=1), [[0.9, 0.1]])
    np.testing.assert_allclose(genre_scores(p, vocab, "topk_mean", k=2), [[0.7, 0.1]])
    np.testing.assert_allclose(genre_scores(p, vocab, "topk_mean", k=5), [[1.6 / 3, 0.1]])


def test_noisy_or_is_exact_for_certain_and_tiny_probabilities():
    vocab = Vocabulary.from_genres(list("abcd"), ["X", "X", "Y", "Z"])
    p = np.array([[1.0, 0.3, 1e-12, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warning from log(1 - 1)
        scores = genre_scores(p, vocab, "noisy_or")
    assert scores[0, 0] == 1.0
    assert scores[0, 1] == pytest.approx(1e-12, rel=1e-12, abs=0)  # not 1 - (1 - 1e-12)
    assert scores[0, 2] == 0.0 and not np.signbit(scores[0, 2])


@pytest.mark.parametrize("bad", [1.5, -0.1])
def test_noisy_or_refuses_scores_that_are_not_probabilities(tiny, bad):
    p = np.full((1, 5), 0.5)
    p[0, 1] = bad
    with pytest.raises(ValueError, match="probabilities"):
        genre_scores(p, tiny, "noisy_or")
    genre_scores(p, tiny, "sum")  # the other rules take any real scores


@pytest.mark.parametrize(
    "rule, k, message",
    [
        ("mean", 3, "unknown genre rule"),
        ("topk_mean", 0, "k must"),
        ("topk_mean", 2.0, "k must"),
        ("max", True, "k must"),
    ],
)
def test_bad_rules_and_k_are_refused(tiny, rule, k, message):
    with pytest.raises(ValueError, match=message):
        genre_scores(np.zeros((1, 5)), tiny, rule, k)
    with pytest.raises(ValueError, match=message):
        genre_report(np.zeros((1, 5)), np.zeros((1, 5)), tiny, rule, k=k)


def test_majority_genre_ties_go_to_the_lowest_genre_index(tiny):
    y = np.array(
        [
            [0, 1, 0, 1, 0],  # Autos 1, Unknown 1 -> Autos (1)
            [1, 0, 1, 1, 1],  # Games 2 beats Arts 1 and Unknown 1 -> Games (2)
            [0, 0, 1, 1, 0],
        ]
    )  # Arts 1, Unknown 1 -> Arts (0)
    assert majority_genre(y, tiny).tolist() == [1, 2, 0]


@pytest.mark.parametrize("function", [true_genres, majority_genre])
def test_ground_truth_functions_reject_wrong_shapes(tiny, function):
    for shape in [(2, 4), (5,), (1, 2, 5)]:
        with pytest.raises(ValueError, match=r"\(N, 5\)"):
            function(np.zeros(shape), tiny)


# ---------------------------------------------------------------- the genre report, by hand

# Six videos of the `tiny` vocabulary; max-rule genre scores [Arts, Autos, Games, Unknown].
P6 = np.array(
    [
        [0.9, 0.1, 0.2, 0.1, 0.1],  # [.2 .1 .9 .1] -> Games
        [0.8, 0.1, 0.3, 0.1, 0.1],  # [.3 .1 .8 .1] -> Games
        [0.1, 0.7, 0.2, 0.1, 0.1],  # [.2 .7 .1 .1] -> Autos
        [0.1, 0.6, 0.2, 0.4, 0.1],  # [.2 .6 .1 .4] -> Autos
        [0.1, 0.1, 0.5, 0.1, 0.1],  # [.5 .1 .1 .1] -> Arts (no labels)
        [0.1, 0.1, 0.1, 0.9, 0.1],
    ]
)  # [.1 .1 .1 .9] -> Unknown
Y6 = np.array(
    [
        [1, 0, 1, 0, 1],  # {Arts, Games}, majority Games     strict yes, lenient yes
        [1, 0, 1, 0, 0],  # {Arts, Games}, tie -> Arts        strict no,  lenient yes
        [0, 1, 0, 0, 0],  # {Autos}                           strict yes, lenient yes
        [0, 1, 0, 1, 0],  # {Autos, Unknown}, tie -> Autos    strict yes, lenient yes
        [0, 0, 0, 0, 0],  # no labels: only a negative for AP and GAP
        [0, 0, 1, 0, 0],
    ]
)  # {Arts}                            strict no,  lenient no


def test_report_accuracies_and_per_genre_rows_by_hand(tiny):
    report = genre_report(P6, Y6, tiny)
    assert report["rule"] == "max" and report["k"] is None
    assert report["num_videos"] == 6 and report["num_labelled"] == 5
    assert report["strict_accuracy"] == pytest.approx(3 / 5)
    assert report["lenient_accuracy"] == pytest.approx(4 / 5)
    # majority: Games, Arts, Autos, Autos, Arts; predicted: Games, Games, Autos, Autos, Unknown
    rows = {row["genre"]: row for row in report["per_genre"]}
    assert [row["genre"] for row in report["per_genre"]] == list(tiny.genre_names)
    assert rows["Arts & Entertainment"] == {
        "genre": "Arts & Entertainment",
        "support": 2,
        "positives": 3,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "ap": pytest.approx(7 / 15),
    }
    # Arts AP: scores .5(no) .3(yes) .2 .2 .2 (one yes) .1(yes): (1/2 + 2/5 + 3/6) / 3
    assert rows["Autos & Vehicles"] == {
        "genre": "Autos & Vehicles",
        "support": 2,
        "positives": 2,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "ap": 1.0,
    }
    assert rows["Games"] == {
        "genre": "Games",
        "support": 1,
        "positives": 2,
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "ap": 1.0,
    }
    # Unknown: predicted once, wrongly, and never a majority genre: no recall, no F1
    assert rows[UNKNOWN_GENRE] == {
        "genre": UNKNOWN_GENRE,
        "support": 0,
        "positives": 1,
        "precision": 0.0,
        "recall": None,
        "f1": None,
        "ap": 0.5,
    }


def test_report_averages_and_gap_by_hand(tiny):
    report = genre_report(P6, Y6, tiny)
    # macro P/R/F1 over the three genres with support (Unknown has none); AP over all four
    assert report["macro"] == {
        "precision": pytest.approx((0 + 1 + 0.5) / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx((0 + 1 + 2 / 3) / 3),
        "ap": pytest.approx((7 / 15 + 1 + 1 + 0.5) / 4),
    }
    assert (
        report["micro"]["precision"]
        == report["micro"]["recall"]
        == report["micro"]["f1"]
        == report["strict_accuracy"]
    )
    # 24 pooled (video, genre) pairs, 8 positives; tied blocks at .9 (1 of 2), .2 (1 of 3)
    # and .1 (1 of 13) count as one threshold each
    micro_ap = (1 / 2 + 2 / 3 + 3 / 4 + 4 / 5 + 5 / 7 + 6 / 8 + 7 / 11 + 8 / 24) / 8
    assert report["micro"]["ap"] == pytest.approx(micro_ap)
    # GAP orders equal scores by video: video 0's Games (a hit) before video 5's Unknown, the
    # Arts hit of video 0 first in the .2 block, video 5's Arts 11th of the .1 block (rank 22)
    gap = (1 + 2 / 3 + 3 / 4 + 4 / 5 + 5 / 7 + 6 / 8 + 7 / 9 + 8 / 22) / 8
    assert report["gap"] == pytest.approx(gap)


def test_report_baselines_from_the_evaluated_set_say_so(tiny):
    base = genre_report(P6, Y6, tiny)["baselines"]
    assert base["source"].startswith("evaluated set") and base["num_source_videos"] == 6
    frequent = base["most_frequent_genre"]
    # majority genres Games 1, Arts 2, Autos 2: the tie goes to Arts (index 0)
    assert frequent["genre"] == "Arts & Entertainment" and frequent["frequency"] == 0.4
    assert frequent["strict_accuracy"] == pytest.approx(2 / 5)
    assert frequent["lenient_accuracy"] == pytest.approx(3 / 5)  # videos 0, 1, 5 hold Arts
    assert frequent["macro"]["precision"] == pytest.approx(0.4 / 3)
    assert frequent["macro"]["f1"] == pytest.approx((2 * 0.4 / 1.4) / 3)
    assert frequent["macro"]["ap"] == pytest.approx(
        (3 / 6 + 2 / 6 + 2 / 6 + 1 / 6) / 4
    )  # prevalences
    assert "per_genre" not in frequent
    # class frequencies over the 6 videos: 2/6, 2/6, 3/6, 1/6, 1/6 -> max: Arts 3/6 is top
    prior = base["label_prior"]
    assert prior["genre"] == "Arts & Entertainment"
    assert prior["strict_accuracy"] == pytest.approx(2 / 5)
    assert set(prior) == set(frequent) - {"frequency"}


# Training labels: Games twice (classes 0 and 4), Autos three times, one unlabelled video.
TRAIN = np.array(
    [
        [1, 0, 0, 0, 1],
        [1, 0, 0, 0, 1],
        [0, 1, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
)


@pytest.mark.parametrize(
    "rule, prior_genre, prior_strict, prior_lenient",
    [
        ("max", "Autos & Vehicles", 2 / 5, 2 / 5),  # Autos 3/6 > Games max(2/6, 2/6)
        ("sum", "Games", 1 / 5, 2 / 5),  # Games 2/6 + 2/6 > Autos 3/6
    ],
)
def test_report_baselines_from_training_labels(
    tiny, rule, prior_genre, prior_strict, prior_lenient
):
    base = genre_report(P6, Y6, tiny, rule, train_labels=TRAIN)["baselines"]
    assert base["source"] == "training labels" and base["num_source_videos"] == 6
    frequent = base["most_frequent_genre"]  # Autos is the majority of 3 of 5 labelled videos
    assert frequent["genre"] == "Autos & Vehicles" and frequent["frequency"] == pytest.approx(0.6)
    assert frequent["strict_accuracy"] == pytest.approx(2 / 5)
    prior = base["label_prior"]
    assert prior["genre"] == prior_genre
    assert prior["strict_accuracy"] == pytest.approx(prior_strict)
    assert prior["lenient_accuracy"] == pytest.approx(prior_lenient)


def test_genre_prior_from_labels_in_batches_equals_the_whole_array(tiny):
    whole = GenrePrior.from_labels(TRAIN, tiny)
    np.testing.assert_allclose(whole.class_frequency, [2 / 6, 3 / 6, 0, 0, 2 / 6])
    np.testing.assert_allclose(whole.genre_frequency, [0, 3 / 5, 2 / 5, 0])
    batched = GenrePrior.from_labels(iter([TRAIN[:1], TRAIN[1:4], TRAIN[4:]]), tiny)
    assert np.array_equal(batched.class_frequency, whole.class_frequency)
    assert np.array_equal(batched.genre_frequency, whole.genre_frequency)
    assert GenrePrior.from_labels(TRAIN.tolist(), tiny).num_videos == 6  # rows as lists
    assert genre_report(P6, Y6, tiny, genre_prior=whole) == genre_report(
        P6, Y6, tiny, train_labels=TRAIN
    )


SUMMARY_KEYS = [
    "rule",
    "num_labelled",
    "strict_accuracy",
    "lenient_accuracy",
    "macro_f1",
    "micro_f1",
    "macro_ap",
    "gap",
    "baselines",
    "per_genre",
]
BASELINE_KEYS = ["strict_accuracy", "lenient_accuracy", "macro_f1", "micro_f1"]


def test_the_printed_summary_flattens_the_report(tiny):
    report = genre_report(P6, Y6, tiny, train_labels=TRAIN)
    summary = report_summary(report)
    assert list(summary) == SUMMARY_KEYS
    assert summary["macro_f1"] == report["macro"]["f1"]
    assert summary["micro_f1"] == report["micro"]["f1"] == report["strict_accuracy"]
    assert summary["macro_ap"] == report["macro"]["ap"] and summary["gap"] == report["gap"]
    assert summary["per_genre"] == report["per_genre"]
    base = summary["baselines"]
    assert list(base) == ["source", "num_source_videos", "most_frequent_genre", "label_prior"]
    assert base["source"] == "training labels" and base["num_source_videos"] == 6
    assert list(base["most_frequent_genre"]) == ["genre", "frequency", *BASELINE_KEYS]
    assert list(base["label_prior"]) == ["genre", *BASELINE_KEYS]
    full = report["baselines"]["label_prior"]
    assert base["label_prior"]["macro_f1"] == full["macro"]["f1"]
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    top = report_summary(genre_report(P6, Y6, tiny, "topk_mean", k=2))
    assert top["rule"] == "topk_mean" and top["k"] == 2  # k only where the rule has one


@pytest.mark.parametrize(
    "rule, strict", [("max", 0.0), ("sum", 1.0), ("noisy_or", 1.0), ("topk_mean", 0.0)]
)
def test_the_rule_decides_the_predicted_genre(rule, strict):
    vocab = Vocabulary.from_genres(list("abcd"), ["Many", "Many", "Many", "One"])
    p = np.array([[0.4, 0.4, 0.4, 0.6]])  # Many: max .4, sum 1.2, noisy-OR .784, mean .4
    report = genre_report(p, np.array([[1, 0, 0, 0]]), vocab, rule)
    assert report["strict_accuracy"] == strict == report["lenient_accuracy"]
    assert report["k"] == (3 if rule == "topk_mean" else None)


def test_report_without_labelled_videos_is_none_not_nan_and_valid_json(tiny):
    report = genre_report(P6[4:5], Y6[4:5], tiny)
    assert report["num_labelled"] == 0
    assert report["strict_accuracy"] is None and report["lenient_accuracy"] is None
    assert report["macro"] == {"precision": None, "recall": None, "f1": None, "ap": None}
    assert report["gap"] == 0.0  # as metrics.gap: no positives, 0
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report


# ---------------------------------------------------------------- against a slow reference


def _reference_scores(p, vocab, rule, k):
    out = np.zeros((p.shape[0], vocab.num_genres))
    for v in range(p.shape[0]):
        for g in range(vocab.num_genres):
            values = [float(p[v, c]) for c in range(vocab.num_classes) if vocab.class_genre[c] == g]
            if rule == "max":
                out[v, g] = max(values)
            elif rule == "sum":
                out[v, g] = math.fsum(values)
            elif rule == "noisy_or":
                out[v, g] = 1 - math.prod(1 - x for x in values)
            else:
                top = sorted(values, reverse=True)[:k]
                out[v, g] = math.fsum(top) / len(top)
    return out


def _reference_ap(pairs):
    """(score, relevant) pairs: mean over the relevant ones of the precision among all pairs
    scored at least as high (ties as one block); None without relevant pairs."""
    relevant = [s for s, r in pairs if r]
    if not relevant:
        return None
    return sum(
        sum(r for t, r in pairs if t >= s) / sum(1 for t, _ in pairs if t >= s) for s in relevant
    ) / len(relevant)


def _reference_report(p, y, vocab, rule, k):
    scores = _reference_scores(p, vocab, rule, k)
    G, N = vocab.num_genres, p.shape[0]
    sets = [{int(vocab.class_genre[c]) for c in np.flatnonzero(y[v])} for v in range(N)]
    majority = []
    for v in range(N):
        counts = [
            sum(1 for c in np.flatnonzero(y[v]) if vocab.class_genre[c] == g) for g in range(G)
        ]
        best = max(counts)
        majority.append(counts.index(best) if best else None)  # index(): the lowest on ties
    predicted = [max(range(G), key=lambda g: (scores[v, g], -g)) for v in range(N)]
    labelled = [v for v in range(N) if majority[v] is not None]
    rows = []
    for g in range(G):
        tp = sum(1 for v in labelled if predicted[v] == g == majority[v])
        npred = sum(1 for v in labelled if predicted[v] == g)
        support = sum(1 for v in labelled if majority[v] == g)
        precision = tp / npred if npred else 0.0
        recall = tp / support if support else None
        f1 = (
            None
            if recall is None
            else (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        )
        rows.append(
            (
                support,
                precision,
                recall,
                f1,
                _reference_ap([(scores[v, g], g in sets[v]) for v in range(N)]),
            )
        )
    pooled = sorted(
        ((scores[v, g], v, g) for v in range(N) for g in range(G)),
        key=lambda e: (-e[0], e[1], e[2]),
    )
    hits, gap_sum = 0, 0.0
    for rank, (_, v, g) in enumerate(pooled, start=1):
        if g in sets[v]:
            hits += 1
            gap_sum += hits / rank
    total = sum(len(s) for s in sets)
    supported = [r for r in rows if r[0]]
    return {
        "strict": sum(predicted[v] == majority[v] for v in labelled) / len(labelled),
        "lenient": sum(predicted[v] in sets[v] for v in labelled) / len(labelled),
        "rows": rows,
        "macro": [np.mean([r[i] for r in supported]) for i in (1, 2, 3)]
        + [np.mean([r[4] for r in rows if r[4] is not None])],
        "micro_ap": _reference_ap(
            [(scores[v, g], g in sets[v]) for v in range(N) for g in range(G)]
        ),
        "gap": gap_sum / total,
    }


def _random_set(seed, n=40, num_classes=12, num_genres=4, levels=5):
    """Scores on a coarse grid (many ties, 0 and 1 included) and 0-3 labels per video."""
    rng = np.random.default_rng(seed)
    vocab = Vocabulary.from_genres(
        [f"c{i}" for i in range(num_classes)],
        [f"G{g}" for g in rng.integers(0, num_genres, num_classes)],
    )
    p = rng.integers(0, levels, (n, num_classes)) / (levels - 1)
    y = np.zeros((n, num_classes), dtype=int)
    for v in range(n):
        y[v, rng.choice(num_classes, int(rng.integers(0, 4)), replace=False)] = 1
    return p, y, vocab


@pytest.mark.parametrize("rule", GENRE_RULES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_report_agrees_with_a_slow_independent_reference(rule, seed):
    p, y, vocab = _random_set(seed)
    report = genre_report(p, y, vocab, rule, k=2)
    ref = _reference_report(p, y, vocab, rule, 2)
    np.testing.assert_allclose(
        genre_scores(p, vocab, rule, k=2),
        _reference_scores(p, vocab, rule, 2),
        rtol=1e-12,
        atol=1e-15,
    )
    assert report["strict_accuracy"] == pytest.approx(ref["strict"])
    assert report["lenient_accuracy"] == pytest.approx(ref["lenient"])
    for row, (support, precision, recall, f1, ap) in zip(report["per_genre"], ref["rows"]):
        assert (row["support"], row["precision"], row["recall"], row["f1"], row["ap"]) == (
            support,
            pytest.approx(precision),
            pytest.approx(recall),
            pytest.approx(f1),
            pytest.approx(ap),
        ), row["genre"]
    assert [report["macro"][key] for key in ("precision", "recall", "f1", "ap")] == pytest.approx(
        ref["macro"]
    )
    assert report["micro"]["ap"] == pytest.approx(ref["micro_ap"])
    assert report["gap"] == pytest.approx(ref["gap"])


@pytest.mark.parametrize("seed", range(6))
def test_strict_never_exceeds_lenient_and_lenient_is_genre_accuracy(seed):
    p, y, vocab = _random_set(seed, n=60, levels=50)
    for rule in GENRE_RULES:
        report = genre_report(p, y, vocab, rule)
        assert report["strict_accuracy"] <= report["lenient_accuracy"], rule
    assert genre_report(p, y, vocab)["lenient_accuracy"] == genre_accuracy(p, y, vocab)


def test_micro_ap_equals_gap_without_ties():
    rng = np.random.default_rng(7)
    vocab = Vocabulary.synthetic(30, num_genres=5)
    p = rng.random((50, 30))
    y = (rng.random((50, 30)) < 0.08).astype(int)
    report = genre_report(p, y, vocab)
    assert report["micro"]["ap"] == pytest.approx(report["gap"], rel=1e-12)


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("rule", GENRE_RULES)
def test_streaming_gives_the_whole_array_report_however_the_set_is_split(rule, monkeypatch):
    p, y, vocab = _random_set(3, n=37, levels=1000)
    prior = GenrePrior.from_labels(_random_set(4, n=20)[1], vocab)
    whole = genre_report(p, y, vocab, rule, k=2, genre_prior=prior)
    for cuts in ([], [1], [5, 6, 20], list(range(1, 37))):
        evaluator = StreamingEvaluator(
            vocab.num_classes,
            top_k=3,
            vocabulary=vocab,
            genre_rule=rule,
            genre_k=2,
            genre_prior=prior,
        )
        for pb, yb in zip(np.split(p, cuts), np.split(y, cuts)):
            evaluator.add(pb, yb)
        result = evaluator.result()
        assert result["genre"] == whole, cuts  # exactly equal, not approximately
        assert result["genre_accuracy"] == genre_accuracy(p, y, vocab)
        assert result["genre_confusion"] == genre_confusion(p, y, vocab).to_numpy().tolist()
    monkeypatch.setattr(arrays, "_CHUNK_ELEMENTS", 3 * vocab.num_classes)  # 3-row chunks
    assert genre_report(p, y, vocab, rule, k=2, genre_prior=prior) == whole


def test_streaming_keeps_the_old_genre_keys_and_adds_a_json_ready_report(tiny):
    evaluator = StreamingEvaluator(5, vocabulary=tiny)
    evaluator.add(P6, Y6)
    result = evaluator.result()
    assert result["genre_accuracy"] == pytest.approx(4 / 5)
    assert result["genre_confusion"] == [[0, 0, 1, 1], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert result["genres"] == list(tiny.genre_names)
    assert result["genre"] == genre_report(P6, Y6, tiny)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_a_refused_batch_leaves_the_streaming_evaluator_untouched(tiny):
    evaluator = StreamingEvaluator(5, vocabulary=tiny, genre_rule="noisy_or")
    evaluator.add(P6[:3], Y6[:3])
    with pytest.raises(ValueError, match="probabilities"):
        evaluator.add(P6[3:] * 2, Y6[3:])
    evaluator.add(P6[3:], Y6[3:])
    result = evaluator.result()
    assert (
        result["num_videos"] == 6
        and result["genre_confusion"] == genre_confusion(P6, Y6, tiny).to_numpy().tolist()
    )
    assert result["genre"] == genre_report(P6, Y6, tiny, "noisy_or")
    assert {key: result[key] for key in METRIC_KEYS} == evaluate_all(P6, Y6)  # nor the others


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "p, y, message",
    [
        (np.zeros((2, 5)), np.zeros((2, 4)), "differ in shape"),
        (np.zeros((2, 4)), np.zeros((2, 4)), "vocabulary has 5"),
        (np.zeros(5), np.zeros(5), "2-D"),
        (np.zeros((0, 5)), np.zeros((0, 5)), "empty"),
        (np.full((1, 5), np.nan), np.zeros((1, 5)), "NaN"),
        (np.zeros((1, 5)), np.full((1, 5), 2), "0 or 1"),
    ],
)
def test_report_rejects_bad_arrays(tiny, p, y, message):
    with pytest.raises(ValueError, match=message):
        genre_report(p, y, tiny)


def test_report_rejects_bad_training_labels_and_priors(tiny):
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        genre_report(P6, Y6, tiny, train_labels=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="0 or 1"):
        genre_report(P6, Y6, tiny, train_labels=np.full((3, 5), 2))
    with pytest.raises(ValueError, match="no training videos"):
        genre_report(P6, Y6, tiny, train_labels=iter([]))
    with pytest.raises(ValueError, match="not both"):
        genre_report(
            P6, Y6, tiny, train_labels=TRAIN, genre_prior=GenrePrior.from_labels(TRAIN, tiny)
        )
    other = GenrePrior.from_labels(np.eye(4), Vocabulary.synthetic(4))
    with pytest.raises(ValueError, match="genre prior has"):
        genre_report(P6, Y6, tiny, genre_prior=other)
    with pytest.raises(ValueError, match="GenrePrior"):
        genre_report(P6, Y6, tiny, genre_prior=np.ones(4))
    with pytest.raises(ValueError, match="genre prior has"):
        StreamingEvaluator(5, vocabulary=tiny, genre_prior=other)
    with pytest.raises(ValueError, match="unknown genre rule"):
        StreamingEvaluator(5, vocabulary=tiny, genre_rule="median")


@pytest.fixture(scope="module")
def real_vocabulary():
    real = paths.real_dir()
    if real is None or not (real / "vocabulary.csv").is_file():
        pytest.skip("real YouTube-8M vocabulary not on this machine")
    return Vocabulary.load(real / "vocabulary.csv")


@pytest.mark.real_data
def test_the_real_vocabulary(real_vocabulary):
    vocab = real_vocabulary
    assert vocab.num_classes == 3862
    assert vocab.num_genres == 25 and vocab.genre_names[-1] == UNKNOWN_GENRE
    assert vocab.genre_of(0) == "Games"
    assert np.bincount(vocab.class_genre)[vocab.genre_names.index("Games")] == 734
    rng = np.random.default_rng(0)
    p = rng.random((50, 3862))
    y = np.zeros_like(p)
    y[np.arange(50), rng.integers(0, 3862, 50)] = 1
    assert 0.0 <= genre_accuracy(p, y, vocab) <= 1.0
    assert genre_confusion(p, y, vocab).to_numpy().sum() == 50


@pytest.mark.real_data
def test_a_perfect_predictor_on_the_real_vocabulary(real_vocabulary):
    vocab = real_vocabulary
    assert vocab.num_genres == 25 and len(set(vocab.genre_names)) == 25
    rng = np.random.default_rng(0)
    y = np.zeros((300, vocab.num_classes), dtype=bool)
    for v in range(300):  # 1-8 labels, as real videos have a few
        y[v, rng.choice(vocab.num_classes, int(rng.integers(1, 9)), replace=False)] = True
    oracle = y.astype(np.float32)  # 1 on every label, 0 elsewhere
    # summed, the oracle's genre scores are the label counts: its top genre is the majority
    report = genre_report(oracle, y, vocab, "sum")
    assert report["strict_accuracy"] == 1.0 == report["lenient_accuracy"]
    assert report["macro"]["recall"] == 1.0 and report["macro"]["ap"] == 1.0
    assert len(report["per_genre"]) == 25
    # max: every genre of the set scores 1, so the lowest-index one wins - lenient only
    report = genre_report(oracle, y, vocab, "max")
    assert report["lenient_accuracy"] == 1.0
    lowest = true_genres(y, vocab).argmax(axis=1)
    assert report["strict_accuracy"] == np.mean(lowest == majority_genre(y, vocab))


@pytest.mark.real_data
def test_real_labels_scored_by_an_oracle_give_perfect_genres():
    real = paths.real_dir()
    if real is None or not list(real.glob("video_validate/*.tfrecord")):
        pytest.skip("real YouTube-8M shards not on this machine")
    records = pytest.importorskip("yt8m_lib.data.records")

    vocab = Vocabulary.load(real / "vocabulary.csv")
    shard = sorted(real.glob("video_validate/*.tfrecord"))[0]
    examples = list(records.iter_examples([shard], "video", num_classes=vocab.num_classes))
    y = np.zeros((len(examples), vocab.num_classes), dtype=bool)
    for row, ex in enumerate(examples):
        y[row, ex.labels] = True
    oracle = y.astype(np.float32)
    assert genre_accuracy(oracle, y, vocab) == 1.0
    assert genre_report(oracle, y, vocab, "sum")["strict_accuracy"] == 1.0
    metrics = evaluate_all(oracle, y)
    assert metrics["hit_at_1"] == 1.0 and metrics["perr"] == 1.0
    # GAP@20 < 1 only because of videos with more than 20 labels
    assert metrics["gap"] == pytest.approx(1.0, abs=0.02)

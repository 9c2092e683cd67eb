"""Genres from vocabulary.csv: loading, genre scores, true genres, accuracy, confusion."""

import csv

import numpy as np
import pytest

from yt8m_lib import paths
from yt8m_lib.errors import DataError
from yt8m_lib.evaluation.genres import (UNKNOWN_GENRE, VOCABULARY_COLUMNS, Vocabulary, genre_accuracy,
                             genre_confusion, genre_scores, majority_genre, true_genres)


def write_vocabulary(path, rows):
    """rows: (index, name, vertical1), written in the given order with the official columns."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=VOCABULARY_COLUMNS)
        writer.writeheader()
        for index, name, vertical in rows:
            writer.writerow({"Index": index, "Name": name, "Vertical1": vertical,
                             "WikiDescription": "a, quoted\nmulti-line text"})
    return path


@pytest.fixture
def tiny(tmp_path):
    # rows out of Index order; class 3 has no Vertical1
    return Vocabulary.load(write_vocabulary(tmp_path / "vocabulary.csv", [
        (2, "Guitar", "Arts & Entertainment"),
        (0, "Game", "Games"),
        (3, "Thing", ""),
        (1, "Car", "Autos & Vehicles"),
        (4, "Video game", "Games"),
    ]))


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
    y = np.array([[1, 0, 1, 0, 1],
                  [0, 0, 0, 0, 0]])
    assert true_genres(y, tiny).tolist() == [[True, False, True, False], [False] * 4]
    # Games holds 2 of video 0's labels; a video without labels has none (-1)
    assert majority_genre(y, tiny).tolist() == [2, -1]


def test_genre_accuracy_counts_any_true_genre_and_skips_unlabelled_videos(tiny):
    p = np.array([[0.9, 0.1, 0.2, 0.1, 0.1],   # top genre Games
                  [0.1, 0.9, 0.2, 0.1, 0.1],   # top genre Autos
                  [0.1, 0.9, 0.2, 0.1, 0.1],   # top genre Autos, no labels: left out
                  [0.1, 0.2, 0.3, 0.9, 0.1]])  # top genre Unknown
    y = np.array([[0, 0, 1, 0, 1],   # Arts + Games: Games is among them -> hit
                  [0, 0, 1, 0, 0],   # Arts -> miss
                  [0, 0, 0, 0, 0],
                  [0, 0, 0, 1, 0]])  # Unknown -> hit
    assert genre_accuracy(p, y, tiny) == pytest.approx(2 / 3)


def test_confusion_uses_the_majority_true_genre_with_ties_to_the_lowest_index(tiny):
    p = np.array([[0.9, 0.1, 0.2, 0.1, 0.1],   # predicted Games
                  [0.1, 0.9, 0.2, 0.1, 0.1],   # predicted Autos
                  [0.1, 0.1, 0.1, 0.1, 0.1]])  # all tied: predicted genre 0 (Arts)
    y = np.array([[0, 0, 1, 0, 1],   # Arts 1, Games 1: tie -> Arts (index 0)
                  [1, 1, 0, 0, 1],   # Games 2, Autos 1 -> Games
                  [0, 0, 0, 0, 0]])  # no labels: not counted
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


@pytest.mark.parametrize("rows, message", [
    ([(0, "a", "X"), (0, "b", "Y")], "twice"),
    ([(0, "a", "X"), (2, "b", "Y")], "0..1"),
    ([("zero", "a", "X")], "not an integer"),
])
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


@pytest.mark.real_data
def test_the_real_vocabulary():
    real = paths.real_dir()
    if real is None or not (real / "vocabulary.csv").is_file():
        pytest.skip("real YouTube-8M vocabulary not on this machine")
    vocab = Vocabulary.load(real / "vocabulary.csv")
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
def test_real_labels_scored_by_an_oracle_give_perfect_genres():
    real = paths.real_dir()
    if real is None or not list(real.glob("video_validate/*.tfrecord")):
        pytest.skip("real YouTube-8M shards not on this machine")
    records = pytest.importorskip("yt8m_lib.data.records")
    from yt8m_lib.evaluation.metrics import evaluate_all

    vocab = Vocabulary.load(real / "vocabulary.csv")
    shard = sorted(real.glob("video_validate/*.tfrecord"))[0]
    examples = list(records.iter_examples([shard], "video", num_classes=vocab.num_classes))
    y = np.zeros((len(examples), vocab.num_classes), dtype=bool)
    for row, ex in enumerate(examples):
        y[row, ex.labels] = True
    oracle = y.astype(np.float32)
    assert genre_accuracy(oracle, y, vocab) == 1.0
    metrics = evaluate_all(oracle, y)
    assert metrics["hit_at_1"] == 1.0 and metrics["perr"] == 1.0
    # GAP@20 < 1 only because of videos with more than 20 labels
    assert metrics["gap"] == pytest.approx(1.0, abs=0.02)

"""The Kaggle predictions file: format, order, round trip, bad input."""

import numpy as np
import pytest

from yt8m_lib.errors import DataError
from yt8m_lib.evaluation.genres import Vocabulary, genre_scores
from yt8m_lib.evaluation.predictions import (
    GENRE_HEADER,
    HEADER,
    PredictionWriter,
    genre_predictions_path,
    read_genre_predictions,
    read_predictions,
    to_dense,
    write_predictions,
)


def test_format_is_header_then_top_k_pairs_score_descending(tmp_path):
    p = np.array([[0.1, 0.9, 0.5, 0.5], [0.3, 0.2, 0.1, 1e-7]])
    path = write_predictions(tmp_path / "p.csv", ["AbCd", b"XyZ0"], p, top_k=4)
    assert path.read_text().splitlines() == [
        HEADER,
        "AbCd,1 0.9 2 0.5 3 0.5 0 0.1",  # tie: lowest class index first
        "XyZ0,0 0.3 1 0.2 2 0.1 3 1e-07",  # small scores keep their magnitude
    ]


def test_round_trip_keeps_top_20_order_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.random((30, 100)).astype(np.float32)
    ids = [f"v{i:03d}" for i in range(30)]
    pairs = read_predictions(write_predictions(tmp_path / "p.csv", ids, p))
    assert list(pairs) == ids
    for row, video_id in enumerate(ids):
        classes = [c for c, _ in pairs[video_id]]
        scores = [s for _, s in pairs[video_id]]
        assert classes == np.argsort(-p[row], kind="stable")[:20].tolist()
        np.testing.assert_allclose(scores, p[row, classes], rtol=1e-5)
    dense = to_dense(pairs, ids, 100)
    kept = dense > 0
    assert (kept.sum(axis=1) == 20).all()
    np.testing.assert_allclose(dense[kept], p[kept], rtol=1e-5)


def test_fewer_classes_than_top_k_writes_them_all(tmp_path):
    pairs = read_predictions(write_predictions(tmp_path / "p.csv", ["a"], [[0.2, 0.8]]))
    assert pairs == {"a": [(1, 0.8), (0, 0.2)]}


def test_the_writer_streams_batches_and_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "p.csv"
    with PredictionWriter(path, top_k=1) as writer:
        writer.write(["a"], [[0.1, 0.2]])
        writer.write(["b", "c"], [[0.3, 0.1], [0.5, 0.6]])
    assert read_predictions(path) == {"a": [(1, 0.2)], "b": [(0, 0.3)], "c": [(1, 0.6)]}
    failed = tmp_path / "failed.csv"
    with pytest.raises(ValueError):
        with PredictionWriter(failed) as writer:
            writer.write(["a"], [[np.nan, 0.2]])
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "ids, p",
    [
        (["a", "b"], [[0.1, 0.2]]),
        (["a,b"], [[0.1, 0.2]]),
        (["a b"], [[0.1, 0.2]]),
        ([""], [[0.1, 0.2]]),
    ],
)
def test_bad_rows_raise(tmp_path, ids, p):
    with pytest.raises(ValueError):
        write_predictions(tmp_path / "p.csv", ids, p)


@pytest.mark.parametrize(
    "text, message",
    [
        ("id,labels\na,1 0.5\n", "first line"),
        (HEADER + "\na,1 0.5 2\n", "line 2"),
        (HEADER + "\na,1 high\n", "not a number"),
        (HEADER + "\na,1 0.5\na,2 0.5\n", "twice"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, text, message):
    (tmp_path / "p.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_predictions(tmp_path / "p.csv")


# ---------------------------------------------------------------- the genre predictions file

VOCAB = Vocabulary.from_genres(list("abcde"), ["Games", "Arts", "Games", "Autos", "Arts"])
# genre index: Arts 0 (b, e), Autos 1 (d), Games 2 (a, c)


@pytest.mark.parametrize(
    "name, genres_name",
    [
        ("p.csv", "p.genres.csv"),
        ("test_predictions.csv", "test_predictions.genres.csv"),
        ("p", "p.genres.csv"),
        ("p.txt", "p.txt.genres.csv"),
    ],
)
def test_the_genre_file_sits_beside_the_predictions_file(tmp_path, name, genres_name):
    assert genre_predictions_path(tmp_path / name) == tmp_path / genres_name


def test_a_vocabulary_adds_the_genre_file_and_leaves_the_kaggle_file_as_it_was(tmp_path):
    p = np.array(
        [
            [0.9, 0.1, 0.2, 0.3, 0.4],  # Games (a)
            [0.1, 0.5, 0.2, 0.5, 0.3],  # Arts 0.5 ties Autos 0.5: the lowest genre index
            [0.1, 0.1, 0.3, 0.7, 0.2],  # Autos
        ]
    )
    ids = ["v1", "v2", "v3"]
    plain = write_predictions(tmp_path / "plain.csv", ids, p, top_k=3)
    path = tmp_path / "p.csv"
    with PredictionWriter(path, top_k=3, vocabulary=VOCAB) as writer:
        writer.write(ids[:2], p[:2])
        writer.write(ids[2:], p[2:])
    assert writer.genre_path == tmp_path / "p.genres.csv"
    assert path.read_text() == plain.read_text()  # the Kaggle format is untouched
    assert writer.genre_path.read_text().splitlines() == [
        ",".join(GENRE_HEADER),
        "v1,Games,0.9,max",
        "v2,Arts,0.5,max",
        "v3,Autos,0.7,max",
    ]
    assert read_genre_predictions(writer.genre_path) == {
        "v1": ("Games", 0.9, "max"),
        "v2": ("Arts", 0.5, "max"),
        "v3": ("Autos", 0.7, "max"),
    }


def test_the_genre_file_follows_the_rule_and_quotes_genre_names(tmp_path):
    vocab = Vocabulary.from_genres(list("abc"), ["Food, Drink", "Music", "Music"])
    p = np.array([[0.5, 0.3, 0.4]])  # max: Food 0.5; sum: Music 0.7
    with PredictionWriter(tmp_path / "p.csv", vocabulary=vocab, genre_rule="sum") as writer:
        writer.write(["v"], p)
    genre, score, rule = read_genre_predictions(writer.genre_path)["v"]
    assert (genre, rule) == ("Music", "sum")
    assert score == pytest.approx(genre_scores(p, vocab, "sum")[0].max())
    with PredictionWriter(tmp_path / "q.csv", vocabulary=vocab) as writer:
        writer.write(["v"], p)
    assert '"Food, Drink"' in writer.genre_path.read_text()  # a comma in a name is quoted
    assert read_genre_predictions(writer.genre_path)["v"] == ("Food, Drink", 0.5, "max")


def test_no_vocabulary_no_genre_file(tmp_path):
    with PredictionWriter(tmp_path / "p.csv") as writer:
        writer.write(["v"], [[0.1, 0.2]])
    assert writer.genre_path is None
    assert [f.name for f in tmp_path.iterdir()] == ["p.csv"]


def test_a_failed_writer_leaves_neither_file(tmp_path):
    with pytest.raises(ValueError, match="probabilities"):  # noisy_or refuses scores above 1
        with PredictionWriter(tmp_path / "p.csv", vocabulary=VOCAB, genre_rule="noisy_or") as w:
            w.write(["v"], [[0.1, 0.2, 0.3, 0.4, 0.5]])
            w.write(["w"], [[0.1, 0.2, 0.3, 0.4, 1.5]])
    with pytest.raises(ValueError, match="5"):  # classes differ from the vocabulary's
        with PredictionWriter(tmp_path / "q.csv", vocabulary=VOCAB) as w:
            w.write(["v"], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="unknown genre rule"):
        PredictionWriter(tmp_path / "r.csv", vocabulary=VOCAB, genre_rule="mean")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("VideoId,Genre,Score\n", "first line"),
        ("VideoId,Genre,Score,Rule\nv,Games,0.5\n", "line 2"),
        ("VideoId,Genre,Score,Rule\nv,Games,high,max\n", "not a number"),
        ("VideoId,Genre,Score,Rule\nv,Games,0.5,max\nv,Arts,0.2,max\n", "twice"),
    ],
)
def test_malformed_genre_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "p.genres.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_genre_predictions(path)
    with pytest.raises(DataError, match="not found"):
        read_genre_predictions(tmp_path / "missing.csv")

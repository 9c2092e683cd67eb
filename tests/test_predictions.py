"""The Kaggle predictions file: format, order, round trip, bad input."""

import numpy as np
import pytest

from yt8m_lib.errors import DataError
from yt8m_lib.evaluation.predictions import (
    HEADER,
    PredictionWriter,
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

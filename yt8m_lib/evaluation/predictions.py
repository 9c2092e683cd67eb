"""The Kaggle submission file of the YouTube-8M challenge.

    VideoId,LabelConfidencePairs
    XwFj,3 0.912 0 0.874 17 0.5 ...

one line per video: its id, then its top-k (default 20) classes and scores, score descending
(ties: lowest class index first, as in ``yt8m_lib.evaluation.metrics``).  Scores are written with
``%.6g`` (the starter code's ``%g``): six significant digits, and small probabilities keep
their magnitude (``1.2e-07``) instead of becoming 0.

With a vocabulary the writer also writes the *genre predictions file* beside it
(``genre_predictions_path``: ``P.csv`` -> ``P.genres.csv``), the Kaggle file staying exactly
the official format:

    VideoId,Genre,Score,Rule
    XwFj,Games,0.912,max

one line per video, in the same order: its predicted genre (the highest genre score, lowest
genre index on ties, as in ``yt8m_lib.evaluation.genres``), that genre's score under the rule,
and the rule.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from yt8m_lib.errors import DataError
from yt8m_lib.evaluation import genres
from yt8m_lib.evaluation.ranking import top_k_sorted

HEADER = "VideoId,LabelConfidencePairs"
GENRE_HEADER = ("VideoId", "Genre", "Score", "Rule")
SCORE_FORMAT = "%.6g"


def genre_predictions_path(path) -> Path:
    """Where the genre predictions of the Kaggle file ``path`` go: ``P.csv`` -> ``P.genres.csv``
    (any other name gets ``.genres.csv`` appended)."""
    path = Path(path)
    stem = path.stem if path.suffix == ".csv" else path.name
    return path.with_name(f"{stem}.genres.csv")


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


class PredictionWriter:
    """Writes the file batch by batch (``with PredictionWriter(path) as w: w.write(ids, p)``).

    With ``vocabulary`` (a ``genres.Vocabulary`` or a path to vocabulary.csv) it also writes
    the genre predictions file (``genre_path``) under ``genre_rule`` (``genre_k`` for
    ``"topk_mean"``).  The files appear under their names only when the writer closes without
    an error (they are written to temporary files, then renamed).
    """

    def __init__(
        self, path, top_k: int = 20, *, vocabulary=None, genre_rule: str = "max", genre_k: int = 3
    ):
        if top_k < 1:
            raise ValueError(f"top_k must be positive, got {top_k}")
        self.path = Path(path)
        self.top_k = int(top_k)
        self.num_videos = 0
        self.vocabulary = None
        self.genre_path = None
        if vocabulary is not None:
            if not isinstance(vocabulary, genres.Vocabulary):
                vocabulary = genres.Vocabulary.load(vocabulary)
            self.genre_rule, self.genre_k = genres._check_rule(genre_rule, genre_k)
            self.vocabulary = vocabulary
            self.genre_path = genre_predictions_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temporary(self.path)
        self._file = self._tmp.open("w", encoding="utf-8", newline="\n")
        self._file.write(HEADER + "\n")
        self._genre_file = None
        if self.genre_path is not None:
            self._genre_file = _temporary(self.genre_path).open("w", encoding="utf-8", newline="")
            self._genre_csv = csv.writer(self._genre_file, lineterminator="\n")
            self._genre_csv.writerow(GENRE_HEADER)

    def write(self, ids, predictions) -> None:
        p = np.asarray(predictions)
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
        if p.ndim != 2 or p.shape[0] != len(ids):
            raise ValueError(f"need one row of scores per id: {len(ids)} ids, scores {p.shape}")
        if not np.isfinite(p).all():
            raise ValueError("predictions contain NaN or infinite scores")
        for video_id in ids:
            if not video_id or any(ch in video_id for ch in ", \n\r\t"):
                raise ValueError(f"video id {video_id!r} is empty or contains a separator")
        if not ids:
            return
        genre_rows = self._genre_rows(ids, p) if self.vocabulary is not None else None
        ranked = top_k_sorted(p, self.top_k)
        scores = np.take_along_axis(p, ranked, axis=1)
        lines = []
        for video_id, classes, row in zip(ids, ranked.tolist(), scores.tolist()):
            pairs = " ".join(f"{c} {SCORE_FORMAT % s}" for c, s in zip(classes, row))
            lines.append(f"{video_id},{pairs}\n")
        self._file.write("".join(lines))
        if genre_rows is not None:
            self._genre_csv.writerows(genre_rows)
        self.num_videos += len(ids)

    def _genre_rows(self, ids, p: np.ndarray) -> list[tuple]:
        """Computed before anything of the batch is written: a refusal writes nothing."""
        scores = genres.genre_scores(p, self.vocabulary, self.genre_rule, self.genre_k)
        best = scores.argmax(axis=1)  # lowest genre index on ties
        top = scores[np.arange(len(ids)), best].tolist()
        names = self.vocabulary.genre_names
        return [
            (video_id, names[g], SCORE_FORMAT % score, self.genre_rule)
            for video_id, g, score in zip(ids, best.tolist(), top)
        ]

    def _files(self):
        yield self._file, self._tmp, self.path
        if self._genre_file is not None:
            yield self._genre_file, _temporary(self.genre_path), self.genre_path

    def close(self) -> None:
        for file, tmp, path in self._files():
            if not file.closed:
                file.close()
                os.replace(tmp, path)

    def abort(self) -> None:
        for file, tmp, _ in self._files():
            if not file.closed:
                file.close()
            tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def write_predictions(path, ids, predictions, top_k: int = 20) -> Path:
    """Write the Kaggle file of (N, C) scores for N ids; returns the path."""
    with PredictionWriter(path, top_k) as writer:
        writer.write(ids, predictions)
    return Path(path)


def read_predictions(path) -> dict[str, list[tuple[int, float]]]:
    """{video id: [(class, score), ...] in file order}; DataError naming the line if malformed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "predictions file not found")
    out: dict[str, list[tuple[int, float]]] = {}
    with path.open(encoding="utf-8") as f:
        header = f.readline().strip()
        if header != HEADER:
            raise DataError(path, f"first line must be {HEADER!r}, got {header!r}")
        for number, line in enumerate(f, start=2):
            line = line.strip()
            if not line:
                continue
            video_id, _, rest = line.partition(",")
            fields = rest.split()
            if not video_id or len(fields) % 2:
                raise DataError(path, f"line {number}: expected 'id,label score label score ...'")
            try:
                pairs = [(int(fields[i]), float(fields[i + 1])) for i in range(0, len(fields), 2)]
            except ValueError:
                raise DataError(path, f"line {number}: a label or score is not a number") from None
            if video_id in out:
                raise DataError(path, f"line {number}: video {video_id!r} appears twice")
            out[video_id] = pairs
    return out


def read_genre_predictions(path) -> dict[str, tuple[str, float, str]]:
    """{video id: (genre, score, rule)} of a genre predictions file; DataError if malformed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "genre predictions file not found")
    out: dict[str, tuple[str, float, str]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != GENRE_HEADER:
            raise DataError(path, f"first line must be {','.join(GENRE_HEADER)!r}, got {header!r}")
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(GENRE_HEADER) or not row[0]:
                raise DataError(path, f"line {number}: expected 'id,genre,score,rule'")
            try:
                score = float(row[2])
            except ValueError:
                raise DataError(path, f"line {number}: the score is not a number") from None
            if row[0] in out:
                raise DataError(path, f"line {number}: video {row[0]!r} appears twice")
            out[row[0]] = (row[1], score, row[3])
    return out


def to_dense(pairs: dict[str, list[tuple[int, float]]], ids, num_classes: int) -> np.ndarray:
    """(len(ids), C) float32 scores from read_predictions' pairs; classes not listed get 0."""
    dense = np.zeros((len(ids), num_classes), dtype=np.float32)
    for row, video_id in enumerate(ids):
        for c, score in pairs[video_id]:
            dense[row, c] = score
    return dense

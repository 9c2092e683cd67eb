"""The Kaggle submission file of the YouTube-8M challenge.

    VideoId,LabelConfidencePairs
    XwFj,3 0.912 0 0.874 17 0.5 ...

one line per video: its id, then its top-k (default 20) classes and scores, score descending
(ties: lowest class index first, as in ``yt8m_lib.evaluation.metrics``).  Scores are written with
``%.6g`` (the starter code's ``%g``): six significant digits, and small probabilities keep
their magnitude (``1.2e-07``) instead of becoming 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from yt8m_lib.errors import DataError
from yt8m_lib.evaluation.ranking import top_k_sorted

HEADER = "VideoId,LabelConfidencePairs"
SCORE_FORMAT = "%.6g"


class PredictionWriter:
    """Writes the file batch by batch (``with PredictionWriter(path) as w: w.write(ids, p)``).

    The file appears under its name only when the writer closes without an error (it is
    written to a temporary file, then renamed).
    """

    def __init__(self, path, top_k: int = 20):
        if top_k < 1:
            raise ValueError(f"top_k must be positive, got {top_k}")
        self.path = Path(path)
        self.top_k = int(top_k)
        self.num_videos = 0
        self._tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._tmp.open("w", encoding="utf-8", newline="\n")
        self._file.write(HEADER + "\n")

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
        ranked = top_k_sorted(p, self.top_k)
        scores = np.take_along_axis(p, ranked, axis=1)
        lines = []
        for video_id, classes, row in zip(ids, ranked.tolist(), scores.tolist()):
            pairs = " ".join(f"{c} {SCORE_FORMAT % s}" for c, s in zip(classes, row))
            lines.append(f"{video_id},{pairs}\n")
        self._file.write("".join(lines))
        self.num_videos += len(ids)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)

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


def to_dense(pairs: dict[str, list[tuple[int, float]]], ids, num_classes: int) -> np.ndarray:
    """(len(ids), C) float32 scores from read_predictions' pairs; classes not listed get 0."""
    dense = np.zeros((len(ids), num_classes), dtype=np.float32)
    for row, video_id in enumerate(ids):
        for c, score in pairs[video_id]:
            dense[row, c] = score
    return dense

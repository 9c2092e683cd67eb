"""Checked (predictions, labels) arrays, walked in row chunks: the input checks that the
metrics and the genre scores share (a module of its own so neither imports the other)."""

from __future__ import annotations

import numpy as np

# rows handled at once: bounds the (rows, C) temporaries of argpartition to about 32 MB
_CHUNK_ELEMENTS = 1 << 22


def chunk_rows(num_classes: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(1, num_classes))


def as_arrays(predictions, labels) -> tuple[np.ndarray, np.ndarray]:
    """Shape checks (cheap, whole array); value checks happen per chunk in ``check_values``."""
    p = np.asarray(predictions)
    y = np.asarray(labels)
    if p.ndim != 2 or y.ndim != 2:
        raise ValueError(
            f"predictions and labels must be 2-D (videos, classes); "
            f"got shapes {p.shape} and {y.shape}"
        )
    if p.shape != y.shape:
        raise ValueError(f"predictions and labels differ in shape: {p.shape} vs {y.shape}")
    if p.shape[1] == 0:
        raise ValueError("predictions have no classes (shape has C = 0)")
    if not (np.issubdtype(p.dtype, np.number) or p.dtype == np.bool_):
        raise ValueError(f"predictions must be numeric, got dtype {p.dtype}")
    if np.issubdtype(p.dtype, np.complexfloating):
        raise ValueError("predictions must be real numbers, got complex values")
    if not np.issubdtype(p.dtype, np.floating):
        p = p.astype(np.float64)  # integer or bool scores: negation below must not wrap
    return p, y


def check_values(p: np.ndarray, y: np.ndarray, first_row: int) -> None:
    if not np.isfinite(p).all():
        bad = int(np.argwhere(~np.isfinite(p))[0][0]) + first_row
        raise ValueError(f"predictions contain NaN or infinite scores (first at video {bad})")
    if y.dtype != np.bool_:
        ok = (y == 0) | (y == 1)
        if not ok.all():
            row, col = np.argwhere(~ok)[0]
            raise ValueError(
                f"labels must be 0 or 1; video {int(row) + first_row}, class "
                f"{int(col)} has {y[row, col]!r}"
            )


def check_top_k(top_k) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    return int(top_k)


def chunks(p: np.ndarray, y: np.ndarray):
    """Validated row chunks (start, p_chunk, y_chunk as bool)."""
    step = chunk_rows(p.shape[1])
    for start in range(0, p.shape[0], step):
        pc, yc = p[start : start + step], y[start : start + step]
        check_values(pc, yc, start)
        yield start, pc, (yc if yc.dtype == np.bool_ else yc == 1)

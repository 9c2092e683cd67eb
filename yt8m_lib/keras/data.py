"""Keras input pipeline: the project's batches (``yt8m_lib.data.batches.InputSpec``) as
TensorFlow tensors (same names as ``yt8m_lib.torch.data``).

The very batches PyTorch trains on, in the same order: one reader per worker of a
multi-worker run reads its own share (``yt8m_lib.data.records.reader_share``), two batches
ahead in a thread (``BackgroundLoader``), and the tensors are made there too.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402  (the real TensorFlow: absolute import)

from yt8m_lib.data.batches import BackgroundLoader, InputSpec  # noqa: E402


def to_tensors(batch: dict) -> dict:
    """A numpy batch as TensorFlow tensors (``num_frames`` int32); ``id`` stays a list of
    str."""
    out = {
        key: value if key == "id" else tf.convert_to_tensor(value) for key, value in batch.items()
    }
    if "num_frames" in out:
        out["num_frames"] = tf.cast(out["num_frames"], tf.int32)
    return out


def make_loader(
    spec: InputSpec,
    *,
    epoch: int = 0,
    reader_index: int = 0,
    num_readers: int = 1,
    prefetch: int = 2,
):
    """One epoch of one reader's batches as tensors, read ``prefetch`` batches ahead in a
    thread (0: in series with the consumer)."""
    tensors = (to_tensors(batch) for batch in spec.batches(epoch, reader_index, num_readers))
    return BackgroundLoader(tensors, prefetch) if prefetch > 0 else tensors

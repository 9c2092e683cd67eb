"""From parsed records to model inputs (numpy, framework-neutral): dequantization, frame
sampling, L2 normalisation, multi-hot labels and batching. Both frameworks' input pipelines
call these, so Keras and PyTorch models see identical arrays."""

from __future__ import annotations

import functools
import zlib

import numpy as np

from yt8m_lib.data.records import FrameExample, VideoExample

# The official 8-bit quantization of YouTube-8M features over [-2, 2].
QUANT_MIN, QUANT_MAX = -2.0, 2.0
_SCALE = np.float32((QUANT_MAX - QUANT_MIN) / 255.0)  # 4/255
_BIAS = np.float32((QUANT_MAX - QUANT_MIN) / 512.0 + QUANT_MIN)  # 4/512 - 2 (half a step up)
# tf.math.l2_normalize's epsilon (on the squared norm), as in the starter code
L2_EPSILON = 1e-12
SAMPLING_MODES = ("uniform", "random", "all")


def dequantize(x, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 -> float32: ``x * 4/255 + (4/512 - 2)`` (0 -> -1.9921875, 255 -> 2.0078125).
    The same float32 arithmetic as ``x.astype(float32) * scale + bias``, in two passes and
    one new array (or into ``out``)."""
    out = np.multiply(np.asarray(x), _SCALE, dtype=np.float32, out=out)
    out += _BIAS
    return out


def quantize(x) -> np.ndarray:
    """float -> uint8: ``round((clip(x, -2, 2) + 2) * 255/4)`` (the writer side)."""
    x = np.clip(np.asarray(x, dtype=np.float64), QUANT_MIN, QUANT_MAX)
    return np.rint((x - QUANT_MIN) * (255.0 / (QUANT_MAX - QUANT_MIN))).astype(np.uint8)


def frame_rng(seed: int, epoch: int, video_id: str) -> np.random.Generator:
    """A generator for one video's frame draw, the same in every process and framework
    (crc32 of the id, because Python's hash() of a str changes between processes)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF,
                                  zlib.crc32(video_id.encode("utf-8"))])


def sample_frame_indices(num_frames: int, k: int, mode: str = "uniform",
                         rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices (sorted, int64) of min(k, num_frames) of a video's real frames.

    'uniform': the centres of k equal spans of the video; 'random': a sorted draw without
    replacement (needs ``rng``); 'all': the first k frames.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown frame sampling {mode!r}; choose from {SAMPLING_MODES}")
    if k < 1:
        raise ValueError(f"k must be positive, not {k}")
    n = int(num_frames)
    if mode == "all" or n <= k:
        return _fixed_indices(min(n, k), k, "all")
    if mode == "uniform":
        return _fixed_indices(n, k, "uniform")
    if rng is None:
        raise ValueError("random frame sampling needs rng (see frame_rng)")
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


@functools.lru_cache(maxsize=4096)
def _fixed_indices(n: int, k: int, mode: str) -> np.ndarray:
    """The seed-free indices, computed once per (frames, k): read-only, shared by callers."""
    if mode == "all":
        indices = np.arange(n, dtype=np.int64)
    else:
        indices = ((np.arange(k) + 0.5) * (n / k)).astype(np.int64)
    indices.flags.writeable = False
    return indices


def _l2_scale(rgb: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """float32 1 / ||concat(rgb, audio)|| along the last axis (keepdims), epsilon-safe."""
    squared = (np.square(rgb, dtype=np.float32).sum(-1, keepdims=True)
               + np.square(audio, dtype=np.float32).sum(-1, keepdims=True))
    return (1.0 / np.sqrt(np.maximum(squared, L2_EPSILON))).astype(np.float32)


def l2_normalize(rgb: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide rgb and audio by the L2 norm of concat(rgb, audio) along the last axis
    (per video, or per frame); all-zero rows (padding) stay zero."""
    scale = _l2_scale(rgb, audio)
    return (rgb * scale).astype(np.float32), (audio * scale).astype(np.float32)


def _l2_normalize_in_place(rgb: np.ndarray, audio: np.ndarray) -> None:
    """``l2_normalize`` into the (float32) arrays themselves: the same values."""
    scale = _l2_scale(rgb, audio)
    np.multiply(rgb, scale, out=rgb)
    np.multiply(audio, scale, out=audio)


def multi_hot(labels, num_classes: int) -> np.ndarray:
    """float32 (num_classes,) with 1 at every label."""
    return multi_hot_batch([labels], num_classes)[0]


def multi_hot_batch(label_lists, num_classes: int) -> np.ndarray:
    """float32 (videos, num_classes): row i has 1 at every label of ``label_lists[i]``."""
    label_lists = [np.asarray(labels, dtype=np.int64).reshape(-1) for labels in label_lists]
    out = np.zeros((len(label_lists), num_classes), dtype=np.float32)
    counts = [len(labels) for labels in label_lists]
    if sum(counts):
        flat = np.concatenate(label_lists)
        if flat.min() < 0 or flat.max() >= num_classes:
            bad = next(labels for labels in label_lists
                       if len(labels) and (labels.min() < 0 or labels.max() >= num_classes))
            raise ValueError(f"labels {bad.tolist()} outside 0..{num_classes - 1}")
        out[np.repeat(np.arange(len(label_lists)), counts), flat] = 1.0
    return out


# ------------------------------------------------------------------ batches of model inputs
# The pipelines build whole batches at once: the per-video work is only picking frames;
# dequantization, normalisation and the labels are one numpy call per batch (per-video calls
# were most of the PyTorch pipeline's time). ``video_inputs`` / ``frame_inputs`` are the
# batches of one video.

def video_batch(examples: list[VideoExample], num_classes: int,
                normalize: bool = True) -> dict:
    """Video-level examples as a batch of model inputs: id (list of str), rgb (B, 1024),
    audio (B, 128), labels (B, C) multi-hot."""
    if not examples:
        raise ValueError("cannot build an empty batch")
    rgb = np.stack([ex.mean_rgb for ex in examples]).astype(np.float32, copy=False)
    audio = np.stack([ex.mean_audio for ex in examples]).astype(np.float32, copy=False)
    if normalize:
        _l2_normalize_in_place(rgb, audio)
    return {"id": [ex.id for ex in examples], "rgb": rgb, "audio": audio,
            "labels": multi_hot_batch([ex.labels for ex in examples], num_classes)}


def frame_batch(examples: list[FrameExample], num_classes: int, k: int,
                mode: str = "uniform", rngs=None, normalize: bool = True,
                video_means: bool = True) -> dict:
    """Frame-level examples as a batch of model inputs.

    rgb (B, k, 1024) and audio (B, k, 128): each video's sampled frames, dequantized (and
    L2-normalised per frame), right-padded with zeros; num_frames (B,) int64: how many rows
    are real; mean_rgb (B, 1024) and mean_audio (B, 128): the dequantized mean over ALL real
    frames (normalised per video, like video-level inputs; left out with
    ``video_means=False``: only ``hybrid`` reads them, and they cost a pass over every
    frame); labels (B, C) multi-hot. ``rngs``: one generator per video for 'random'
    sampling (``frame_rng``).
    """
    if not examples:
        raise ValueError("cannot build an empty batch")
    size = len(examples)
    rgb_dim, audio_dim = examples[0].rgb.shape[1], examples[0].audio.shape[1]
    rgb_bytes = np.zeros((size, k, rgb_dim), dtype=np.uint8)
    audio_bytes = np.zeros((size, k, audio_dim), dtype=np.uint8)
    num_frames = np.zeros(size, dtype=np.int64)
    for i, ex in enumerate(examples):
        indices = sample_frame_indices(ex.num_frames, k, mode,
                                       None if rngs is None else rngs[i])
        n = num_frames[i] = len(indices)
        # (fancy indexing: np.take first copies a strided source, the whole record)
        rgb_bytes[i, :n] = ex.rgb[indices]
        audio_bytes[i, :n] = ex.audio[indices]
    rgb, audio = dequantize(rgb_bytes), dequantize(audio_bytes)
    if normalize:
        _l2_normalize_in_place(rgb, audio)
    padding = np.arange(k) >= num_frames[:, None]  # (B, k): rows past a video's frames
    if padding.any():
        rgb[padding] = 0.0
        audio[padding] = 0.0
    batch = {"id": [ex.id for ex in examples], "rgb": rgb, "audio": audio,
             "num_frames": num_frames}
    if video_means:
        # dequantize is affine, so the mean of dequantized frames is dequantize(mean of bytes)
        mean_rgb = np.stack([_byte_mean(ex.rgb) for ex in examples])
        mean_audio = np.stack([_byte_mean(ex.audio) for ex in examples])
        if normalize:
            _l2_normalize_in_place(mean_rgb, mean_audio)
        batch.update(mean_rgb=mean_rgb, mean_audio=mean_audio)
    batch["labels"] = multi_hot_batch([ex.labels for ex in examples], num_classes)
    return batch


# 257 x 255 = 65535: a uint16 column sum of up to this many byte rows cannot overflow
_UINT16_ROWS = 257


def _byte_mean(frames: np.ndarray) -> np.ndarray:
    """dequantize(mean over frames of the bytes), float32: the mean in float64 then the
    affine map (the tf.data pipeline does the same). The byte sums are exact integers,
    accumulated in uint16 over blocks of at most 257 frames (a third faster than a float32
    or int32 accumulator) and added up in float64."""
    sums = frames[:_UINT16_ROWS].sum(axis=0, dtype=np.uint16).astype(np.float64)
    for start in range(_UINT16_ROWS, len(frames), _UINT16_ROWS):
        sums += frames[start:start + _UINT16_ROWS].sum(axis=0, dtype=np.uint16)
    return (sums / len(frames) * _SCALE + _BIAS).astype(np.float32)


def _one(batch: dict) -> dict:
    """The single video of a batch of one, without the batch axis."""
    return {key: value[0] for key, value in batch.items()}


def video_inputs(ex: VideoExample, num_classes: int, normalize: bool = True) -> dict:
    """A video-level example as model inputs: id, rgb (1024,), audio (128,), labels (C,)
    (``video_batch`` of one video)."""
    return _one(video_batch([ex], num_classes, normalize))


def frame_inputs(ex: FrameExample, num_classes: int, k: int, mode: str = "uniform",
                 rng: np.random.Generator | None = None, normalize: bool = True,
                 video_means: bool = True) -> dict:
    """A frame-level example as model inputs (``frame_batch`` of one video): rgb (k, 1024),
    audio (k, 128), num_frames (int), the video means and labels (C,)."""
    inputs = _one(frame_batch([ex], num_classes, k, mode, None if rng is None else [rng],
                              normalize, video_means))
    inputs["num_frames"] = int(inputs["num_frames"])
    return inputs


def genre_labels(labels: np.ndarray, label_genres) -> np.ndarray:
    """(B, G) multi-hot genre targets of (B, C) multi-hot class labels: a video carries a
    genre when any of its classes belongs to it (``label_genres[c]``: the genre index of
    class c, G = max + 1). The targets of a genre head (``RunSpec.target == "genres"``)."""
    index = np.asarray(label_genres, dtype=np.int64)
    if index.shape != (labels.shape[1],):
        raise ValueError(f"{index.shape[0]} class genres for {labels.shape[1]} classes")
    membership = np.zeros((index.size, int(index.max()) + 1), dtype=np.float32)
    membership[np.arange(index.size), index] = 1.0
    return ((labels.astype(np.float32) @ membership) > 0).astype(labels.dtype)

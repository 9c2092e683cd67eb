"""From parsed records to model inputs (numpy, framework-neutral): dequantization, frame
sampling, L2 normalisation, multi-hot labels and batching. Both frameworks' input pipelines
call these, so Keras and PyTorch models see identical arrays."""

from __future__ import annotations

import zlib

import numpy as np

from yt8m_lib.records import FrameExample, VideoExample

# The official 8-bit quantization of YouTube-8M features over [-2, 2].
QUANT_MIN, QUANT_MAX = -2.0, 2.0
_SCALE = np.float32((QUANT_MAX - QUANT_MIN) / 255.0)  # 4/255
_BIAS = np.float32((QUANT_MAX - QUANT_MIN) / 512.0 + QUANT_MIN)  # 4/512 - 2 (half a step up)
# tf.math.l2_normalize's epsilon (on the squared norm), as in the starter code
L2_EPSILON = 1e-12
SAMPLING_MODES = ("uniform", "random", "all")


def dequantize(x) -> np.ndarray:
    """uint8 -> float32: ``x * 4/255 + (4/512 - 2)`` (0 -> -1.9921875, 255 -> 2.0078125)."""
    return np.asarray(x).astype(np.float32) * _SCALE + _BIAS


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
        return np.arange(min(n, k), dtype=np.int64)
    if mode == "uniform":
        return ((np.arange(k) + 0.5) * (n / k)).astype(np.int64)
    if rng is None:
        raise ValueError("random frame sampling needs rng (see frame_rng)")
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


def l2_normalize(rgb: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide rgb and audio by the L2 norm of concat(rgb, audio) along the last axis
    (per video, or per frame); all-zero rows (padding) stay zero."""
    squared = (np.square(rgb, dtype=np.float32).sum(-1, keepdims=True)
               + np.square(audio, dtype=np.float32).sum(-1, keepdims=True))
    scale = (1.0 / np.sqrt(np.maximum(squared, L2_EPSILON))).astype(np.float32)
    return (rgb * scale).astype(np.float32), (audio * scale).astype(np.float32)


def multi_hot(labels, num_classes: int) -> np.ndarray:
    """float32 (num_classes,) with 1 at every label."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels {labels.tolist()} outside 0..{num_classes - 1}")
    out = np.zeros(num_classes, dtype=np.float32)
    out[labels] = 1.0
    return out


def video_inputs(ex: VideoExample, num_classes: int, normalize: bool = True) -> dict:
    """A video-level example as model inputs: id, rgb (1024,), audio (128,), labels (C,)."""
    rgb = np.asarray(ex.mean_rgb, dtype=np.float32)
    audio = np.asarray(ex.mean_audio, dtype=np.float32)
    if normalize:
        rgb, audio = l2_normalize(rgb, audio)
    return {"id": ex.id, "rgb": rgb, "audio": audio, "labels": multi_hot(ex.labels, num_classes)}


def _byte_mean(frames: np.ndarray) -> np.ndarray:
    """dequantize(mean over frames of the bytes), float32: the mean in float64 then the
    affine map (the tf.data pipeline does the same). The byte sums are accumulated in
    float32, which is exact (at most 255 x frames < 2**24) and twice as fast as float64."""
    exact = np.float32 if len(frames) * 255 < 2**24 else np.float64
    sums = frames.sum(axis=0, dtype=exact).astype(np.float64)
    return (sums / len(frames) * _SCALE + _BIAS).astype(np.float32)


def frame_inputs(ex: FrameExample, num_classes: int, k: int, mode: str = "uniform",
                 rng: np.random.Generator | None = None, normalize: bool = True,
                 video_means: bool = True) -> dict:
    """A frame-level example as model inputs.

    rgb (k, 1024) and audio (k, 128): the sampled frames, dequantized (and L2-normalised per
    frame), right-padded with zeros; num_frames: how many rows are real; mean_rgb (1024,) and
    mean_audio (128,): the dequantized mean over ALL real frames (normalised per video, like
    video-level inputs; left out with ``video_means=False``: only ``hybrid`` reads them, and
    they cost a pass over every frame); labels (C,) multi-hot.
    """
    indices = sample_frame_indices(ex.num_frames, k, mode, rng)
    rgb_frames, audio_frames = dequantize(ex.rgb[indices]), dequantize(ex.audio[indices])
    if normalize:
        rgb_frames, audio_frames = l2_normalize(rgb_frames, audio_frames)
    n = len(indices)
    rgb = np.zeros((k, ex.rgb.shape[1]), dtype=np.float32)
    audio = np.zeros((k, ex.audio.shape[1]), dtype=np.float32)
    rgb[:n], audio[:n] = rgb_frames, audio_frames
    inputs = {"id": ex.id, "rgb": rgb, "audio": audio, "num_frames": n}
    if video_means:
        # dequantize is affine, so the mean of dequantized frames is dequantize(mean of bytes)
        mean_rgb, mean_audio = _byte_mean(ex.rgb), _byte_mean(ex.audio)
        if normalize:
            mean_rgb, mean_audio = l2_normalize(mean_rgb, mean_audio)
        inputs.update(mean_rgb=mean_rgb, mean_audio=mean_audio)
    inputs["labels"] = multi_hot(ex.labels, num_classes)
    return inputs


def stack_batch(items: list[dict]) -> dict:
    """Stack per-example dicts into a batch: arrays stacked on a new first axis,
    ``num_frames`` as int64 (B,), ``id`` as a list of str."""
    if not items:
        raise ValueError("cannot stack an empty batch")
    batch = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if key == "id":
            batch[key] = list(values)
        elif key == "num_frames":
            batch[key] = np.asarray(values, dtype=np.int64)
        else:
            batch[key] = np.stack(values)
    return batch

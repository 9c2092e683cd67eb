"""`yt8m inspect` (summarise record files) and `yt8m export` (records -> .npz).

Both read every record with the CRC and content checks of ``yt8m_lib.data.records``, so a bad
file stops them with a DataError naming the file, the record and the problem (exit 2).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from yt8m_lib.config import AUDIO_DIM, MAX_FRAMES, RGB_DIM
from yt8m_lib.errors import DataError
from yt8m_lib.data.features import dequantize
from yt8m_lib.data.records import count_examples, detect_level, expand_paths, iter_examples


def vocabulary_size(path) -> int:
    """Number of classes in a vocabulary.csv: its data rows (header excluded)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise DataError(path, f"cannot read vocabulary: {error.strerror or error}") from None
    rows = [row for row in rows[1:] if row]
    if not rows:
        raise DataError(path, "vocabulary has no rows")
    return len(rows)


def _num_classes(args) -> int | None:
    if getattr(args, "vocabulary", None):
        return vocabulary_size(args.vocabulary)
    return getattr(args, "num_classes", None)


def _level(files: list[Path]) -> str:
    """The level of the first file; every other file must have the same."""
    level = detect_level(files[0])
    for path in files[1:]:
        other = detect_level(path)
        if other != level:
            raise DataError(path, f"{other}-level file among {level}-level files "
                            f"(first: {files[0]})")
    return level


def _progress(iterable, total, desc, enabled=True):
    return tqdm(iterable, total=total, desc=desc, unit="video", leave=False,
                disable=not enabled or None)  # None: silent when stderr is not a terminal


def _stats(values) -> dict:
    values = np.asarray(values, dtype=np.float64)
    if not values.size:
        return {"mean": None, "min": None, "max": None}
    return {"mean": round(float(values.mean()), 4), "min": float(values.min()),
            "max": float(values.max())}


def summarize(paths, *, num_classes: int | None = None, verify_crc: bool = True,
              progress: bool = True) -> dict:
    """Summary of record files: level, counts, labels, frames, duplicates, value ranges."""
    files = expand_paths(paths)
    level = _level(files)
    total = count_examples(files)
    ids = Counter()
    label_counts, frame_counts, label_min, label_max = [], [], None, None
    distinct_labels = set()
    ranges = {"rgb": [np.inf, -np.inf], "audio": [np.inf, -np.inf]}
    examples = iter_examples(files, level, num_classes=num_classes, verify_crc=verify_crc)
    for ex in _progress(examples, total, "inspect", progress):
        ids[ex.id] += 1
        label_counts.append(len(ex.labels))
        if len(ex.labels):
            low, high = int(ex.labels.min()), int(ex.labels.max())
            label_min = low if label_min is None else min(label_min, low)
            label_max = high if label_max is None else max(label_max, high)
            distinct_labels.update(ex.labels.tolist())
        if level == "frame":
            frame_counts.append(ex.num_frames)
            streams = {"rgb": ex.rgb, "audio": ex.audio}
        else:
            streams = {"rgb": ex.mean_rgb, "audio": ex.mean_audio}
        for key, values in streams.items():
            ranges[key][0] = min(ranges[key][0], values.min())
            ranges[key][1] = max(ranges[key][1], values.max())
    duplicates = sorted(video_id for video_id, n in ids.items() if n > 1)
    summary = {
        "level": level,
        "files": len(files),
        "records": int(sum(ids.values())),
        "videos": len(ids),
        "duplicate_ids": len(duplicates),
        "duplicate_id_examples": duplicates[:5],
        "labels_per_video": _stats(label_counts),
        "videos_without_labels": int(sum(1 for n in label_counts if n == 0)),
        "label_range": {"min": label_min, "max": label_max},
        "distinct_labels": len(distinct_labels),
        "num_classes_checked": num_classes,
    }
    if level == "frame":
        summary["frames_per_video"] = _stats(frame_counts)
        summary["videos_over_300_frames"] = int(sum(1 for n in frame_counts if n > MAX_FRAMES))
    value_ranges = {}
    for key, (low, high) in ranges.items():
        if level == "frame":  # frames are stored quantized: report bytes and what they mean
            low, high = dequantize(np.array([low, high], dtype=np.uint8)).tolist()
        value_ranges[key] = {"min": round(float(low), 6), "max": round(float(high), 6)}
    summary["value_ranges"] = value_ranges
    summary["paths"] = [str(path) for path in files]
    return summary


def _fmt_stats(stats: dict) -> str:
    if stats["mean"] is None:
        return "-"
    return f"mean {stats['mean']:.2f}, min {stats['min']:g}, max {stats['max']:g}"


def format_table(summary: dict) -> str:
    """The summary as aligned 'name  value' lines."""
    rows = [
        ("level", summary["level"]),
        ("files", summary["files"]),
        ("records", summary["records"]),
        ("videos (distinct ids)", summary["videos"]),
        ("duplicate ids", summary["duplicate_ids"]
         if not summary["duplicate_ids"]
         else f"{summary['duplicate_ids']} (e.g. {', '.join(summary['duplicate_id_examples'])})"),
        ("labels per video", _fmt_stats(summary["labels_per_video"])),
        ("videos without labels", summary["videos_without_labels"]),
        ("label range", "-" if summary["label_range"]["min"] is None else
         f"{summary['label_range']['min']}..{summary['label_range']['max']}"
         + (f" (checked < {summary['num_classes_checked']})"
            if summary["num_classes_checked"] else "")),
        ("distinct labels", summary["distinct_labels"]),
    ]
    if summary["level"] == "frame":
        rows.append(("frames per video", _fmt_stats(summary["frames_per_video"])))
        rows.append(("videos over 300 frames", summary["videos_over_300_frames"]))
    for key, span in summary["value_ranges"].items():
        name = f"{key} values" + (" (dequantized)" if summary["level"] == "frame" else "")
        rows.append((name, f"{span['min']:.4f} .. {span['max']:.4f}"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def cli_inspect(args) -> int:
    summary = summarize(args.paths, num_classes=_num_classes(args),
                        verify_crc=not getattr(args, "no_verify_crc", False))
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=2))
    else:
        print(format_table(summary))
    return 0


def export_arrays(paths, *, num_classes: int | None = None, verify_crc: bool = True,
                  progress: bool = True) -> dict[str, np.ndarray]:
    """The arrays `yt8m export` writes: ids, labels (N, C) uint8 multi-hot and
    mean_rgb/mean_audio (video level) or rgb (N, 300, 1024), audio (N, 300, 128) dequantized
    float32, zero-padded, with num_frames (frame level; frames past 300 are dropped)."""
    files = expand_paths(paths)
    level = _level(files)
    total = count_examples(files)
    if level == "video":
        arrays = {"mean_rgb": np.zeros((total, RGB_DIM), np.float32),
                  "mean_audio": np.zeros((total, AUDIO_DIM), np.float32)}
    else:
        arrays = {"rgb": np.zeros((total, MAX_FRAMES, RGB_DIM), np.float32),
                  "audio": np.zeros((total, MAX_FRAMES, AUDIO_DIM), np.float32),
                  "num_frames": np.zeros(total, np.int64)}
    ids, labels = [], []
    examples = iter_examples(files, level, num_classes=num_classes, verify_crc=verify_crc,
                             max_frames=MAX_FRAMES)
    for i, ex in enumerate(_progress(examples, total, "export", progress)):
        ids.append(ex.id)
        labels.append(ex.labels)
        if level == "video":
            arrays["mean_rgb"][i] = ex.mean_rgb
            arrays["mean_audio"][i] = ex.mean_audio
        else:
            n = ex.num_frames
            arrays["rgb"][i, :n] = dequantize(ex.rgb)
            arrays["audio"][i, :n] = dequantize(ex.audio)
            arrays["num_frames"][i] = n
    if num_classes is None:  # no vocabulary: the largest label seen decides
        num_classes = 1 + max((int(x.max()) for x in labels if len(x)), default=-1)
    multi_hot = np.zeros((len(ids), num_classes), dtype=np.uint8)
    for i, video_labels in enumerate(labels):
        multi_hot[i, video_labels] = 1
    return {"ids": np.array(ids, dtype=str), "labels": multi_hot, **arrays}


def cli_export(args) -> int:
    arrays = export_arrays(args.paths, num_classes=_num_classes(args),
                           verify_crc=not getattr(args, "no_verify_crc", False))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # atomic: write beside the target, then rename (a half-written .npz never appears)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    shape = " ".join(f"{key}{tuple(value.shape)}" for key, value in arrays.items())
    print(f"wrote {out}: {shape}")
    return 0

"""The real-data quality bar: ``fc`` against ``logistic`` (and the label prior) on real shards.

``yt8m real-check DATA_DIR`` (``make real-check REAL_DATA=…``) splits the video-level
shards of a real YouTube-8M folder by file: the last ``--val-shards`` files (sorted by name)
are held out, the others train. Each model is trained with the trainer of the chosen
framework (the same code as every other run), the best epoch by validation GAP is kept, and
the held-out shards are scored with the official metrics. Splitting by file, never by video,
keeps every video of a shard on one side.

The **label prior** scores every video with the training frequency of each class: what a
model learns without looking at any feature, the floor "far above chance" is measured
against (random scores would be far lower still).

Writes ``OUT/summary.json`` (the split, every model's held-out metrics and run folder, the
prior's metrics) beside one run folder per model, and prints a table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from yt8m_lib.errors import ConfigError

CHECK_MODELS = ("logistic", "fc")
OFFICIAL_METRICS = ("gap", "hit_at_1", "perr", "map")


def split_shards(data_dir, val_shards: int) -> tuple[list[Path], list[Path]]:
    """(train files, held-out files) of the video-level shards under ``data_dir``."""
    data_dir = Path(data_dir)
    files = sorted(
        {p for pattern in ("*.tfrecord", "video*/*.tfrecord") for p in data_dir.glob(pattern)},
        key=lambda p: p.name,
    )
    if not files:
        raise ConfigError(f"{data_dir}: no .tfrecord shards (looked in ., video*/)")
    if not 1 <= val_shards < len(files):
        raise ConfigError(
            f"--val-shards {val_shards}: need 1 to {len(files) - 1} of the {len(files)} shards"
        )
    return files[:-val_shards], files[-val_shards:]


def prior_metrics(train_files, held_out_files, num_classes: int) -> dict:
    """Official metrics of the label-prior predictor (training class frequencies)."""
    from yt8m_lib.data.datasets import label_matrix, read_split
    from yt8m_lib.data.records import iter_examples
    from yt8m_lib.evaluation.metrics import evaluate_all

    counts = np.zeros(num_classes, dtype=np.float64)
    videos = 0
    for ex in iter_examples([str(p) for p in train_files], "video", num_classes=num_classes):
        counts[ex.labels] += 1
        videos += 1
    prior = (counts / max(videos, 1)).astype(np.float32)
    y = label_matrix(read_split(held_out_files, "video", num_classes), num_classes)
    scores = np.broadcast_to(prior, y.shape)
    return {"train_videos": videos, "held_out_videos": len(y), **evaluate_all(scores, y)}


def run_check(
    data_dir,
    out_dir,
    *,
    framework: str = "torch",
    profile: str = "paper",
    val_shards: int = 8,
    epochs: int | None = None,
    seed: int = 0,
    models=CHECK_MODELS,
    vocabulary=None,
    progress: bool = True,
) -> dict:
    """Train and score every model of the check; returns (and writes) the summary."""
    from yt8m_lib.commands import load_framework, resolve_num_classes
    from yt8m_lib.data.datasets import resolve_vocabulary

    train_files, held_out = split_shards(data_dir, val_shards)
    vocab = resolve_vocabulary(vocabulary, [str(p) for p in train_files])
    num_classes = resolve_num_classes(vocab, None, [str(p) for p in train_files])
    trainer = load_framework(framework)
    out = Path(out_dir)
    summary = {
        "data_dir": str(Path(data_dir).resolve()),
        "framework": framework,
        "profile": profile,
        "seed": seed,
        "epochs": epochs,
        "train_shards": [p.name for p in train_files],
        "held_out_shards": [p.name for p in held_out],
        "models": {},
    }
    for model in models:
        run_dir = out / framework / model
        start = time.perf_counter()
        trainer.train(
            model=model,
            train_paths=[str(p) for p in train_files],
            val_paths=[str(p) for p in held_out],
            out_dir=str(run_dir),
            profile=profile,
            seed=seed,
            vocabulary=None if vocab is None else str(vocab),
            num_classes=num_classes,
            resume=True,
            progress=progress,
            epochs=epochs,
        )
        metrics = trainer.evaluate(
            str(run_dir),
            [str(p) for p in held_out],
            vocabulary=None if vocab is None else str(vocab),
            split_name="held_out",
        )
        summary["models"][model] = {
            "run_dir": str(run_dir),
            **{k: float(metrics[k]) for k in OFFICIAL_METRICS},
            "seconds": round(time.perf_counter() - start, 1),
        }
    summary["label_prior"] = prior_metrics(train_files, held_out, num_classes)
    out.mkdir(parents=True, exist_ok=True)
    (out / framework / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def format_summary(summary: dict) -> str:
    rows = [("model", "GAP@20", "Hit@1", "PERR", "mAP@20")]
    entries = {**summary["models"], "label prior": summary["label_prior"]}
    for name, m in entries.items():
        rows.append((name, *(f"{m[k]:.3f}" for k in OFFICIAL_METRICS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return (
        f"{summary['framework']}, profile {summary['profile']}: trained on "
        f"{len(summary['train_shards'])} shards, held out "
        f"{', '.join(summary['held_out_shards'])}\n" + "\n".join(lines)
    )


def cli_main(args) -> int:
    summary = run_check(
        args.data_dir,
        args.out,
        framework=args.framework,
        profile=args.profile,
        val_shards=args.val_shards,
        epochs=args.epochs,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(format_summary(summary))
    return 0

"""The real-data quality bar: ``fc`` against ``logistic`` (and the label prior) on real shards.

``yt8m real-check FOLDER`` (``make real-check``) trains on the **train** shards of a split
by shard (``yt8m_lib.data.splits``), keeps the epoch with the best GAP on the **validate**
shards (the trainers do: the validate shards are their validation data), then scores the
**test** shards once with ``evaluate`` (``evaluations.test`` of each run record). FOLDER is a
folder made by ``yt8m real-data`` (its ``split.json`` is used as it is) or a folder of real
video-level shards, which is split here into ``OUT/split`` (``--split``, ``--split-seed``).
Every run record carries the split (``data.split``).

The **label prior** scores every test video with the training frequency of each class: what
a model learns without looking at any feature, the floor "far above chance" is measured
against (random scores would be far lower still).

Writes ``OUT/<framework>/summary.json`` (the split, every model's test metrics, its best
epoch and validate GAP, its run folder, the prior's test metrics) beside one run folder per
model, and prints a table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from yt8m_lib.data import splits
from yt8m_lib.errors import ConfigError

CHECK_MODELS = ("logistic", "fc")
OFFICIAL_METRICS = ("gap", "hit_at_1", "perr", "map")


def prepare_split(data_dir, out_dir, *, split: str | None = None, seed: int = 0) -> Path:
    """The split manifest to use: ``data_dir/split.json`` when there is one (checked, md5s
    included), else a new split of ``data_dir``'s shards written to ``out_dir/split``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ConfigError(f"{data_dir}: no such folder")
    path = data_dir / splits.SPLIT_FILE
    if path.is_file():
        manifest = splits.read_manifest(path)
        if split is not None or seed != 0:
            raise ConfigError(
                f"{data_dir} has its split ({path}); --split and --split-seed apply to a "
                "folder of shards (or remake it: yt8m real-data --split ...)"
            )
        splits.validate_manifest(manifest, path)
        return path
    return splits.make_real_data(data_dir, Path(out_dir) / "split", split=split, seed=seed)


def prior_metrics(train_files, test_files, num_classes: int) -> dict:
    """Official metrics of the label-prior predictor (training class frequencies) on the
    test files."""
    from yt8m_lib.data.datasets import label_matrix, read_split
    from yt8m_lib.data.records import iter_examples
    from yt8m_lib.evaluation.metrics import evaluate_all

    counts = np.zeros(num_classes, dtype=np.float64)
    videos = 0
    for ex in iter_examples([str(p) for p in train_files], "video", num_classes=num_classes):
        counts[ex.labels] += 1
        videos += 1
    prior = (counts / max(videos, 1)).astype(np.float32)
    y = label_matrix(read_split(test_files, "video", num_classes), num_classes)
    scores = np.broadcast_to(prior, y.shape)
    return {"train_videos": videos, "test_videos": len(y), **evaluate_all(scores, y)}


def _same_split(run_dir: Path, split_id: str) -> bool:
    """Whether the run folder's record was trained on this split (else it is not resumed)."""
    from yt8m_lib.runs import run_record

    if not (run_dir / run_record.RUN_FILE).is_file():
        return True  # nothing to resume
    record = run_record.read_run_record(run_dir)
    return (record.get("data", {}).get("split") or {}).get("id") == split_id


def run_check(
    data_dir,
    out_dir,
    *,
    framework: str = "torch",
    profile: str = "paper",
    split: str | None = None,
    split_seed: int = 0,
    epochs: int | None = None,
    seed: int = 0,
    models=CHECK_MODELS,
    vocabulary=None,
    progress: bool = True,
) -> dict:
    """Train and score every model of the check; returns (and writes) the summary."""
    from yt8m_lib.commands import load_framework, resolve_num_classes
    from yt8m_lib.data.datasets import resolve_vocabulary

    out = Path(out_dir)
    manifest_path = prepare_split(data_dir, out, split=split, seed=split_seed)
    manifest = splits.read_manifest(manifest_path)
    files = {name: [str(p) for p in fs] for name, fs in splits.split_files(manifest_path).items()}
    vocab = resolve_vocabulary(vocabulary, files["train"])
    num_classes = resolve_num_classes(vocab, None, files["train"])
    vocab = None if vocab is None else str(vocab)
    trainer = load_framework(framework)
    summary = {
        "data_dir": str(Path(data_dir).resolve()),
        "framework": framework,
        "profile": profile,
        "seed": seed,
        "epochs": epochs,
        "split": {
            "manifest": str(manifest_path),
            "sha256": splits.sha256_file(manifest_path),
            "id": manifest["id"],
            "seed": manifest["seed"],
            **{
                name: {
                    "shards": [s["name"] for s in manifest["splits"][name]["shards"]],
                    "videos": manifest["splits"][name]["num_videos"],
                }
                for name in splits.SPLITS
            },
        },
        "selection": "best epoch by GAP on validate; test scored once",
        "models": {},
    }
    for model in models:
        run_dir = out / framework / model
        resume = _same_split(run_dir, manifest["id"])
        if not resume:
            print(f"{run_dir}: trained on another split; training afresh", file=sys.stderr)
        start = time.perf_counter()
        record = trainer.train(
            model=model,
            train_paths=files["train"],
            val_paths=files["validate"],
            out_dir=str(run_dir),
            profile=profile,
            seed=seed,
            vocabulary=vocab,
            num_classes=num_classes,
            resume=resume,
            progress=progress,
            epochs=epochs,
        )
        metrics = trainer.evaluate(str(run_dir), files["test"], vocabulary=vocab, split_name="test")
        summary["models"][model] = {
            "run_dir": str(run_dir),
            **{k: float(metrics[k]) for k in OFFICIAL_METRICS},
            "best_epoch": record["best_epoch"],
            "validate_gap": float(record["evaluations"]["validate"]["gap"]),
            "seconds": round(time.perf_counter() - start, 1),
        }
    summary["label_prior"] = prior_metrics(files["train"], files["test"], num_classes)
    (out / framework).mkdir(parents=True, exist_ok=True)
    (out / framework / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def format_summary(summary: dict) -> str:
    rows = [("model", "GAP@20", "Hit@1", "PERR", "mAP@20")]
    entries = {**summary["models"], "label prior": summary["label_prior"]}
    for name, m in entries.items():
        rows.append((name, *(f"{m[k]:.3f}" for k in OFFICIAL_METRICS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    split = summary["split"]
    return (
        f"{summary['framework']}, profile {summary['profile']}: trained on "
        f"{len(split['train']['shards'])} shards ({split['train']['videos']} videos), best "
        f"epoch chosen on validate ({len(split['validate']['shards'])} shards), scored on "
        f"test ({len(split['test']['shards'])} shards, {split['test']['videos']} videos); "
        f"split {split['manifest']}\n" + "\n".join(lines)
    )


def cli_main(args) -> int:
    if args.val_shards is not None:
        raise ConfigError(
            "--val-shards is gone: real-check selects on validate and scores test; "
            "give --split TRAIN/VALIDATE/TEST (shards per split) instead"
        )
    summary = run_check(
        args.data_dir,
        args.out,
        framework=args.framework,
        profile=args.profile,
        split=args.split,
        split_seed=args.split_seed,
        epochs=args.epochs,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(format_summary(summary))
    return 0

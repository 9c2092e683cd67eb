"""Run records as pandas tables: what the notebooks plot and print.

Every number a notebook shows comes from a run record (``run.json``, ``runs.run_record``);
this module finds the records of the runs layout (``experiments``) and turns them into
tables: one row per run, mean ± std over seeds, per-epoch histories, hardware samples,
genre confusion, per-class AP and multi-process scaling. Reads only; imports no framework.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from yt8m_lib import paths
from yt8m_lib.config import model_level
from yt8m_lib.data import datasets
from yt8m_lib.errors import DataError
from yt8m_lib.runs.run_record import read_run_record

METRICS = ("gap", "hit_at_1", "perr", "map", "genre_accuracy")
METRIC_NAMES = {
    "gap": "GAP@20",
    "hit_at_1": "Hit@1",
    "perr": "PERR",
    "map": "mAP@20",
    "genre_accuracy": "genre acc.",
}
# the columns that name a run, first in ``runs_frame`` (also those of an empty table)
ID_COLUMNS = (
    "framework",
    "model",
    "features",
    "seed",
    "profile",
    "parameters",
    "best_epoch",
    "epochs_trained",
)


# the folder name of a chapter's run (experiments.run_name); tuning and learning-curve runs
# add a label (``fc-raw-seed0-lr0.003``, ``fc-raw-seed0-shards10``) and are not chapter runs
CHAPTER_RUN = re.compile(r"[a-z_]+-[a-z]+-seed\d+")


def load_records(
    results_dir=None,
    profile: str | None = None,
    tag: str | None = None,
    framework: str | None = None,
    features: str | None = None,
    models=None,
    seeds=None,
    keras_torch: bool = False,
) -> list[dict]:
    """Run records of trained models (not autoencoders) under ``results_dir``, filtered, each
    with ``run_dir`` added. A broken record is skipped with a warning that names it, so it
    neither hides the other runs nor goes unnoticed. The runs of Keras on the torch backend
    (folder ``keras-torch``, the engine comparison's third column) are read only with
    ``keras_torch=True``: their framework is "keras", and a two-framework table would mix
    them with Keras on TensorFlow."""
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    pattern = f"runs/{profile or '*'}/{tag or '*'}/{framework or '*'}/*/run.json"
    records = []
    for path in sorted(results_dir.glob(pattern)):
        if path.parent.name.startswith("autoencoder-"):
            continue
        if path.parent.parent.name == KERAS_TORCH_FOLDER and not keras_torch:
            continue
        if not CHAPTER_RUN.fullmatch(path.parent.name):
            continue  # a tuning (-lr...) or learning-curve (-shards...) run, not a chapter's
        try:
            record = {**read_run_record(path), "run_dir": str(path.parent)}
        except DataError as error:
            warnings.warn(f"skipped: {error}", stacklevel=2)
            continue
        if features is not None and record.get("features", "raw") != features:
            continue
        if models is not None and record.get("model") not in models:
            continue
        if seeds is not None and record.get("seed") not in seeds:
            continue
        records.append(record)
    return records


KERAS_TORCH_FOLDER = "keras-torch"  # the folder of Keras-on-torch runs (experiments)

# the three columns of a framework comparison: the API a researcher writes in, and the engine
ENGINE_LABELS = {
    ("keras", "tensorflow"): "Keras / TensorFlow",
    ("keras", "torch"): "Keras / torch",
    ("torch", None): "PyTorch",
}


def keras_backend(record: dict) -> str | None:
    """The backend a Keras run trained on (records from before the torch backend: TensorFlow);
    None for PyTorch runs."""
    if record.get("framework") != "keras":
        return None
    return record.get("keras_backend") or "tensorflow"


def engine_label(record: dict) -> str:
    """ "Keras / TensorFlow", "Keras / torch" or "PyTorch": the column a run belongs to."""
    return ENGINE_LABELS.get((record.get("framework"), keras_backend(record)), "?")


def runs_frame(records, split: str = "test"):
    """One row per run: who it is (``ID_COLUMNS``), the split's metrics, the timings
    (seconds, rates), the hardware summary (``hw_…``) and the run folder."""
    import pandas as pd

    rows = []
    for r in records:
        row = {
            "framework": r.get("framework"),
            "model": r.get("model"),
            "features": r.get("features", "raw"),
            "seed": r.get("seed"),
            "profile": r.get("profile"),
            "parameters": r.get("parameters"),
            "best_epoch": r.get("best_epoch"),
            "epochs_trained": len(r.get("history") or []),
            "keras_backend": keras_backend(r),
            "engine": engine_label(r),
        }
        metrics = (r.get("evaluations") or {}).get(split) or {}
        for key in METRICS:
            value = metrics.get(key)
            row[key] = np.nan if value is None else value
        row.update(
            {k: v for k, v in (r.get("timings") or {}).items() if isinstance(v, (int, float))}
        )
        summary = (r.get("hardware") or {}).get("summary") or {}
        row.update({f"hw_{k}": v for k, v in summary.items() if isinstance(v, (int, float))})
        row["background_cpu_share"] = background_cpu_share(summary)
        row["run_dir"] = r.get("run_dir")
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(ID_COLUMNS))


def background_cpu_share(summary: dict) -> float:
    """The mean share of the machine's CPUs that other processes used while a run trained
    (0-1; NaN without hardware samples): the machine's CPU use less the run's own (its
    process and children). A run that shared the machine trained slower than it could: its
    speed is a lower bound."""
    system = summary.get("system_cpu_percent_mean")
    own, cpus = summary.get("cpu_percent_mean"), summary.get("cpu_count")
    if system is None or own is None or not cpus:
        return float("nan")
    return max(0.0, system - own / cpus) / 100


# a run counts as sharing the machine when others used at least this share of its CPUs
BUSY_MACHINE_SHARE = 0.10


def shared_machine_note(frame, threshold: float = BUSY_MACHINE_SHARE) -> str:
    """One phrase for a speed figure's caption and reading: how many of ``frame``'s runs
    (``runs_frame`` rows) trained while other processes used at least ``threshold`` of the
    CPUs, and up to how much; "" when none did."""
    share = frame["background_cpu_share"] if "background_cpu_share" in frame else None
    if share is None or not (share >= threshold).any():
        return ""
    busy = share[share >= threshold]
    return (
        f"{len(busy)} of {len(frame)} runs shared the CPUs with other work "
        f"(others used up to {busy.max():.0%} of them): their speeds are lower bounds"
    )


def mean_std_table(frame, columns, by=("framework", "model")):
    """mean, std and number of seeds of ``columns`` per group (std over seeds, ddof=1)."""
    grouped = frame.groupby(list(by), sort=False)[list(columns)]
    table = grouped.agg(["mean", "std"])
    table[("seeds", "")] = frame.groupby(list(by), sort=False)["seed"].nunique()
    return table


def engine_ratios(frame, column: str, of: str = "Keras / torch", to=None):
    """Per model: the mean over seeds of ``column`` for engine ``of`` divided by that of each
    engine in ``to`` (default: the two others), one column "<of> / <other>" each, NaN where
    an engine has no run. ``frame``: ``runs_frame`` rows with the ``engine`` column."""
    import pandas as pd

    means = frame.groupby(["model", "engine"], sort=False)[column].mean().unstack("engine")
    others = [e for e in ENGINE_LABELS.values() if e != of] if to is None else list(to)
    return pd.DataFrame(
        {
            f"{of} / {other}": (
                means[of] / means[other] if of in means and other in means else np.nan
            )
            for other in others
        },
        index=means.index,
    )


def format_mean_std(table, columns, digits: int = 3):
    """The mean ± std strings of a ``mean_std_table`` (for display)."""
    import pandas as pd

    out = pd.DataFrame(index=table.index)
    for col in columns:
        mean, std = table[(col, "mean")], table[(col, "std")]
        out[METRIC_NAMES.get(col, col)] = [
            f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(s) else f"{m:.{digits}f}"
            for m, s in zip(mean, std)
        ]
    out["seeds"] = table[("seeds", "")]
    return out


def history_frame(records):
    """Long table of the per-epoch history of every run (framework, model, seed, epoch, …)."""
    import pandas as pd

    rows = []
    for r in records:
        for entry in r.get("history") or []:
            rows.append(
                {
                    "framework": r.get("framework"),
                    "model": r.get("model"),
                    "features": r.get("features", "raw"),
                    "seed": r.get("seed"),
                    **entry,
                }
            )
    return pd.DataFrame(rows)


def hardware_frame(records):
    """Long table of the hardware samples of every run (one row per sample)."""
    import pandas as pd

    rows = []
    for r in records:
        for sample in (r.get("hardware") or {}).get("samples") or []:
            rows.append(
                {
                    "framework": r.get("framework"),
                    "model": r.get("model"),
                    "seed": r.get("seed"),
                    **sample,
                }
            )
    return pd.DataFrame(rows)


def genre_confusion_sum(records, split: str = "test"):
    """The genre confusion matrices of several runs (e.g. the seeds of a model), summed; the
    number of runs is in ``attrs["runs"]``. The seeds score the same test videos, so a row
    of the sum, normalised, is the mean over seeds of that row's rates, and a count divided
    by ``runs`` is videos per seed."""
    import pandas as pd

    total, names, runs = None, None, 0
    for r in records:
        metrics = (r.get("evaluations") or {}).get(split) or {}
        if "genre_confusion" not in metrics:
            continue
        matrix = np.asarray(metrics["genre_confusion"], dtype=np.int64)
        total = matrix if total is None else total + matrix
        names = metrics.get("genres") or [str(i) for i in range(len(matrix))]
        runs += 1
    if total is None:
        return None
    frame = pd.DataFrame(
        total,
        index=pd.Index(names, name="true genre"),
        columns=pd.Index(names, name="predicted genre"),
    )
    frame.attrs["runs"] = runs
    return frame


# --------------------------------------------------------------------------- per-class analysis


def per_class_ap(predictions_path, labels: np.ndarray, ids, top_k: int = 20) -> np.ndarray:
    """AP@top_k of each class from a Kaggle predictions file, as the 2018 challenge's mAP
    counts it: the class's entries among every video's kept top-k, sorted by score, divided
    by the class's full number of positives. NaN for classes without positives."""
    from yt8m_lib.evaluation.predictions import read_predictions

    predictions = read_predictions(predictions_path)  # {id: [(class, score), ...]}
    row_of = {vid: i for i, vid in enumerate(ids)}
    num_classes = labels.shape[1]
    positives = labels.sum(axis=0).astype(np.float64)
    ap = np.full(num_classes, np.nan)
    entries = {c: [] for c in range(num_classes)}
    for vid, kept in predictions.items():
        row = row_of.get(vid)
        if row is None:
            continue
        for cls, score in sorted(kept, key=lambda pair: -pair[1])[:top_k]:
            entries[int(cls)].append((float(score), bool(labels[row, int(cls)])))
    for c in range(num_classes):
        if positives[c] == 0:
            continue
        if not entries[c]:
            ap[c] = 0.0
            continue
        order = sorted(entries[c], key=lambda e: -e[0])
        hits = np.array([h for _, h in order], dtype=np.float64)
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        ap[c] = float((precision * hits).sum() / positives[c])
    return ap


def class_type_table(records, data_dir, split_files_: dict | None = None):
    """Mean AP@20 over the classes of each evidence kind of the synthetic manifest
    (rgb, audio, temporal) per run, from each run's test predictions file."""
    import pandas as pd

    manifest = datasets.load_manifest(data_dir)
    if manifest is None:
        raise ValueError("class types exist only for synthetic data (manifest.json)")
    num_classes = int(manifest["num_classes"])
    labels_cache = {}
    rows = []
    for r in records:
        level = model_level(r["model"])
        if level not in labels_cache:
            files = (split_files_ or datasets.split_files(data_dir, level))["test"]
            examples = datasets.read_split(files, level, num_classes)
            labels_cache[level] = (
                [e.id for e in examples],
                datasets.label_matrix(examples, num_classes),
            )
        ids, y = labels_cache[level]
        path = Path(r["run_dir"]) / "test_predictions.csv"
        if not path.is_file():
            continue
        ap = per_class_ap(path, y, ids)
        for kind in ("rgb", "audio", "temporal"):
            classes = np.asarray(manifest["classes"][kind], dtype=np.int64)
            values = ap[classes] if classes.size else np.array([np.nan])
            rows.append(
                {
                    "framework": r["framework"],
                    "model": r["model"],
                    "seed": r["seed"],
                    "class_kind": kind,
                    "mean_ap": float(np.nanmean(values)) if np.isfinite(values).any() else np.nan,
                    "classes": int(np.isfinite(values).sum()),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- multi-process runs


def scaling_frame(records):
    """One row per multi-process run: framework, model, processes, throughput, step time,
    validation GAP, peak memory of the chief, batches skipped; speed-up and parallel
    efficiency relative to the fewest processes of the same framework and model."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "framework": r.get("framework"),
                "model": r.get("model"),
                "processes": (r.get("distributed") or {}).get("world_size", 1),
                "per-process batch": (r.get("distributed") or {}).get("per_rank_batch_size"),
                "videos / s": (r.get("timings") or {}).get("train_examples_per_s", np.nan),
                "median step (s)": (r.get("timings") or {}).get("median_step_s", np.nan),
                "train time (s)": (r.get("timings") or {}).get("total_train_s", np.nan),
                "val GAP": (r.get("history") or [{}])[-1].get("val_gap", np.nan),
                "peak memory, rank 0 (MB)": ((r.get("hardware") or {}).get("summary") or {}).get(
                    "rss_mb_peak", np.nan
                ),
                # Keras workers all run the batches of the smallest shard (PyTorch: DDP join)
                "skipped batches": (r.get("distributed") or {}).get("skipped_batches", 0),
            }
            for r in records
        ]
    )
    if frame.empty:
        return frame
    group = frame.groupby(["framework", "model"])
    fewest = group["processes"].transform("min")
    base = frame["videos / s"].where(frame["processes"] == fewest)
    frame["speed-up"] = frame["videos / s"] / base.groupby(
        [frame.framework, frame.model]
    ).transform("max")
    frame["parallel efficiency"] = frame["speed-up"] / (frame["processes"] / fewest)
    return frame


def save_table(frame, name: str, folder=None) -> list[Path]:
    """Write a result table beside the chapter's figures as ``NAME.csv`` (for code) and
    ``NAME.md`` (for reading and for the docs to link): the committed numbers behind a
    figure, so that no number needs typing by hand. ``folder`` defaults to the figure
    folder (``yt8m_lib.plots.figure_folder``)."""
    from yt8m_lib.plots import figure_folder

    out = Path(folder) if folder is not None else figure_folder()
    out.mkdir(parents=True, exist_ok=True)
    flat = frame.copy()
    if hasattr(flat.columns, "levels"):  # a (metric, statistic) header becomes metric_statistic
        flat.columns = ["_".join(str(p) for p in c if str(p)) for c in flat.columns]
    if any(name is not None for name in flat.index.names):  # a named index becomes columns
        flat = flat.reset_index()
    csv, md = out / f"{name}.csv", out / f"{name}.md"
    flat.to_csv(csv, index=False, float_format="%.6g")
    md.write_text(flat.to_markdown(index=False, floatfmt=".4f") + "\n")
    return [csv, md]


# ------------------------------------------------------------------ intervals over test videos


def shared_files(records: list[dict], what: str, get) -> list[str]:
    """The files every run names (``get(record)``), compared by file name: a run records them
    relative to where it was started, another absolutely. Returned as a run that names them
    where they are on this machine. ValueError when the runs name other files."""
    names = {tuple(Path(p).name for p in get(r)) for r in records}
    if len(names) != 1:
        raise ValueError(f"the runs were not scored on the same {what} files: {sorted(names)[:3]}")
    for record in records:
        if all(Path(p).is_file() for p in get(record)):
            return [str(p) for p in get(record)]
    raise FileNotFoundError(f"no run names its {what} files where they are on this machine")


def test_arrays(records: list[dict]) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """(video ids, (N, C) bool test labels, {run_dir: (N, C) float32 scores}) of runs scored
    on the same test files. The scores are each run's predictions file (its top 20 classes
    per video, 0 elsewhere): all that GAP@20 reads, so GAP from them is the record's."""
    from yt8m_lib.evaluation.predictions import read_predictions, to_dense

    if not records:
        raise ValueError("no run records")
    test_files = shared_files(records, "test", lambda r: r["evaluations"]["test"]["data"])
    first = records[0]
    num_classes = first["data"]["num_classes"]
    ids, labels = datasets.read_labels(test_files, first["data"]["level"], num_classes)
    scores = {}
    for record in records:
        path = record["evaluations"]["test"].get("predictions")
        if not path or not Path(path).is_file():
            raise FileNotFoundError(
                f"{record.get('run_dir')}: no test predictions file ({path}); rerun the chapter"
            )
        scores[record["run_dir"]] = to_dense(read_predictions(path), ids, num_classes)
    return ids, labels, scores


def gap_intervals(
    records: list[dict],
    *,
    pairs=(),
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple:
    """Test GAP with 95 % bootstrap intervals over the test videos (``stats.gap_bootstrap_ci``,
    the same resampled videos for every run): one row per (model, framework) with the mean
    GAP over its seeds and its interval; and one row per (a, b) of ``pairs`` and framework:
    the paired difference of the mean GAPs, a - b, with its interval (and whether it
    excludes 0). What the choice of test videos does, where seeds measure what training
    does (``stats.compare_models``)."""
    import pandas as pd

    from yt8m_lib import stats

    _, labels, scores = test_arrays(records)
    groups: dict[tuple[str, str], list] = {}
    for record in sorted(records, key=lambda r: (r["model"], r["framework"], r["seed"])):
        key = (record["model"], record["framework"])
        groups.setdefault(key, []).append(scores[record["run_dir"]])
    rows = []
    for (model, framework), runs in groups.items():
        ci = stats.gap_bootstrap_ci(runs, labels, n_boot=n_boot, seed=seed)
        rows.append(
            {
                "model": model,
                "framework": framework,
                "seeds": len(runs),
                "gap": ci.estimate,
                "ci_low": ci.ci_low,
                "ci_high": ci.ci_high,
            }
        )
    differences = []
    for a, b in pairs:
        for framework in sorted({f for _, f in groups}):
            if (a, framework) not in groups or (b, framework) not in groups:
                continue
            ci = stats.gap_bootstrap_ci(
                groups[(a, framework)],
                labels,
                scores_b=groups[(b, framework)],
                n_boot=n_boot,
                seed=seed,
            )
            differences.append(
                {
                    "a": a,
                    "b": b,
                    "framework": framework,
                    "difference": ci.estimate,
                    "ci_low": ci.ci_low,
                    "ci_high": ci.ci_high,
                    "excludes_zero": bool(ci.ci_low > 0 or ci.ci_high < 0),
                }
            )
    return pd.DataFrame(rows), pd.DataFrame(differences)

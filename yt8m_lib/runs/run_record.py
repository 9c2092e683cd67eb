"""Run records: one JSON file per run (``RUN_DIR/run.json``), and tables of many runs.

Every number in a figure or table of the notebooks comes from one of these records, with the
configuration, data, versions and git commit that produced it.  Keys (``new_run_record``):

    schema, run_id, created, framework, framework_version, model, features, profile, seed,
    config {model, train}, data {train, val, level, num_train_videos, num_val_videos,
    num_classes, vocabulary}, history [per epoch: epoch, train_loss, val_loss, val_gap,
    val_hit_at_1, val_perr, val_map, epoch_seconds], best_epoch, evaluations {split: metrics
    + data paths}, timings {the keys of ``yt8m_lib.training.TIMING_DEFINITIONS``, whose
    definitions every record also carries as ``timing_definitions``}, hardware {summary,
    samples}, parameters, distributed {world_size, backend}, environment, git {commit, dirty}

Writes are atomic (temporary file + ``os.replace``), numpy values become plain JSON numbers
and NaN/inf become ``null`` (strict JSON).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import uuid
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

from yt8m_lib import paths
from yt8m_lib.errors import DataError

SCHEMA = "yt8m-run/1"
RUN_FILE = "run.json"
# packages whose versions every record keeps (read from metadata: nothing gets imported)
PACKAGES = ("numpy", "pandas", "torch", "tensorflow", "keras", "psutil", "gputil", "protobuf")
# environment variables that set thread counts (a fair comparison uses the same ones)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "CUDA_VISIBLE_DEVICES")
# columns that identify a run, first in load_runs' table
ID_COLUMNS = ("run_id", "framework", "model", "features", "profile", "seed", "created",
              "framework_version", "parameters", "best_epoch", "epochs_trained", "level",
              "num_train_videos", "num_val_videos", "num_classes", "world_size", "backend",
              "git_commit", "git_dirty", "run_dir")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_info() -> dict:
    """Python, platform, CPU, memory and package versions; frameworks are never imported here,
    but when one is already loaded its device facts are added."""
    info = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        pass
    try:
        import psutil

        info["memory_total_gb"] = round(psutil.virtual_memory().total / 2**30, 2)
    except ImportError:
        pass
    for name in PACKAGES:
        info[name] = package_version(name)
    info["thread_variables"] = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        info["torch_cuda"] = getattr(torch.version, "cuda", None)
        if torch.cuda.is_available():
            info["torch_devices"] = [torch.cuda.get_device_name(i)
                                     for i in range(torch.cuda.device_count())]
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        try:
            info["tf_gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
        except Exception:  # a partly imported or broken TensorFlow must not stop a run
            pass
    from yt8m_lib.runs.hardware import detect_gpus

    info["gpus"] = [g["name"] for g in detect_gpus()]
    return info


def git_info(repo=None) -> dict:
    """{"commit": HEAD hash, "dirty": uncommitted changes?}; both None outside a git checkout."""
    cwd = Path(repo) if repo is not None else paths.REPO_ROOT

    def git(*args):
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        commit = git("rev-parse", "HEAD")
        status = git("status", "--porcelain") if commit else None
    except (OSError, subprocess.SubprocessError):  # no git, or a hung one
        commit = status = None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def new_run_record(**fields) -> dict:
    """A record with every key of the schema (empty where unknown yet), environment and git
    filled in, then ``fields`` on top (extra keys are kept)."""
    created = _dt.datetime.now(_dt.timezone.utc)
    framework = fields.get("framework")
    record = {
        "schema": SCHEMA,
        "run_id": None,
        "created": created.isoformat(timespec="seconds"),
        "framework": framework,
        "framework_version": None,
        "model": None,
        "features": "raw",
        "profile": None,
        "seed": None,
        "config": {"model": {}, "train": {}},
        "data": {"train": None, "val": None, "level": None, "num_train_videos": None,
                 "num_val_videos": None, "num_classes": None, "vocabulary": None},
        "history": [],
        "best_epoch": None,
        "evaluations": {},
        "timings": {},
        "hardware": {},
        "parameters": None,
        "distributed": {"world_size": 1, "backend": None},
        "environment": environment_info(),
        "git": git_info(),
    }
    record.update(fields)
    if record["framework_version"] is None and framework in ("torch", "keras"):
        record["framework_version"] = package_version(framework)
    if record["run_id"] is None:
        parts = [created.strftime("%Y%m%dT%H%M%S"), framework, record["model"],
                 None if record["seed"] is None else f"s{record['seed']}", uuid.uuid4().hex[:6]]
        record["run_id"] = "-".join(str(p) for p in parts if p is not None)
    return record


def to_jsonable(value, where: str = "record"):
    """Plain JSON types: numpy scalars and arrays, tuples, paths and dataclasses converted;
    NaN and infinities become None.  Anything else raises TypeError naming where it is."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), where)
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), where)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), where)
    if isinstance(value, (set, frozenset)):
        return to_jsonable(sorted(value), where)
    raise TypeError(f"{where}: cannot store a {type(value).__name__} in a run record")


def write_run_record(run_dir, record: dict) -> Path:
    """Write ``run_dir/run.json`` atomically; returns its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(record), indent=1, allow_nan=False)
    path = run_dir / RUN_FILE
    tmp = run_dir / f".{RUN_FILE}.tmp{os.getpid()}"
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_run_record(run_dir) -> dict:
    """The record of a run folder (or of a run.json path)."""
    path = Path(run_dir)
    if path.is_dir() or path.name != RUN_FILE:
        path = path / RUN_FILE
    if not path.is_file():
        raise DataError(path, "no run record here")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(path, f"run record is not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise DataError(path, "run record is not a JSON object")
    return record


def _scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _split_prefix(split: str) -> str:
    return "val" if split == "validate" else split


def flatten_record(record: dict) -> dict:
    """One table row: identity, data, metrics per split (``test_gap``, ``val_gap``, …), timings,
    hardware summary (``hw_…``), scalar config (``cfg_…``) and other top-level scalars."""
    data = record.get("data") or {}
    distributed = record.get("distributed") or {}
    git = record.get("git") or {}
    history = record.get("history") or []
    row = {
        "run_id": record.get("run_id"), "framework": record.get("framework"),
        "model": record.get("model"), "features": record.get("features"),
        "profile": record.get("profile"), "seed": record.get("seed"),
        "created": record.get("created"), "framework_version": record.get("framework_version"),
        "parameters": record.get("parameters"), "best_epoch": record.get("best_epoch"),
        "epochs_trained": len(history), "level": data.get("level"),
        "num_train_videos": data.get("num_train_videos"),
        "num_val_videos": data.get("num_val_videos"), "num_classes": data.get("num_classes"),
        "world_size": distributed.get("world_size"), "backend": distributed.get("backend"),
        "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
    }
    for split, metrics in (record.get("evaluations") or {}).items():
        for key, value in (metrics or {}).items():
            if _scalar(value) and not isinstance(value, str):
                row[f"{_split_prefix(split)}_{key}"] = value
    for key, value in (record.get("timings") or {}).items():
        if _scalar(value):
            row[key] = value
    summary = (record.get("hardware") or {}).get("summary") or {}
    for key, value in summary.items():
        if _scalar(value):
            row[f"hw_{key}"] = value
    for section in ("model", "train"):
        for key, value in ((record.get("config") or {}).get(section) or {}).items():
            row[f"cfg_{key}"] = value if _scalar(value) else json.dumps(value)
    for key, value in record.items():  # extra top-level facts, e.g. a tag or kind
        if key not in row and _scalar(value):
            row[key] = value
    return row


def _records(folder) -> list[tuple[Path, dict]]:
    folder = Path(folder) if folder is not None else paths.results_dir()
    found = []
    for path in sorted(folder.rglob(RUN_FILE)):
        try:
            found.append((path.parent, read_run_record(path)))
        except DataError as error:  # one broken file must not hide the other runs, nor itself
            warnings.warn(f"skipped: {error}", stacklevel=3)
    return found


def load_runs(folder=None):
    """pandas DataFrame, one row per ``run.json`` found under ``folder`` (recursively;
    default: the results folder), columns from ``flatten_record`` plus ``run_dir``."""
    import pandas as pd

    rows = [{**flatten_record(record), "run_dir": str(run_dir)}
            for run_dir, record in _records(folder)]
    if not rows:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    frame = pd.DataFrame(rows)
    first = [c for c in ID_COLUMNS if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def load_histories(folder=None, melt: bool = False):
    """Per-epoch history of every run: one row per (run, epoch) with the history's columns
    (``train_loss``, ``val_gap``, …); ``melt=True``: one row per (run, epoch, metric) with
    ``metric`` and ``value`` columns, for faceted learning-curve plots."""
    import pandas as pd

    ids = ["run_id", "framework", "model", "features", "profile", "seed", "run_dir"]
    rows = []
    for run_dir, record in _records(folder):
        base = {k: record.get(k) for k in ids[:-1]}
        base["run_dir"] = str(run_dir)
        for entry in record.get("history") or []:
            rows.append({**base, **entry})
    frame = pd.DataFrame(rows, columns=None if rows else ids + ["epoch"])
    if melt:
        keep = [c for c in ids + ["epoch"] if c in frame.columns]
        frame = frame.melt(id_vars=keep, var_name="metric", value_name="value")
    return frame

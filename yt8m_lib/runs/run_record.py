"""Run records: one JSON file per run (``RUN_DIR/run.json``), written and read.

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
and NaN/inf become ``null`` (strict JSON). Tables of many records: ``runs.tables``.
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
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "CUDA_VISIBLE_DEVICES",
)


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    """The CPU's model name (Linux: /proc/cpuinfo), else None."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
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
        "cpu_model": _cpu_model(),
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
            info["torch_devices"] = [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ]
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        try:
            info["tf_gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
        except Exception:  # a partly imported or broken TensorFlow must not stop a run
            pass
    from yt8m_lib.runs.hardware import detect_gpus

    info["gpus"] = [g["name"] for g in detect_gpus()]
    return info


# what `make reproduce` itself rewrites while it trains: the committed figures and tables.
# Changes there say nothing about the code that made a run, so they do not make it "dirty"
# (else every run after a chapter's first figure would be).
GIT_OUTPUTS = ("figures",)


def git_info(repo=None) -> dict:
    """{"commit": HEAD hash, "dirty": uncommitted changes?} of ``repo`` (default: the
    checkout this package's code comes from); both None outside a git checkout. Changes
    under ``GIT_OUTPUTS`` (the figures the notebooks write) do not count as dirty."""
    cwd = Path(repo) if repo is not None else paths.PACKAGE_DIR
    outputs = [f":(top,exclude){folder}" for folder in GIT_OUTPUTS]

    def git(*args):
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        commit = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--", ":/", *outputs) if commit else None
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
        "data": {
            "train": None,
            "val": None,
            "level": None,
            "num_train_videos": None,
            "num_val_videos": None,
            "num_classes": None,
            "vocabulary": None,
        },
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
        parts = [
            created.strftime("%Y%m%dT%H%M%S"),
            framework,
            record["model"],
            None if record["seed"] is None else f"s{record['seed']}",
            uuid.uuid4().hex[:6],
        ]
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

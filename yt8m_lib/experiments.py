"""The thin orchestration the notebooks call: data, suites of runs, and run records as tables.

Every number a notebook shows comes from a run record (``run.json``) written by the trainers
(``yt8m_lib.torch.train`` / ``yt8m_lib.keras.train``); this module only decides *which* runs
to make, skips the ones already done, and turns records into tables.

Layout of the runs (under ``results_dir``, default ``yt8m_lib.paths.results_dir()``)::

    runs/<profile>/<data tag>/<framework>/<model>-<features>-seed<N>/run.json
    runs/<profile>/<data tag>/<framework>/autoencoder-<level>-seed<N>/run.json
    scaling/<profile>/<data tag>/<torch-ddp|keras-multiworker>/<model>-world<N>-seed<S>/run.json

A run is reused (not retrained) only when its ``experiment_key.json`` matches what a rerun
would do: the profile's whole configuration, epochs, batch size, features, the autoencoder it
used, a fingerprint of the data (shard names and sizes, and the synthetic manifest with
every file's md5) and one of the code that trains and scores it (``CODE_FILES``). A run
folder made with another key (regenerated data, a changed profile or model) is deleted before
training, so its checkpoints are never resumed; ``force=True`` retrains.

Imports no framework: trainers are imported only when a run must be made.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from yt8m_lib import paths
from yt8m_lib.config import get_profile, model_level, to_dict

SPLITS = ("train", "validate", "test")
METRICS = ("gap", "hit_at_1", "perr", "map", "genre_accuracy")
METRIC_NAMES = {"gap": "GAP@20", "hit_at_1": "Hit@1", "perr": "PERR", "map": "mAP@20",
                "genre_accuracy": "genre acc."}
# the share of the real validate sample given to each split when a folder holds one split only
SINGLE_SPLIT_SHARES = {"train": 0.8, "validate": 0.1, "test": 0.1}


# --------------------------------------------------------------------------- data

def ensure_synthetic_data(profile: str = "default", seed: int = 0, out_dir=None,
                          progress: bool = False) -> Path:
    """The synthetic dataset of a profile, generated once (``make data`` writes the same)."""
    out = Path(out_dir) if out_dir is not None else paths.synth_dir(profile)
    if not (out / "manifest.json").is_file():
        from yt8m_lib.data.synthetic import generate

        generate(out, profile=profile, seed=seed, progress=progress)
    return out


def resolve_data_dir(data_dir, profile: str, seed: int = 0) -> Path:
    """A notebook's ``data_dir`` parameter: None -> the profile's synthetic data (made if
    missing); otherwise the folder given (real shards), which must exist."""
    if data_dir is None:
        return ensure_synthetic_data(profile, seed)
    path = Path(data_dir).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"data folder {path} does not exist")
    return path


def load_manifest(data_dir) -> dict | None:
    """The synthetic manifest, or None for real data."""
    path = Path(data_dir) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def data_tag(data_dir) -> str:
    """Names a dataset in the results layout: ``synthetic-<profile>`` or the folder's name."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    if manifest is not None:
        return f"synthetic-{manifest.get('profile', data_dir.name)}"
    return data_dir.name


def vocabulary_path(data_dir) -> Path | None:
    path = Path(data_dir) / "vocabulary.csv"
    return path if path.is_file() else None


def load_vocabulary(data_dir, num_classes: int | None = None):
    """The dataset's vocabulary (genres), or the synthetic fallback when there is no csv."""
    from yt8m_lib.evaluation.genres import Vocabulary

    path = vocabulary_path(data_dir)
    if path is not None:
        return Vocabulary.load(path)
    if num_classes is None:
        raise FileNotFoundError(f"no vocabulary.csv in {data_dir} and no num_classes given")
    return Vocabulary.synthetic(num_classes)


def split_files(data_dir, level: str) -> dict[str, list[Path]]:
    """The shards of each split at one level.

    Layouts: ``<dir>/<level>/<split>NNNN.tfrecord`` (synthetic data, ``yt8m download --out
    <dir>/<level>``) or ``<dir>/<level>_<split>/*.tfrecord`` (the real sample). When only one
    split is present (the real video-level *validate* sample), its shards are divided by
    file, in name order: 80 % train, 10 % validate, 10 % test, so that nothing is scored on
    videos it was trained on. Splits without files are absent from the result.
    """
    data_dir = Path(data_dir)
    found = {}
    for split in SPLITS:
        files = sorted((data_dir / level).glob(f"{split}*.tfrecord"))
        files += sorted((data_dir / f"{level}_{split}").glob("*.tfrecord"))
        if files:
            found[split] = files
    if len(found) == 1:
        (files,) = found.values()
        if len(files) < 3:
            raise ValueError(f"{data_dir}: one split of {len(files)} file(s) cannot be divided "
                             "into train, validate and test")
        n_val = max(1, round(len(files) * SINGLE_SPLIT_SHARES["validate"]))
        n_test = max(1, round(len(files) * SINGLE_SPLIT_SHARES["test"]))
        n_train = len(files) - n_val - n_test
        found = {"train": files[:n_train], "validate": files[n_train:n_train + n_val],
                 "test": files[n_train + n_val:]}
    return found


def num_classes_of(data_dir) -> int:
    manifest = load_manifest(data_dir)
    if manifest is not None:
        return int(manifest["num_classes"])
    path = vocabulary_path(data_dir)
    if path is None:
        raise FileNotFoundError(f"{data_dir}: no manifest.json and no vocabulary.csv")
    return load_vocabulary(data_dir).num_classes


def read_split(files, level: str, num_classes: int | None = None, max_videos: int | None = None):
    """The examples of some shards as a list (for exploration; training streams instead)."""
    from yt8m_lib.data.records import iter_examples

    out = []
    for example in iter_examples([str(f) for f in files], level, num_classes=num_classes):
        out.append(example)
        if max_videos is not None and len(out) >= max_videos:
            break
    return out


def label_matrix(examples, num_classes: int) -> np.ndarray:
    """(N, C) uint8 multi-hot labels of a list of examples."""
    y = np.zeros((len(examples), num_classes), dtype=np.uint8)
    for row, ex in enumerate(examples):
        y[row, ex.labels] = 1
    return y


# --------------------------------------------------------------------------- runs

def run_path(results_dir, profile: str, tag: str, framework: str, name: str) -> Path:
    return Path(results_dir) / "runs" / profile / tag / framework / name


def run_name(model: str, seed: int, features: str = "raw") -> str:
    return f"{model}-{features}-seed{seed}"


def _read_record(run_dir: Path) -> dict | None:
    """The run record with ``run_dir`` added (where its checkpoints and predictions are)."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    record["run_dir"] = str(Path(run_dir))
    return record


KEY_FILE = "experiment_key.json"


def data_fingerprint(data_dir, level: str) -> str:
    """Names the exact data of one level: its shards' split, name and size, plus the
    synthetic manifest (which holds every file's md5), so regenerated data never passes for
    the old."""
    digest = hashlib.sha256()
    manifest = Path(data_dir) / "manifest.json"
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    for split, files in sorted(split_files(data_dir, level).items()):
        for path in files:
            digest.update(f"{split}/{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:20]


# The package files that train and score a run: editing one retrains every run (editing the
# notebooks, plots, README or benchmarks does not).
CODE_FILES = ("config.py", "data/features.py", "data/records.py", "data/frame_layout.py",
              "data/tfrecord.py", "data/batches.py", "evaluation/*.py", "training.py",
              "torch/*.py", "keras/*.py")


def code_fingerprint(package=None) -> str:
    """Names the code of ``CODE_FILES`` (paths and contents) in ``package`` (yt8m_lib)."""
    package = Path(package) if package is not None else Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for pattern in CODE_FILES:
        for path in sorted(package.glob(pattern)):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def run_key(profile: str, data_dir, level: str, **settings) -> dict:
    """What a run depends on: the profile's configuration, the data, the code that trains
    and scores it, and ``settings`` (epochs, batch size, features, world size, the
    autoencoder's own key, ...)."""
    return {"profile": profile, "config": json.loads(json.dumps(to_dict(get_profile(profile)))),
            "data": data_fingerprint(data_dir, level), "code": code_fingerprint(), **settings}


def _reusable_record(run_dir: Path, key: dict, force: bool) -> dict | None:
    """The record of ``run_dir`` if it was made with ``key`` (possibly unfinished: the
    trainer resumes it); otherwise the folder is emptied and None returned. The key is
    written before training, so an interrupted run resumes only under the same key."""
    key_path = run_dir / KEY_FILE
    same = (not force and key_path.is_file()
            and json.loads(key_path.read_text(encoding="utf-8")) == key)
    if not same and run_dir.exists():
        shutil.rmtree(run_dir)
    if not same:
        run_dir.mkdir(parents=True, exist_ok=True)
        key_path.write_text(json.dumps(key, indent=1, sort_keys=True), encoding="utf-8")
        return None
    return _read_record(run_dir)


def _trainer(framework: str):
    """The framework's train module, imported only now (a notebook may use one framework)."""
    from yt8m_lib.commands import load_framework

    return load_framework(framework)


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(message, flush=True)


def run_one(framework: str, model: str, seed: int, *, profile: str, data_dir, results_dir=None,
            features: str = "raw", autoencoder_dir=None, epochs: int | None = None,
            batch_size: int | None = None, force: bool = False, verbose: bool = True) -> dict:
    """Train one (framework, model, seed) and score it on the test split; returns its record.

    Reuses the run when its record already has a test evaluation made with the same settings.
    """
    data_dir = Path(data_dir)
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    settings = get_profile(profile).train
    epochs = epochs if epochs is not None else settings.epochs
    batch_size = batch_size if batch_size is not None else settings.batch_size
    run_dir = run_path(results_dir, profile, data_tag(data_dir), framework,
                       run_name(model, seed, features))
    label = f"{framework:5s} {model:11s} {features} seed {seed}"
    key = run_key(profile, data_dir, model_level(model), epochs=epochs, batch_size=batch_size,
                  features=features, autoencoder=None if autoencoder_dir is None
                  else _key_of(autoencoder_dir))
    record = _reusable_record(run_dir, key, force)
    if record is not None and "test" in (record.get("evaluations") or {}):
        _log(f"{label}: reused {run_dir}", verbose)
        return record

    files = split_files(data_dir, model_level(model))
    missing = [s for s in SPLITS if s not in files]
    if missing:
        raise FileNotFoundError(f"{data_dir}: no {model_level(model)}-level shards for "
                                f"{', '.join(missing)}")
    vocab = vocabulary_path(data_dir)
    trainer = _trainer(framework)
    start = time.perf_counter()
    if record is None or "validate" not in (record.get("evaluations") or {}):
        trainer.train(model=model, train_paths=[str(f) for f in files["train"]],
                      val_paths=[str(f) for f in files["validate"]], out_dir=str(run_dir),
                      profile=profile, seed=seed, features=features,
                      autoencoder_dir=None if autoencoder_dir is None else str(autoencoder_dir),
                      vocabulary=None if vocab is None else str(vocab),
                      num_classes=num_classes_of(data_dir), resume=True, progress=False,
                      epochs=epochs, batch_size=batch_size)
    trainer.evaluate(str(run_dir), [str(f) for f in files["test"]],
                     predictions_path=str(run_dir / "test_predictions.csv"),
                     vocabulary=None if vocab is None else str(vocab), split_name="test")
    record = _read_record(run_dir)
    test = record["evaluations"]["test"]
    _log(f"{label}: {time.perf_counter() - start:6.1f} s, test GAP {test['gap']:.3f}", verbose)
    return record


def run_suite(framework: str, models, seeds, *, profile: str, data_dir, results_dir=None,
              features: str = "raw", autoencoder_dirs: dict | None = None, epochs=None,
              force: bool = False, verbose: bool = True) -> list[dict]:
    """Train and test every (model, seed) in one framework; returns their run records.

    ``autoencoder_dirs`` maps a level ('video'/'frame') to a trained autoencoder's run folder
    (needed with ``features='autoencoder'``).
    """
    records = []
    for model in models:
        for seed in seeds:
            ae_dir = (autoencoder_dirs or {}).get(model_level(model))
            if features == "autoencoder" and ae_dir is None:
                raise ValueError(f"features='autoencoder' needs autoencoder_dirs[{model_level(model)!r}]")
            records.append(run_one(framework, model, seed, profile=profile, data_dir=data_dir,
                                   results_dir=results_dir, features=features,
                                   autoencoder_dir=ae_dir, epochs=epochs, force=force,
                                   verbose=verbose))
    return records


def ensure_autoencoder(framework: str, level: str, *, profile: str, data_dir, seed: int = 0,
                       results_dir=None, force: bool = False, verbose: bool = True) -> Path:
    """Train the denoising autoencoder of one level once; returns its run folder."""
    data_dir = Path(data_dir)
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    run_dir = run_path(results_dir, profile, data_tag(data_dir), framework,
                       f"autoencoder-{level}-seed{seed}")
    record = _reusable_record(run_dir, run_key(profile, data_dir, level, seed=seed), force)
    if record is not None and record.get("history"):
        _log(f"{framework} autoencoder {level}: reused {run_dir}", verbose)
        return run_dir
    files = split_files(data_dir, level)
    start = time.perf_counter()
    _trainer(framework).train_autoencoder(
        level=level, train_paths=[str(f) for f in files["train"]],
        val_paths=[str(f) for f in files["validate"]], out_dir=str(run_dir), profile=profile,
        seed=seed, num_classes=num_classes_of(data_dir), progress=False)
    _log(f"{framework} autoencoder {level}: {time.perf_counter() - start:.1f} s", verbose)
    return run_dir


def _key_of(run_dir) -> dict | None:
    path = Path(run_dir) / KEY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_run_record(run_dir) -> dict:
    """The run record of a run folder (``run_dir`` added); FileNotFoundError if none."""
    record = _read_record(Path(run_dir))
    if record is None:
        raise FileNotFoundError(f"{run_dir} holds no run.json")
    return record


def encode_with_autoencoder(framework: str, run_dir, rgb: np.ndarray, audio: np.ndarray,
                            batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The codes (rgb, audio) of raw feature rows under a trained autoencoder (eval mode: no
    noise), as numpy arrays."""
    rgb, audio = np.asarray(rgb, np.float32), np.asarray(audio, np.float32)
    out_rgb, out_audio = [], []
    if framework == "torch":
        import torch

        from yt8m_lib.torch.train import load_autoencoder

        autoencoder, _ = load_autoencoder(run_dir, torch.device("cpu"))
        with torch.no_grad():
            for start in range(0, len(rgb), batch_size):
                r, a = autoencoder.encode(torch.from_numpy(rgb[start:start + batch_size]),
                                          torch.from_numpy(audio[start:start + batch_size]))
                out_rgb.append(r.numpy())
                out_audio.append(a.numpy())
    elif framework == "keras":
        from yt8m_lib.keras.train import load_encoder

        encoder = load_encoder(run_dir)[0]
        for start in range(0, len(rgb), batch_size):
            r, a = encoder.encode(rgb[start:start + batch_size], audio[start:start + batch_size])
            out_rgb.append(np.asarray(r))
            out_audio.append(np.asarray(a))
    else:
        raise ValueError(f"unknown framework {framework!r}")
    return np.concatenate(out_rgb), np.concatenate(out_audio)


# --------------------------------------------------------------------------- multi-process runs
# Notebook 06 trains one model with 1 and 2 processes on this machine in each framework
# (PyTorch DDP under torchrun, Keras under MultiWorkerMirroredStrategy with TF_CONFIG). Both
# go through the real trainer (``python -m yt8m_lib train``), with the same run folders,
# reuse, thread budget and process handling; only the launch differs.

SCALING_KINDS = {"torch": "torch-ddp", "keras": "keras-multiworker"}


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that are free on ``host`` right now (all held open together, so
    they differ; a process started soon after can bind them)."""
    import socket

    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def threads_per_process(world_size: int, threads: int | None = None) -> int:
    """Threads each process may use: ``threads`` if given, else the cores shared out, so the
    total is the same for every number of processes."""
    import os

    return threads or max(1, (os.cpu_count() or 1) // world_size)


def scaling_run_dir(framework: str, model: str, world_size: int, *, profile: str, data_dir,
                    results_dir=None, seed: int = 0) -> Path:
    """``<results>/scaling/<profile>/<data tag>/<torch-ddp|keras-multiworker>/<model>-world<N>-seed<S>``:
    apart from ``runs/`` so these never mix with the runs notebooks 03-05 compare."""
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    return (results_dir / "scaling" / profile / data_tag(data_dir) / SCALING_KINDS[framework]
            / f"{model}-world{world_size}-seed{seed}")


def _process_env(threads: int, **extra: str) -> dict:
    """The environment of one training process: its share of threads in every thread pool
    either framework sizes from the environment (OpenMP for PyTorch, TensorFlow's intra- and
    inter-op pools), and the repository importable."""
    import os

    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE",
               TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(paths.REPO_ROOT))
    env.pop("TF_CONFIG", None)  # only a multi-worker launch sets it, per worker
    env.update(extra)
    return env


def _run_processes(jobs, timeout_s: float | None = None) -> list[tuple[int, str]]:
    """Start every (command, env) at once from the repository root and wait for all; returns
    (exit code, combined output) of each. When one fails, the others are stopped (they would
    wait for it forever)."""
    import subprocess
    import tempfile

    logs = [tempfile.TemporaryFile(mode="w+") for _ in jobs]
    processes = [subprocess.Popen(command, cwd=paths.REPO_ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, text=True)
                 for (command, env), log in zip(jobs, logs)]
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while any(p.poll() is None for p in processes):
            failed = any(p.returncode not in (None, 0) for p in processes)
            if failed or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, log in zip(processes, logs):
        log.seek(0)
        results.append((p.returncode, log.read()))
        log.close()
    return results


def _train_arguments(model: str, data_dir: Path, run_dir: Path, *, framework: str,
                     profile: str, seed: int, epochs: int | None, force: bool) -> list[str]:
    """``yt8m train`` arguments of a scaling run (the same for every launcher)."""
    level = model_level(model)
    globs = {split: str(data_dir / level / f"{split}*.tfrecord") for split in ("train", "validate")}
    if not all(sorted((data_dir / level).glob(f"{split}*.tfrecord")) for split in globs):
        raise FileNotFoundError(f"{data_dir / level}: needs train*/validate* shards for "
                                "multi-process runs")
    arguments = ["train", "--framework", framework, "--model", model,
                 "--train-data", globs["train"], "--val-data", globs["validate"],
                 "--out", str(run_dir), "--profile", profile, "--seed", str(seed),
                 "--no-progress", "--device", "cpu", "--num-classes", str(num_classes_of(data_dir))]
    if epochs is not None:
        arguments += ["--epochs", str(epochs)]
    if force:
        arguments.append("--no-resume")
    return arguments


def _torch_jobs(arguments, world_size, threads):
    """One ``torchrun`` (gloo) starting ``world_size`` ranks."""
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={world_size}", "-m", "yt8m_lib", *arguments]
    return [(command, _process_env(threads))]


def _keras_jobs(arguments, world_size, threads):
    """``world_size`` copies of the same command; with more than one, each gets a TF_CONFIG
    naming every worker on a free 127.0.0.1 port and its own index (one process alone runs
    without TF_CONFIG: TensorFlow's default strategy)."""
    import sys

    command = [sys.executable, "-m", "yt8m_lib", *arguments]
    if world_size == 1:
        return [(command, _process_env(threads))]
    workers = [f"127.0.0.1:{port}" for port in free_ports(world_size)]
    return [(command, _process_env(threads, TF_CONFIG=json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})))
        for index in range(world_size)]


_LAUNCHERS = {"torch": ("torch DDP", _torch_jobs), "keras": ("Keras multi-worker", _keras_jobs)}


def run_multiprocess(framework: str, model: str, world_size: int, *, profile: str, data_dir,
                     results_dir=None, seed: int = 0, epochs: int | None = 1,
                     threads: int | None = None, force: bool = False, verbose: bool = True,
                     timeout_s: float | None = None) -> dict:
    """Train one model on ``world_size`` CPU processes of this machine through the real
    trainer (``yt8m train``) and return its run record: PyTorch DDP under ``torchrun``
    (gloo) or Keras under ``MultiWorkerMirroredStrategy`` (one worker process each, TF_CONFIG
    on 127.0.0.1).

    The profile's batch size is the global batch; the cores are shared out so that the total
    number of threads is the same for every world size (``threads`` per process, default
    cores // world_size). Runs live under ``scaling/`` (``scaling_run_dir``) and are reused
    when their record has a history, unless ``force``. A process that fails stops the others
    (RuntimeError with its output); ``timeout_s`` bounds the whole run.
    """
    name, make_jobs = _LAUNCHERS[framework]
    data_dir = Path(data_dir)
    run_dir = scaling_run_dir(framework, model, world_size, profile=profile, data_dir=data_dir,
                              results_dir=results_dir, seed=seed)
    label = f"{name} {model} x{world_size}"
    threads = threads_per_process(world_size, threads)
    key = run_key(profile, data_dir, model_level(model), epochs=epochs, threads=threads)
    record = _reusable_record(run_dir, key, force)
    if record is not None and record.get("history"):
        _log(f"{label}: reused {run_dir}", verbose)
        return record
    arguments = _train_arguments(model, data_dir, run_dir, framework=framework,
                                 profile=profile, seed=seed, epochs=epochs, force=force)
    start = time.perf_counter()
    results = _run_processes(make_jobs(arguments, world_size, threads), timeout_s)
    failed = [(rank, code, out) for rank, (code, out) in enumerate(results) if code != 0]
    if failed:
        rank, code, out = failed[0]
        raise RuntimeError(f"{label} failed (process {rank}, exit {code}):\n{out[-3000:]}")
    _log(f"{label} ({threads} thread(s) each): {time.perf_counter() - start:.1f} s", verbose)
    return load_run_record(run_dir)


def run_torch_ddp(model: str, world_size: int, **kwargs) -> dict:
    """PyTorch DDP on ``world_size`` CPU processes (``run_multiprocess`` with 'torch')."""
    return run_multiprocess("torch", model, world_size, **kwargs)


def run_keras_multiworker(model: str, world_size: int, **kwargs) -> dict:
    """Keras ``MultiWorkerMirroredStrategy`` with ``world_size`` worker processes on this
    machine (``run_multiprocess`` with 'keras')."""
    return run_multiprocess("keras", model, world_size, **kwargs)


def scaling_frame(records):
    """One row per multi-process run: framework, model, processes, throughput, step time,
    validation GAP, peak memory of the chief, batches skipped; speed-up and parallel efficiency relative to
    the fewest processes of the same framework and model."""
    import pandas as pd

    frame = pd.DataFrame([{
        "framework": r.get("framework"), "model": r.get("model"),
        "processes": (r.get("distributed") or {}).get("world_size", 1),
        "per-process batch": (r.get("distributed") or {}).get("per_rank_batch_size"),
        "videos / s": (r.get("timings") or {}).get("train_examples_per_s", np.nan),
        "median step (s)": (r.get("timings") or {}).get("median_step_s", np.nan),
        "train time (s)": (r.get("timings") or {}).get("total_train_s", np.nan),
        "val GAP": (r.get("history") or [{}])[-1].get("val_gap", np.nan),
        "peak memory, rank 0 (MB)": ((r.get("hardware") or {}).get("summary") or {})
        .get("rss_mb_peak", np.nan),
        # Keras workers all run the batches of the smallest shard (PyTorch: DDP join)
        "skipped batches": (r.get("distributed") or {}).get("skipped_batches", 0),
    } for r in records])
    if frame.empty:
        return frame
    group = frame.groupby(["framework", "model"])
    fewest = group["processes"].transform("min")
    base = frame["videos / s"].where(frame["processes"] == fewest)
    frame["speed-up"] = frame["videos / s"] / base.groupby([frame.framework, frame.model]) \
        .transform("max")
    frame["parallel efficiency"] = frame["speed-up"] / (frame["processes"] / fewest)
    return frame


def run_benchmark_section(section: str, quick: bool = True) -> None:
    """``python -m benchmarks.run --only SECTION [--quick]`` (``make bench``'s runner) in a
    subprocess from the repository root; its JSON lands in ``results/bench/``."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "benchmarks.run", "--only", section, "--no-progress"]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, cwd=paths.REPO_ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(paths.REPO_ROOT)))
    if done.returncode != 0:
        raise RuntimeError(f"benchmark {section} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-3000:]}")


# --------------------------------------------------------------------------- records as tables

def load_records(results_dir=None, profile: str | None = None, tag: str | None = None,
                 framework: str | None = None, features: str | None = None,
                 models=None, seeds=None) -> list[dict]:
    """Run records of trained models (not autoencoders) under ``results_dir``, filtered."""
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    pattern = f"runs/{profile or '*'}/{tag or '*'}/{framework or '*'}/*/run.json"
    records = []
    for path in sorted(results_dir.glob(pattern)):
        if path.parent.name.startswith("autoencoder-"):
            continue
        record = _read_record(path.parent)
        if features is not None and record.get("features", "raw") != features:
            continue
        if models is not None and record.get("model") not in models:
            continue
        if seeds is not None and record.get("seed") not in seeds:
            continue
        records.append(record)
    return records


def runs_frame(records, split: str = "test"):
    """One row per run: framework, model, features, seed, the split's metrics, timings,
    parameters and peak memory."""
    import pandas as pd

    rows = []
    for r in records:
        row = {"framework": r.get("framework"), "model": r.get("model"),
               "features": r.get("features", "raw"), "seed": r.get("seed"),
               "parameters": r.get("parameters"), "best_epoch": r.get("best_epoch")}
        metrics = (r.get("evaluations") or {}).get(split) or {}
        for key in METRICS:
            row[key] = metrics.get(key, np.nan)
        row.update({k: v for k, v in (r.get("timings") or {}).items()
                    if isinstance(v, (int, float))})
        summary = (r.get("hardware") or {}).get("summary") or {}
        row.update({f"hw_{k}": v for k, v in summary.items() if isinstance(v, (int, float))})
        rows.append(row)
    return pd.DataFrame(rows)


def mean_std_table(frame, columns, by=("framework", "model")):
    """mean, std and number of seeds of ``columns`` per group (std over seeds, ddof=1)."""
    grouped = frame.groupby(list(by), sort=False)[list(columns)]
    table = grouped.agg(["mean", "std"])
    table[("seeds", "")] = frame.groupby(list(by), sort=False)["seed"].nunique()
    return table


def format_mean_std(table, columns, digits: int = 3):
    """The mean ± std strings of a ``mean_std_table`` (for display)."""
    import pandas as pd

    out = pd.DataFrame(index=table.index)
    for col in columns:
        mean, std = table[(col, "mean")], table[(col, "std")]
        out[METRIC_NAMES.get(col, col)] = [
            f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(s) else f"{m:.{digits}f}"
            for m, s in zip(mean, std)]
    out["seeds"] = table[("seeds", "")]
    return out


def history_frame(records):
    """Long table of the per-epoch history of every run (framework, model, seed, epoch, …)."""
    import pandas as pd

    rows = []
    for r in records:
        for entry in r.get("history") or []:
            rows.append({"framework": r.get("framework"), "model": r.get("model"),
                         "features": r.get("features", "raw"), "seed": r.get("seed"), **entry})
    return pd.DataFrame(rows)


def hardware_frame(records):
    """Long table of the hardware samples of every run (one row per sample)."""
    import pandas as pd

    rows = []
    for r in records:
        for sample in (r.get("hardware") or {}).get("samples") or []:
            rows.append({"framework": r.get("framework"), "model": r.get("model"),
                         "seed": r.get("seed"), **sample})
    return pd.DataFrame(rows)


def genre_confusion_sum(records, split: str = "test"):
    """The genre confusion matrices of several runs (e.g. the seeds of a model), summed."""
    import pandas as pd

    total, names = None, None
    for r in records:
        metrics = (r.get("evaluations") or {}).get(split) or {}
        if "genre_confusion" not in metrics:
            continue
        matrix = np.asarray(metrics["genre_confusion"], dtype=np.int64)
        total = matrix if total is None else total + matrix
        names = metrics.get("genres") or [str(i) for i in range(len(matrix))]
    if total is None:
        return None
    return pd.DataFrame(total, index=pd.Index(names, name="true genre"),
                        columns=pd.Index(names, name="predicted genre"))


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

    manifest = load_manifest(data_dir)
    if manifest is None:
        raise ValueError("class types exist only for synthetic data (manifest.json)")
    num_classes = int(manifest["num_classes"])
    labels_cache = {}
    rows = []
    for r in records:
        level = model_level(r["model"])
        if level not in labels_cache:
            files = (split_files_ or split_files(data_dir, level))["test"]
            examples = read_split(files, level, num_classes)
            labels_cache[level] = ([e.id for e in examples], label_matrix(examples, num_classes))
        ids, y = labels_cache[level]
        path = Path(r["run_dir"]) / "test_predictions.csv"
        if not path.is_file():
            continue
        ap = per_class_ap(path, y, ids)
        for kind in ("rgb", "audio", "temporal"):
            classes = np.asarray(manifest["classes"][kind], dtype=np.int64)
            values = ap[classes] if classes.size else np.array([np.nan])
            rows.append({"framework": r["framework"], "model": r["model"], "seed": r["seed"],
                         "class_kind": kind, "mean_ap": float(np.nanmean(values))
                         if np.isfinite(values).any() else np.nan,
                         "classes": int(np.isfinite(values).sum())})
    return pd.DataFrame(rows)

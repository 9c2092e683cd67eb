"""Multi-process training runs on this machine: PyTorch DDP and Keras multi-worker.

Notebook 06 trains one model with 1 and 2 processes in each framework (PyTorch DDP under
``torchrun``, Keras under ``MultiWorkerMirroredStrategy`` with ``TF_CONFIG``). Both go
through the real trainer (``python -m yt8m_lib train``), with the same run folders, reuse
rules (``experiments.run_key``), thread budget and process handling; only the launch differs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from yt8m_lib import paths
from yt8m_lib.config import model_level
from yt8m_lib.data.datasets import data_tag, num_classes_of
from yt8m_lib.experiments import load_run_record, reusable_record, run_key
from yt8m_lib.training import RunSpec

SCALING_KINDS = {"torch": "torch-ddp", "keras": "keras-multiworker"}


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that are free on ``host`` right now (all held open together, so
    they differ; a process started soon after can bind them)."""
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
    return threads or max(1, (os.cpu_count() or 1) // world_size)


def scaling_run_dir(
    framework: str,
    model: str,
    world_size: int,
    *,
    profile: str,
    data_dir,
    results_dir=None,
    seed: int = 0,
) -> Path:
    """``<results>/scaling/<profile>/<data tag>/<kind>/<model>-world<N>-seed<S>`` (kind:
    torch-ddp or keras-multiworker), apart from ``runs/`` so these never mix with the runs
    notebooks 03-05 compare."""
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    return (
        results_dir
        / "scaling"
        / profile
        / data_tag(data_dir)
        / SCALING_KINDS[framework]
        / f"{model}-world{world_size}-seed{seed}"
    )


def _process_env(threads: int, **extra: str) -> dict:
    """The environment of one training process: its share of threads in every thread pool
    either framework sizes from the environment (OpenMP for PyTorch, TensorFlow's intra- and
    inter-op pools), and this copy of yt8m_lib importable wherever it is installed."""
    importable = os.pathsep.join(
        p for p in (str(paths.PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")) if p
    )
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        OMP_WAIT_POLICY="PASSIVE",
        TF_NUM_INTRAOP_THREADS=str(threads),
        TF_NUM_INTEROP_THREADS=str(threads),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=importable,
    )
    env.pop("TF_CONFIG", None)  # only a multi-worker launch sets it, per worker
    env.update(extra)
    return env


def _run_processes(jobs, timeout_s: float | None = None) -> list[tuple[int, str]]:
    """Start every (command, env) at once and wait for all; returns (exit code, combined
    output) of each. When one fails, the others are stopped (they would wait for it
    forever)."""
    logs = [tempfile.TemporaryFile(mode="w+") for _ in jobs]
    processes = [
        subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        for (command, env), log in zip(jobs, logs)
    ]
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


def _train_arguments(
    model: str,
    data_dir: Path,
    run_dir: Path,
    *,
    framework: str,
    profile: str,
    seed: int,
    epochs: int | None,
    force: bool,
) -> list[str]:
    """``yt8m train`` arguments of a scaling run (the same for every launcher)."""
    level = model_level(model)
    globs = {split: str(data_dir / level / f"{split}*.tfrecord") for split in ("train", "validate")}
    if not all(sorted((data_dir / level).glob(f"{split}*.tfrecord")) for split in globs):
        raise FileNotFoundError(
            f"{data_dir / level}: needs train*/validate* shards for multi-process runs"
        )
    arguments = [
        "train",
        "--framework",
        framework,
        "--model",
        model,
        "--train-data",
        globs["train"],
        "--val-data",
        globs["validate"],
        "--out",
        str(run_dir),
        "--profile",
        profile,
        "--seed",
        str(seed),
        "--no-progress",
        "--device",
        "cpu",
        "--num-classes",
        str(num_classes_of(data_dir)),
    ]
    if epochs is not None:
        arguments += ["--epochs", str(epochs)]
    if force:
        arguments.append("--no-resume")
    return arguments


def _torch_jobs(arguments, world_size, threads):
    """One ``torchrun`` (gloo) starting ``world_size`` ranks."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={world_size}",
        "-m",
        "yt8m_lib",
        *arguments,
    ]
    return [(command, _process_env(threads))]


def _keras_jobs(arguments, world_size, threads):
    """``world_size`` copies of the same command; with more than one, each gets a TF_CONFIG
    naming every worker on a free 127.0.0.1 port and its own index (one process alone runs
    without TF_CONFIG: TensorFlow's default strategy)."""
    command = [sys.executable, "-m", "yt8m_lib", *arguments]
    if world_size == 1:
        return [(command, _process_env(threads))]
    workers = [f"127.0.0.1:{port}" for port in free_ports(world_size)]
    return [
        (
            command,
            _process_env(
                threads,
                TF_CONFIG=json.dumps(
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                ),
            ),
        )
        for index in range(world_size)
    ]


_LAUNCHERS = {"torch": ("torch DDP", _torch_jobs), "keras": ("Keras multi-worker", _keras_jobs)}


def run_multiprocess(
    framework: str,
    model: str,
    world_size: int,
    *,
    profile: str,
    data_dir,
    results_dir=None,
    seed: int = 0,
    epochs: int | None = 1,
    threads: int | None = None,
    force: bool = False,
    verbose: bool = True,
    timeout_s: float | None = None,
) -> dict:
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
    run_dir = scaling_run_dir(
        framework,
        model,
        world_size,
        profile=profile,
        data_dir=data_dir,
        results_dir=results_dir,
        seed=seed,
    )
    label = f"{name} {model} x{world_size}"
    threads = threads_per_process(world_size, threads)
    spec = RunSpec.create(
        model, profile=profile, seed=seed, num_classes=num_classes_of(data_dir), epochs=epochs
    )
    key = run_key(spec, data_dir, engine=framework, world_size=world_size, threads=threads)
    record = reusable_record(run_dir, key, force)
    if record is not None and record.get("history"):
        if verbose:
            print(f"{label}: reused {run_dir}", flush=True)
        return record
    arguments = _train_arguments(
        model,
        data_dir,
        run_dir,
        framework=framework,
        profile=profile,
        seed=seed,
        epochs=epochs,
        force=force,
    )
    start = time.perf_counter()
    results = _run_processes(make_jobs(arguments, world_size, threads), timeout_s)
    failed = [(rank, code, out) for rank, (code, out) in enumerate(results) if code != 0]
    if failed:
        rank, code, out = failed[0]
        raise RuntimeError(f"{label} failed (process {rank}, exit {code}):\n{out[-3000:]}")
    if verbose:
        print(
            f"{label} ({threads} thread(s) each): {time.perf_counter() - start:.1f} s", flush=True
        )
    return load_run_record(run_dir)


def run_torch_ddp(model: str, world_size: int, **kwargs) -> dict:
    """PyTorch DDP on ``world_size`` CPU processes (``run_multiprocess`` with 'torch')."""
    return run_multiprocess("torch", model, world_size, **kwargs)


def run_keras_multiworker(model: str, world_size: int, **kwargs) -> dict:
    """Keras ``MultiWorkerMirroredStrategy`` with ``world_size`` worker processes on this
    machine (``run_multiprocess`` with 'keras')."""
    return run_multiprocess("keras", model, world_size, **kwargs)

"""A small benchmark harness: fair timings, ratios measured in the same run, JSON results.

Used by ``benchmarks/`` (``make bench``) and by notebooks 05/06, which read the JSON files
this module writes to ``results/bench/`` (``bench_dir()``).  The rules it implements:

* **warm-up excluded**: every timed function is first called ``warmup`` times untimed
  (first calls pay for imports, allocations, graph tracing, JIT compilation);
* **median and spread**: each case is timed ``repeats`` times; results report the median
  and the quartiles (IQR), never a single best run;
* **same run, interleaved**: ``compare`` times several cases round-robin (A, B, C, A, B, C,
  ...), so slow drift of the machine (thermal, other processes) hits all cases alike; a ratio
  is the median of the per-round ratios, with its quartiles;
* **GPU clocks**: pass ``sync`` (e.g. ``torch.cuda.synchronize``) and it is called before
  each clock read, so queued asynchronous kernels are inside the measured interval;
* **same threads**: ``set_threads`` gives PyTorch and TensorFlow the same intra-op thread
  count (TensorFlow accepts it only before its runtime starts: call it first).

Nothing here imports a framework at module import time.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from yt8m_lib import paths
from yt8m_lib.runs.run_record import environment_info, git_info

SCHEMA = "yt8m-bench/1"


# --------------------------------------------------------------------------- statistics


def summarize(samples: Sequence[float]) -> dict:
    """Median, quartiles, IQR, min, max and count of ``samples`` (JSON-ready floats)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    return {
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "min": float(x.min()),
        "max": float(x.max()),
        "n": int(x.size),
    }


@dataclass
class Timing:
    """Seconds per call of one case, after warm-up; ``items``/``nbytes`` are the videos and
    bytes one call processes (for rates)."""

    name: str
    samples: list[float]
    warmup: int = 0
    items: float | None = None
    nbytes: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    def rate(self, amount: float) -> dict:
        """``amount`` per second: the median and quartiles of ``amount / seconds``, per call."""
        return summarize([amount / s for s in self.samples])

    def to_dict(self) -> dict:
        row = {
            "name": self.name,
            "seconds": summarize(self.samples),
            "warmup": self.warmup,
            "samples_s": [float(s) for s in self.samples],
        }
        if self.items:
            row["items"] = self.items
            row["items_per_s"] = self.rate(self.items)
        if self.nbytes:
            row["bytes"] = self.nbytes
            row["mb_per_s"] = self.rate(self.nbytes / 1e6)
        row.update(self.extra)
        return row


def _clock(sync: Callable[[], None] | None) -> float:
    if sync is not None:
        sync()  # wait for queued (GPU) work, so it falls inside the measured interval
    return time.perf_counter()


def time_fn(
    fn: Callable[[], object],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
    name: str = "",
    items: float | None = None,
    nbytes: float | None = None,
) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed."""
    name = name or getattr(fn, "__name__", "fn")
    return compare(
        {name: fn},
        repeats=repeats,
        warmup=warmup,
        sync=sync,
        items={name: items},
        nbytes={name: nbytes},
    )[name]


def compare(
    cases: dict[str, Callable[[], object]],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
    items: dict | None = None,
    nbytes: dict | None = None,
    progress=None,
) -> dict[str, Timing]:
    """Time several cases interleaved round-robin; returns ``{name: Timing}``.

    Warm-up calls of every case come first; then each round calls every case once, in the
    given order rotated by the round number, so no case is always first after another one.
    ``progress`` (e.g. a tqdm bar) gets ``update(1)`` per timed call.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    names = list(cases)
    for name in names:
        for _ in range(warmup):
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = _clock(sync)
            cases[name]()
            samples[name].append(_clock(sync) - start)
            if progress is not None:
                progress.update(1)
    items, nbytes = items or {}, nbytes or {}
    return {
        name: Timing(name, samples[name], warmup, items.get(name), nbytes.get(name))
        for name in names
    }


def ratio(faster: Timing, slower: Timing, *, paired: bool = True) -> dict:
    """How many times faster ``faster`` is than ``slower`` (time of slower / time of faster).

    With paired samples (same number of repeats, from one ``compare``) the ratio is taken
    per round, and the median and quartiles of those per-round ratios are reported;
    otherwise (or with ``paired=False``: timings from different processes, whose rounds
    did not run side by side) the ratio of medians, with the quartiles from the worst/best
    pairing of quartiles.
    """
    a, b = np.asarray(faster.samples), np.asarray(slower.samples)
    if paired and a.size == b.size:
        out = summarize(b / a)
        out["paired"] = True
    else:
        qa, qb = summarize(a), summarize(b)
        out = {
            "median": qb["median"] / qa["median"],
            "q1": qb["q1"] / qa["q3"],
            "q3": qb["q3"] / qa["q1"],
            "n": int(min(a.size, b.size)),
            "paired": False,
        }
        out["iqr"] = out["q3"] - out["q1"]
    out["of"] = f"{faster.name} vs {slower.name}"
    return out


def target(
    name: str,
    value: float,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    note: str = "",
) -> dict:
    """A target check for the summary: whether ``value`` is >= ``at_least`` / <= ``at_most``."""
    met = True
    if at_least is not None:
        met = met and value >= at_least
    if at_most is not None:
        met = met and value <= at_most
    wanted = (
        (f">= {at_least:g}" if at_least is not None else "")
        + (" and " if at_least is not None and at_most is not None else "")
        + (f"<= {at_most:g}" if at_most is not None else "")
    )
    return {"name": name, "value": float(value), "target": wanted, "met": bool(met), "note": note}


# --------------------------------------------------------------------------- scaling


def scaling_efficiency(throughput_by_workers: dict[int, float]) -> dict[int, float]:
    """Parallel efficiency: ``throughput(n) / (n * throughput(1))`` for each n (1.0 = linear)."""
    if 1 not in throughput_by_workers:
        raise ValueError("need the throughput of 1 worker as the reference")
    base = throughput_by_workers[1]
    return {n: float(t / (n * base)) for n, t in sorted(throughput_by_workers.items())}


def memory_growth(sizes: Sequence[float], peak_mb: Sequence[float]) -> dict:
    """Least-squares line of peak memory (MB) against data size: ``slope`` (MB per unit of
    size) and ``relative_growth`` = (fitted peak at the largest size / at the smallest) - 1.
    Streaming keeps the slope near 0; loading everything makes it the data's own size."""
    x, y = np.asarray(sizes, np.float64), np.asarray(peak_mb, np.float64)
    if x.size < 2 or x.size != y.size:
        raise ValueError("need at least two (size, peak) pairs of equal length")
    slope, intercept = np.polyfit(x, y, 1)
    low, high = intercept + slope * x.min(), intercept + slope * x.max()
    return {
        "slope_mb_per_unit": float(slope),
        "intercept_mb": float(intercept),
        "relative_growth": float(high / low - 1.0) if low > 0 else float("inf"),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux: ``VmHWM`` of /proc/self/status - not ``ru_maxrss``, which a process started by
    fork+exec inherits from its (possibly big) parent. Elsewhere ``ru_maxrss`` (macOS: bytes).
    """
    import resource

    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if platform.system() == "Darwin" else peak * 1024 / 1e6


# --------------------------------------------------------------------------- threads


def in_fresh_process(function: Callable, /, *args, **kwargs):
    """``function(*args, **kwargs)`` run in a new Python process (spawned: none of this
    process's imports, threads or allocator state carries over); returns its result.

    Each framework is timed in a process of its own: TensorFlow's thread pools keep
    spinning for a while after its ops, and its mere import changes how fast plain numpy
    code runs (measured here: the project reader 1.5x slower after a tf.data case, the raw
    byte-copy floor 1.3-1.8x faster after the import), so timing PyTorch or numpy code
    next to TensorFlow would measure the neighbour. ``function`` must be importable
    (module level) and its arguments and result picklable.
    """
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args, **kwargs).result()


def threads_of_parent() -> int:
    """The intra-op thread count ``set_threads`` gave the parent (``OMP_NUM_THREADS``, which
    a spawned child inherits), so a child process can give its framework the same."""
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def set_threads_as_parent(framework: str) -> dict:
    """In a child of ``in_fresh_process``: give the one framework this process times
    ("torch" or "tensorflow") the parent's thread count (``set_threads``)."""
    return set_threads(threads_of_parent(), frameworks=(framework,))


def set_threads(n: int, frameworks: Sequence[str] = ("torch", "tensorflow")) -> dict:
    """Give each framework ``n`` intra-op threads (and 1-2 inter-op); returns what each got.

    TensorFlow fixes its thread pools when its runtime starts: call this before any
    TensorFlow op runs. A framework that cannot be imported or configured is reported with
    the reason, not raised, so a torch-only machine still benchmarks.
    """
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    os.environ["OMP_NUM_THREADS"] = str(n)  # any library that starts later (MKL, OpenMP)
    got: dict = {"requested": n}
    if "torch" in frameworks:
        try:
            import torch

            torch.set_num_threads(n)
            try:
                torch.set_num_interop_threads(min(n, 2))
            except RuntimeError:
                pass  # allowed once only, before parallel work: keep what it has
            got["torch"] = {
                "intra_op": torch.get_num_threads(),
                "inter_op": torch.get_num_interop_threads(),
            }
        except ImportError as error:
            got["torch"] = {"error": str(error)}
    if "tensorflow" in frameworks:
        try:
            import tensorflow as tf

            try:
                tf.config.threading.set_intra_op_parallelism_threads(n)
                tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))
            except RuntimeError as error:  # runtime already started
                got["tensorflow_error"] = str(error)
            got["tensorflow"] = {
                "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            }
        except ImportError as error:
            got["tensorflow"] = {"error": str(error)}
    return got


# --------------------------------------------------------------------------- results


def bench_dir() -> Path:
    """``results/bench`` (follows ``YT8M_RESULTS_DIR``)."""
    return paths.results_dir() / "bench"


def environment() -> dict:
    """CPU count, platform, Python/numpy/framework versions (frameworks only if loaded)."""
    env = dict(environment_info())
    env["cpu_count"] = os.cpu_count()
    try:  # more runnable threads than cores make every timing slower: keep it on record
        env["load_average_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    env["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    try:
        env["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        pass
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = torch.cuda.is_available()
        if env["cuda"]:
            env["gpu"] = torch.cuda.get_device_name(0)
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        env["tensorflow"] = tf.__version__
        env["tf_intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    return env


def new_result(section: str, *, mode: str, settings: dict | None = None) -> dict:
    """The skeleton of one section's JSON: fill ``rows``, ``ratios``, ``targets``."""
    return {
        "schema": SCHEMA,
        "section": section,
        "mode": mode,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings or {},
        "rows": [],
        "ratios": {},
        "targets": [],
        "failures": [],
        "environment": {},
        "git": {},
    }


def write_result(result: dict, folder: Path | None = None) -> Path:
    """Add environment + git, then write ``<folder>/<section>.json`` atomically."""
    folder = Path(folder) if folder is not None else bench_dir()
    folder.mkdir(parents=True, exist_ok=True)
    result = dict(result)
    result["environment"] = environment()
    result["git"] = git_info()
    path = folder / f"{result['section']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def load_result(section: str, folder: Path | None = None) -> dict:
    """One section's JSON (e.g. ``load_result("read")``); FileNotFoundError says how to make it."""
    path = (Path(folder) if folder is not None else bench_dir()) / f"{section}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run `make bench BENCH_ONLY={section}` "
            "(or `make bench` for every section)"
        )
    return json.loads(path.read_text())


def rows_frame(section: str, folder: Path | None = None):
    """A section's rows as a pandas DataFrame, nested stats flattened (``seconds.median`` ...)."""
    import pandas as pd

    return pd.json_normalize(load_result(section, folder)["rows"])


def step_times(folders: dict) -> tuple:
    """(frame, notes): the model-alone training step (``train.json``, ms per batch) and the
    inference latency (``infer.json``, ms per batch) of every model, framework and device in
    each folder of ``folders`` (label -> folder; None: ``results/bench``), one row each with
    columns where, model, framework, device, task, batch_size, parameters (where the row
    records them), ms. A missing file is left out and named in ``notes``."""
    import pandas as pd

    parts, notes = [], []
    for where, folder in folders.items():
        for section, kind, column, to_ms, task in (
            ("train", "alone", "step_s.median", 1e3, "train step"),
            ("infer", "predict", "batch_latency_ms.median", 1.0, "inference"),
        ):
            try:
                rows = rows_frame(section, folder)
            except FileNotFoundError as missing:
                notes.append(f"{where}: {missing}")
                continue
            rows = rows[rows["kind"] == kind]
            parts.append(
                pd.DataFrame(
                    {
                        "where": where,
                        "model": rows["model"],
                        "framework": rows["framework"],
                        "device": rows["device"],
                        "task": task,
                        "batch_size": rows["batch_size"],
                        "parameters": rows.get("parameters"),
                        "ms": rows[column] * to_ms,
                    }
                )
            )
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            columns=[
                "where",
                "model",
                "framework",
                "device",
                "task",
                "batch_size",
                "parameters",
                "ms",
            ]
        )
    )
    return frame, notes


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def summary_markdown(results: Sequence[dict]) -> str:
    """One markdown document: per section, its ratios and target checks, then its rows
    (median and IQR of time per call, and of videos/s where known)."""
    lines = ["# Benchmark summary", ""]
    for result in results:
        env = result.get("environment", {})
        lines += [
            f"## {result['section']} ({result['mode']} mode, {result['created']}, "
            f"{env.get('cpu_count', '?')} CPUs, load {env.get('load_average_1m', '?')}, commit "
            f"{str(result.get('git', {}).get('commit') or '?')[:10]})",
            "",
        ]
        for check in result.get("targets", []):
            lines.append(
                f"- target **{check['name']}**: {_fmt(check['value'])} "
                f"(want {check['target']}) -> {'MET' if check['met'] else 'NOT MET'}"
                + (f"; {check['note']}" if check.get("note") else "")
            )
        for name, r in result.get("ratios", {}).items():
            if isinstance(r, dict) and "median" in r:
                lines.append(
                    f"- ratio {name}: {_fmt(r['median'])} "
                    f"(IQR {_fmt(r['q1'])}-{_fmt(r['q3'])}; {r.get('of', '')})"
                )
        for failure in result.get("failures", []):
            lines.append(f"- failed: {failure.get('case')}: {failure.get('error')}")
        rows = result.get("rows", [])
        if rows:
            lines += [
                "",
                "| case | median s/call | IQR s | videos/s (median) | MB/s |",
                "|---|---|---|---|---|",
            ]
            for row in rows:
                s = row.get("seconds", {})
                ips = row.get("items_per_s", {}).get("median")
                mbs = row.get("mb_per_s", {}).get("median")
                lines.append(
                    f"| {row['name']} | {_fmt(s['median']) if s else ''} | "
                    f"{_fmt(s['q1']) + '-' + _fmt(s['q3']) if s else ''} | "
                    f"{_fmt(ips) if ips else ''} | {_fmt(mbs) if mbs else ''} |"
                )
        lines.append("")
    return "\n".join(lines)

"""Hardware use during training and evaluation, sampled in a background thread.

``with HardwareMonitor(interval_s=0.5, framework="torch") as monitor: ...`` records, every
``interval_s`` seconds (and once more on exit):

* ``cpu_percent``: this process and its children (psutil; 100 = one core busy),
  ``system_cpu_percent`` (all cores, 0-100);
* ``rss_mb``: resident memory of this process and its children, ``system_memory_used_mb``,
  ``system_memory_percent``;
* with an NVIDIA GPU (``nvidia-smi`` answers, read through GPUtil): ``gpu{i}_load_percent``
  and ``gpu{i}_memory_used_mb`` per device, and the framework's own peak device memory
  ``framework_gpu_peak_mb`` (``torch.cuda.max_memory_allocated`` or TensorFlow's
  ``get_memory_info(...)["peak"]``, maximum over devices; cumulative since the framework
  started or last reset its peak statistics).

On a machine without a GPU it records ``gpu_present: False`` - no error, no warning.  The
monitor never imports a framework: it only looks at one already in ``sys.modules``.
``summary()`` gives the mean and peak of every series; ``to_record()`` is what the run record
keeps (summary + the time series).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import warnings

MB = 2**20


def _nvidia_smi_works() -> bool:
    """Asked first, with its output captured, so that a missing or broken driver stays silent."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "GPU" in done.stdout


_GPU_AVAILABLE: bool | None = None  # probed once per process


def _query_gpus() -> list:
    """GPUtil's GPU objects (load 0-1, memoryUsed/memoryTotal in MB); [] without a GPU."""
    global _GPU_AVAILABLE
    if _GPU_AVAILABLE is None:
        _GPU_AVAILABLE = _nvidia_smi_works()
    if not _GPU_AVAILABLE:
        return []
    try:
        with warnings.catch_warnings():  # GPUtil imports distutils (deprecated)
            warnings.simplefilter("ignore")
            import GPUtil

            return list(GPUtil.getGPUs())
    except Exception:  # GPUtil missing, or nvidia-smi output it cannot parse
        return []


def detect_gpus() -> list[dict]:
    """[{index, name, memory_total_mb}] of the NVIDIA GPUs; [] when there is none."""
    return [
        {"index": int(g.id), "name": str(g.name), "memory_total_mb": float(g.memoryTotal)}
        for g in _query_gpus()
    ]


def _framework_gpu_peak_mb(framework: str | None) -> float | None:
    """The framework's own peak device memory (max over devices), if it is loaded and on a GPU."""
    wanted = {
        "torch": ("torch",),
        "keras": ("tensorflow",),
        "tensorflow": ("tensorflow",),
        None: ("torch", "tensorflow"),
    }[framework]
    peaks = []
    if "torch" in wanted and "torch" in sys.modules:
        torch = sys.modules["torch"]
        try:  # is_initialized: never create a CUDA context from the monitor thread
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                peaks += [
                    torch.cuda.max_memory_allocated(i) / MB
                    for i in range(torch.cuda.device_count())
                ]
        except Exception:
            pass
    if "tensorflow" in wanted and "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        try:
            for i in range(len(tf.config.list_physical_devices("GPU"))):
                peaks.append(tf.config.experimental.get_memory_info(f"GPU:{i}")["peak"] / MB)
        except Exception:  # TensorFlow not fully imported, or the GPU not initialised yet
            pass
    return max(peaks) if peaks else None


class HardwareMonitor:
    """Context manager sampling CPU, memory and GPU use in a daemon thread."""

    def __init__(self, interval_s: float = 0.5, framework: str | None = None):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if framework not in (None, "torch", "keras", "tensorflow"):
            raise ValueError(f"unknown framework {framework!r}")
        self.interval_s = float(interval_s)
        self.framework = framework
        self.samples: list[dict] = []
        self.gpus: list[dict] = []
        self.errors = 0  # samples that failed (kept quiet: monitoring must not break a run)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = self._end = None
        self._children: dict = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> HardwareMonitor:
        import psutil

        if self._thread is not None:
            raise RuntimeError("this monitor was already started")
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # first calls only set the reference point
        psutil.cpu_percent(None)
        self.gpus = detect_gpus()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="yt8m-hardware-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None or self._end is not None:
            return
        self._stop.set()
        self._thread.join(timeout=max(5.0, 4 * self.interval_s))
        self._sample()  # the last partial interval, and at least one sample
        self._end = time.perf_counter()

    def __enter__(self) -> HardwareMonitor:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop()
        return False  # exceptions of the monitored block propagate

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    # ------------------------------------------------------------------ sampling
    def _sample(self) -> None:
        try:
            self.samples.append(self._measure())
        except Exception:
            self.errors += 1

    def _measure(self) -> dict:
        import psutil

        cpu = self._process.cpu_percent(None)
        rss = self._process.memory_info().rss
        try:
            children = self._process.children(recursive=True)
        except psutil.Error:
            children = []
        alive = {}
        for child in children:
            known = self._children.get(child.pid, child)
            try:
                cpu += known.cpu_percent(None)  # 0 on the first look at a new child
                rss += known.memory_info().rss
                alive[child.pid] = known
            except psutil.Error:  # ended in between
                pass
        self._children = alive
        memory = psutil.virtual_memory()
        sample = {
            "t_s": round(time.perf_counter() - self._start, 4),
            "cpu_percent": cpu,
            "system_cpu_percent": psutil.cpu_percent(None),
            "rss_mb": rss / MB,
            "system_memory_used_mb": (memory.total - memory.available) / MB,
            "system_memory_percent": memory.percent,
        }
        if self.gpus:
            for gpu in _query_gpus():
                sample[f"gpu{gpu.id}_load_percent"] = float(gpu.load) * 100
                sample[f"gpu{gpu.id}_memory_used_mb"] = float(gpu.memoryUsed)
            peak = _framework_gpu_peak_mb(self.framework)
            if peak is not None:
                sample["framework_gpu_peak_mb"] = peak
        return sample

    # ------------------------------------------------------------------ results
    def summary(self) -> dict:
        """duration, sample count, GPU facts, and ``KEY_mean`` / ``KEY_peak`` of every series;
        ``rss_mb_peak`` also counts the OS's own peak of this process (between samples)."""
        end = self._end if self._end is not None else time.perf_counter()
        samples = list(self.samples)  # the thread may still append
        out = {
            "duration_s": round(end - self._start, 4) if self._start is not None else 0.0,
            "sample_count": len(samples),
            "interval_s": self.interval_s,
            "framework": self.framework,
            "cpu_count": os.cpu_count(),
            "gpu_present": bool(self.gpus),
            "num_gpus": len(self.gpus),
            "gpu_names": [g["name"] for g in self.gpus],
        }
        keys = sorted({k for s in samples for k in s if k != "t_s"})
        for key in keys:
            values = [s[key] for s in samples if key in s]
            out[f"{key}_mean"] = sum(values) / len(values)
            out[f"{key}_peak"] = max(values)
        os_peak = _os_peak_rss_mb()
        if os_peak is not None and "rss_mb_peak" in out:
            out["rss_mb_peak"] = max(out["rss_mb_peak"], os_peak)
        return out

    def to_record(self) -> dict:
        return {"summary": self.summary(), "samples": list(self.samples)}


def _os_peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux

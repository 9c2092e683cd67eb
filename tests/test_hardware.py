"""The hardware monitor on this machine (no GPU) and, faked, on one with a GPU."""

import subprocess
import sys
import time
import warnings
from types import SimpleNamespace

import pytest

from yt8m_lib.runs import hardware
from yt8m_lib.runs.hardware import HardwareMonitor


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine, whatever machine runs the tests."""
    monkeypatch.setattr(hardware, "_query_gpus", lambda: [])


def test_samples_cpu_and_memory_without_warnings_on_a_machine_without_gpu(no_gpu):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with HardwareMonitor(interval_s=0.05) as monitor:
            busy(0.4)
            # on a loaded machine the sampler thread may run late: work until it has sampled
            deadline = time.perf_counter() + 20
            while len(monitor.samples) < 4 and time.perf_counter() < deadline:
                busy(0.05)
    summary = monitor.summary()
    assert summary["gpu_present"] is False and summary["num_gpus"] == 0
    assert summary["sample_count"] == len(monitor.samples) >= 4
    assert summary["duration_s"] >= 0.4
    assert summary["cpu_percent_peak"] > 5  # the busy loop (low bound: the machine may be busy)
    assert 0 < summary["rss_mb_mean"] <= summary["rss_mb_peak"]
    assert summary["system_memory_used_mb_peak"] > 0
    assert not any(k.startswith("gpu") and k != "gpu_names" and k != "gpu_present" for k in summary)
    assert monitor.errors == 0


def test_real_gpu_probe_is_silent(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpus = hardware.detect_gpus()
    assert isinstance(gpus, list)
    assert capfd.readouterr() == ("", "")


def test_children_are_counted(no_gpu):
    with HardwareMonitor(interval_s=0.05) as monitor:
        time.sleep(0.2)  # samples without the child
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
        child.wait()
        time.sleep(0.2)  # samples after it ended
    # the sleeping child holds a Python interpreter's memory (~10 MB) while it runs
    rss = [s["rss_mb"] for s in monitor.samples]
    assert max(rss) - min(rss) > 3


def test_stops_cleanly_when_the_block_raises(no_gpu):
    with pytest.raises(KeyError):
        with HardwareMonitor(interval_s=0.05) as monitor:
            raise KeyError("boom")
    assert not monitor._thread.is_alive()
    assert monitor.summary()["sample_count"] >= 1


def test_to_record_has_summary_and_samples(no_gpu):
    with HardwareMonitor(interval_s=0.05) as monitor:
        time.sleep(0.12)
    record = monitor.to_record()
    assert record["summary"] == monitor.summary()
    assert record["samples"] == monitor.samples
    assert [s["t_s"] for s in record["samples"]] == sorted(s["t_s"] for s in record["samples"])


def test_gpu_series_when_a_gpu_is_present(monkeypatch):
    fake = [
        SimpleNamespace(id=0, name="Fake H100", load=0.5, memoryUsed=1000.0, memoryTotal=80000.0)
    ]
    monkeypatch.setattr(hardware, "_query_gpus", lambda: fake)
    with HardwareMonitor(interval_s=0.05) as monitor:
        time.sleep(0.12)
    summary = monitor.summary()
    assert summary["gpu_present"] is True and summary["gpu_names"] == ["Fake H100"]
    assert summary["gpu0_load_percent_peak"] == 50.0
    assert summary["gpu0_memory_used_mb_mean"] == 1000.0


def test_never_imports_a_framework(no_gpu):
    code = (
        "import sys; from yt8m_lib.runs.hardware import HardwareMonitor\n"
        "with HardwareMonitor(0.05) as m: pass\n"
        "print(m.summary()); assert 'torch' not in sys.modules\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_rejects_bad_settings():
    with pytest.raises(ValueError):
        HardwareMonitor(interval_s=0)
    with pytest.raises(ValueError):
        HardwareMonitor(framework="jax")

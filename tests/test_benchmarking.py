"""The benchmark harness (yt8m_lib.runs.benchmarking): its logic only, never a timed assertion
(the clock is replaced where a test needs known durations)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import CHECKOUT

from yt8m_lib.runs import benchmarking as bm


@pytest.fixture
def fake_clock(monkeypatch):
    """A clock that advances only when a case 'runs': case(d) advances it by d seconds."""
    now = [0.0]
    monkeypatch.setattr(bm.time, "perf_counter", lambda: now[0])

    def case(duration):
        def run():
            now[0] += duration

        return run

    return case


def test_summarize_gives_median_quartiles_and_count():
    s = bm.summarize([4.0, 1.0, 3.0, 2.0, 5.0])
    assert s["median"] == 3.0 and s["q1"] == 2.0 and s["q3"] == 4.0
    assert s["iqr"] == 2.0 and s["min"] == 1.0 and s["max"] == 5.0 and s["n"] == 5


def test_summarize_refuses_no_samples():
    with pytest.raises(ValueError):
        bm.summarize([])


def test_warmup_calls_are_not_timed(fake_clock):
    calls = []
    durations = iter([100.0, 1.0, 1.0, 1.0])  # the first (warm-up) call is slow

    def fn():
        calls.append(1)
        fake_clock(next(durations))()

    timing = bm.time_fn(fn, repeats=3, warmup=1, name="f")
    assert len(calls) == 4
    assert timing.samples == [1.0, 1.0, 1.0] and timing.warmup == 1


def test_sync_is_called_around_every_timed_call(fake_clock):
    syncs = []
    bm.time_fn(fake_clock(1.0), repeats=4, warmup=2, sync=lambda: syncs.append(1), name="g")
    assert len(syncs) == 2 * 4  # before the start and before the end clock read


def test_compare_interleaves_cases_and_rotates_the_order():
    order = []
    cases = {name: (lambda n=name: order.append(n)) for name in "abc"}
    bm.compare(cases, repeats=3, warmup=0)
    assert order == list("abc") + list("bca") + list("cab")


def test_compare_returns_rates_from_items_and_bytes(fake_clock):
    timings = bm.compare(
        {"x": fake_clock(2.0)}, repeats=3, warmup=0, items={"x": 10}, nbytes={"x": 4e6}
    )
    row = timings["x"].to_dict()
    assert row["seconds"]["median"] == 2.0
    assert row["items_per_s"]["median"] == 5.0
    assert row["mb_per_s"]["median"] == 2.0


def test_compare_refuses_zero_repeats():
    with pytest.raises(ValueError):
        bm.compare({"x": lambda: None}, repeats=0)


def test_ratio_is_the_median_of_per_round_ratios():
    fast = bm.Timing("fast", [1.0, 1.0, 2.0])
    slow = bm.Timing("slow", [3.0, 2.0, 8.0])
    r = bm.ratio(fast, slow)
    assert r["paired"] and r["median"] == 3.0  # per round: 3, 2, 4
    assert r["q1"] == 2.5 and r["q3"] == 3.5
    assert r["of"] == "fast vs slow"


def test_ratio_of_unpaired_timings_is_the_ratio_of_medians():
    r = bm.ratio(bm.Timing("a", [1.0, 1.0]), bm.Timing("b", [4.0, 4.0, 4.0]))
    assert not r["paired"] and r["median"] == 4.0


def test_ratio_across_processes_is_unpaired_even_with_equal_repeats():
    """Rounds timed in different processes did not run side by side: no per-round pairing."""
    fast = bm.Timing("fast", [1.0, 1.0, 2.0])
    slow = bm.Timing("slow", [3.0, 2.0, 8.0])
    r = bm.ratio(fast, slow, paired=False)
    assert not r["paired"] and r["median"] == 3.0  # median 3 / median 1
    assert r["q1"] == 2.5 / 1.5 and r["q3"] == 5.5 / 1.0


def _process_facts(extra: int) -> tuple:
    import os
    import sys

    return os.getpid(), "tensorflow" in sys.modules, bm.threads_of_parent() + extra


def test_in_fresh_process_runs_elsewhere_without_this_process_imports(monkeypatch):
    """Each framework is timed in a spawned process: nothing imported here (TensorFlow in
    particular) is loaded there, and the thread count travels through the environment."""
    import os
    import sys

    import tensorflow

    assert tensorflow.__version__  # loaded here, so the child must not inherit it
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    pid, child_has_tf, threads = bm.in_fresh_process(_process_facts, 1)
    assert pid != os.getpid() and "tensorflow" in sys.modules
    assert not child_has_tf and threads == 4


def _threads_as_parent() -> tuple:
    import sys

    import torch

    got = bm.set_threads_as_parent("torch")
    return got, torch.get_num_threads(), "tensorflow" in sys.modules


def test_a_child_gives_its_one_framework_the_parents_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    got, torch_threads, child_has_tf = bm.in_fresh_process(_threads_as_parent)
    assert got["requested"] == 1 and torch_threads == 1  # the parent's count (this machine: 2)
    assert "tensorflow" not in got and not child_has_tf  # the other framework is untouched


def test_target_reports_met_and_not_met():
    assert bm.target("x", 3.0, at_least=2.5)["met"]
    assert not bm.target("x", 2.0, at_least=2.5)["met"]
    assert not bm.target("y", 1.2, at_most=1.1)["met"]
    assert bm.target("y", 1.05, at_most=1.1)["target"] == "<= 1.1"


def test_scaling_efficiency_is_one_for_linear_scaling():
    eff = bm.scaling_efficiency({1: 100.0, 2: 200.0, 4: 300.0})
    assert eff == {1: 1.0, 2: 1.0, 4: 0.75}
    with pytest.raises(ValueError):
        bm.scaling_efficiency({2: 100.0})


def test_memory_growth_tells_flat_from_linear():
    flat = bm.memory_growth([1, 2, 4, 8], [500, 501, 499, 500])
    grows = bm.memory_growth([1, 2, 4, 8], [500, 600, 800, 1200])
    assert abs(flat["slope_mb_per_unit"]) < 1 and abs(flat["relative_growth"]) < 0.01
    assert grows["slope_mb_per_unit"] == pytest.approx(100.0)
    assert grows["relative_growth"] == pytest.approx(1200 / 500 - 1)


def test_peak_rss_is_a_plausible_number_of_megabytes():
    assert 1 < bm.peak_rss_mb() < 1e6


def test_write_and_load_result_round_trip(tmp_path):
    result = bm.new_result("demo", mode="quick", settings={"threads": 2})
    result["rows"].append(bm.Timing("case", [1.0, 2.0, 3.0], items=6).to_dict())
    result["ratios"]["a_vs_b"] = {"median": np.float64(2.5), "q1": 2.0, "q3": 3.0}
    path = bm.write_result(result, tmp_path)
    assert path == tmp_path / "demo.json"
    loaded = bm.load_result("demo", tmp_path)
    assert loaded["schema"] == bm.SCHEMA and loaded["mode"] == "quick"
    assert loaded["ratios"]["a_vs_b"]["median"] == 2.5
    assert loaded["environment"]["cpu_count"] == os.cpu_count()
    assert "commit" in loaded["git"]
    assert json.loads(path.read_text())["rows"][0]["items_per_s"]["median"] == 3.0
    assert not list(tmp_path.glob("*.tmp"))


def test_load_result_says_how_to_make_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="make bench"):
        bm.load_result("nothing", tmp_path)


def test_rows_frame_flattens_the_stats(tmp_path):
    result = bm.new_result("demo", mode="full")
    result["rows"].append(bm.Timing("case", [1.0, 3.0]).to_dict())
    bm.write_result(result, tmp_path)
    frame = bm.rows_frame("demo", tmp_path)
    assert frame.loc[0, "name"] == "case" and frame.loc[0, "seconds.median"] == 2.0


def test_bench_dir_follows_the_results_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("YT8M_RESULTS_DIR", str(tmp_path))
    assert bm.bench_dir() == tmp_path / "bench"


def test_summary_markdown_shows_targets_ratios_rows_and_failures():
    result = bm.new_result("read", mode="quick")
    result["targets"].append(bm.target("reader vs tf.data", 1.5, at_least=2.5))
    result["ratios"]["reader_vs_tf_data"] = {"median": 1.5, "q1": 1.4, "q3": 1.6, "of": "a vs b"}
    result["rows"].append(bm.Timing("reader", [0.5, 0.5], items=100, nbytes=1e6).to_dict())
    result["failures"].append({"case": "compiled", "error": "boom"})
    text = bm.summary_markdown([result])
    assert "## read (quick mode" in text
    assert "NOT MET" in text and "reader_vs_tf_data: 1.5" in text
    assert "| reader | 0.5 |" in text and "| 200 | 2 |" in text
    assert "failed: compiled: boom" in text


def test_set_threads_refuses_zero():
    with pytest.raises(ValueError):
        bm.set_threads(0)


def test_set_threads_gives_torch_the_requested_count():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        got = bm.set_threads(1, frameworks=("torch",))
        assert got["torch"]["intra_op"] == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_runner_selects_sections_and_refuses_unknown_ones():
    from benchmarks import run

    args = run.parse_args(["--quick", "--only", "read, metrics"])
    assert args.quick and args.sections == ["read", "metrics"]
    assert run.parse_args([]).sections == list(run.SECTIONS)
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "read,nonsense"])


def test_runner_hands_models_only_to_the_sections_that_take_them():
    from benchmarks import run

    args = run.parse_args(["--models", "logistic, fc", "--device", "cpu"])
    assert args.models == ("logistic", "fc")

    def train_like(mode, progress=True, device="auto", models=()):
        return models

    def read_like(mode, progress=True):
        return mode

    assert run.section_options(train_like, args) == {
        "progress": True,
        "device": "cpu",
        "models": ("logistic", "fc"),
    }
    assert run.section_options(read_like, args) == {"progress": True}
    assert "models" not in run.section_options(train_like, run.parse_args([]))
    for wrong in ("fc,nonsense", " , "):
        with pytest.raises(SystemExit):
            run.parse_args(["--models", wrong])


def test_benchmark_shards_have_the_asked_sizes_and_are_reused(tmp_path):
    from benchmarks import data
    from yt8m_lib.data.records import count_examples, iter_examples

    paths = data.make_shards(tmp_path, "frame", shards=2, per_shard=3, frames=(5, 7))
    assert count_examples(paths) == 6
    assert all(5 <= ex.num_frames <= 7 for ex in iter_examples(paths, "frame"))
    stamp = paths[0].stat().st_mtime_ns
    assert data.make_shards(tmp_path, "frame", shards=2, per_shard=3, frames=(5, 7)) == paths
    assert paths[0].stat().st_mtime_ns == stamp  # reused, not rewritten
    video = data.make_shards(tmp_path, "video", shards=1, per_shard=4)
    assert [ex.mean_rgb.shape for ex in iter_examples(video, "video")] == [(1024,)] * 4


def test_a_framework_that_is_not_installed_is_listed_as_a_failure_not_timed(monkeypatch):
    """A GPU machine may hold PyTorch alone: its rows are timed, Keras is a recorded failure."""
    import importlib.util

    from benchmarks import train

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a),
    )
    assert train.installed_frameworks() == ("torch",)

    timed = []

    def fake_child(fn, framework, model, device, **kw):
        timed.append(framework)
        return {"steps": 4}, [], [({"framework": framework}, None)]

    monkeypatch.setattr(bm, "in_fresh_process", fake_child)
    info, failures, rows = train.measure(
        "fc", "cuda", batch_size=64, repeats=1, desc="t", progress=False
    )
    assert timed == ["torch"] and [r["framework"] for r, _ in rows] == ["torch"]
    assert failures == [{"case": "fc/cuda/keras", "error": "tensorflow is not installed"}]


@pytest.mark.parametrize("workers", [0, 2])
def test_the_full_loop_streams_every_video_in_turn_without_end(tmp_path, workers):
    """The full-loop cases read the records again and again through the trainer's loader
    (a reading thread, or the GPU case's worker processes): in every stretch of two epochs'
    worth of batches each video comes exactly twice."""
    from collections import Counter

    from benchmarks import adapters, data
    from yt8m_lib.data.records import iter_examples

    paths = data.make_shards(tmp_path, "video", shards=2, per_shard=5)
    expected = {ex.id for ex in iter_examples(paths, "video")}
    stream = adapters.torch_endless_batches(paths, "video", batch_size=5, num_workers=workers)
    for _ in range(3):  # six epochs' worth, two at a time
        counts = Counter(i for _ in range(4) for i in next(stream)["id"])
        assert set(counts) == expected and set(counts.values()) == {2}


@pytest.mark.parametrize(
    "chunk_videos, batch_size", [(512, 16), (384, 16), (100, 16), (512, 256), (16, 16)]
)
def test_a_timed_gpu_training_call_reads_whole_loader_chunks(chunk_videos, batch_size):
    """On CUDA the loader reads chunks of whole batches; a timed call spans whole chunks
    (every call waits for as many), on the CPU and for inference one pass."""
    from benchmarks import train

    passes = train.passes_per_call("cuda", batch_size, chunk_videos=chunk_videos)
    chunk = max(1, chunk_videos // batch_size) * batch_size
    assert (passes * train.VIDEOS) % chunk == 0
    assert passes == min(p for p in range(1, 100) if p * train.VIDEOS % chunk == 0)
    assert train.passes_per_call("cpu", batch_size, chunk_videos=chunk_videos) == 1
    assert train.passes_per_call("cuda", batch_size, inference=True, chunk_videos=chunk_videos) == 1


def test_step_times_read_the_committed_gpu_records_and_name_missing_folders(tmp_path):
    """Notebook 05's CPU-vs-GPU figure: the H200 records committed in benchmarks/records give
    a training step and an inference latency per model (PyTorch on cuda); a folder without
    results is named, not an error."""
    records = CHECKOUT / "benchmarks" / "records" / "nvidia-h200"
    times, notes = bm.step_times({"H200": records, "none": tmp_path})
    assert set(times.task) == {"train step", "inference"}
    assert set(times.device) == {"cuda"} and set(times.framework) == {"torch"}
    assert times.groupby("task").model.nunique().to_dict() == {"inference": 6, "train step": 6}
    assert (times.ms > 0).all() and (times.ms < 100).all()  # milliseconds, not seconds
    assert len(notes) == 2 and all(n.startswith("none: ") for n in notes)

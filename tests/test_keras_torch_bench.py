"""The keras_torch benchmark section (benchmarks/keras_torch.py): Keras on the torch backend
against native PyTorch and Keras on TensorFlow.

The end-to-end tests run the section once at its tiniest size (32 videos, 2 repeats) for one
video-level and one frame-level model, each Keras backend in its own child process, with
``torch.compile`` given a backend that does not exist: every torch compiled case must then
be a recorded failure, XLA must compile the video-level model and be refused for the LSTM
one. No timing is asserted beyond "positive"; the ratios must be the rows' own quotients."""

from __future__ import annotations

import json
import os
import statistics

import pytest

from yt8m_lib.runs import benchmarking as bm

MODELS = ("logistic", "bilstm")
BAD_BACKEND = "no_such_backend"
CASES = {"torch": None, "keras_torch": "torch", "keras_tf": "tensorflow"}


_MEASURED: dict = {}  # the section, measured once per process (pytest-xdist may tear a
# module fixture down between two tests it sends one by one)


@pytest.fixture
def section(tmp_path_factory):
    """The section's result at size tiny, compiled modes asked for with a broken compiler."""
    if not _MEASURED:
        _MEASURED["section"] = _measure_section(tmp_path_factory)
    return _MEASURED["section"]


def _measure_section(tmp_path_factory):
    from benchmarks import keras_torch

    folder = tmp_path_factory.mktemp("results")
    old = os.environ.get("YT8M_RESULTS_DIR")
    os.environ["YT8M_RESULTS_DIR"] = str(folder)
    try:
        result = keras_torch.run(
            "tiny",
            progress=False,
            models=MODELS,
            compile_backend=BAD_BACKEND,
            profile_models=(),
        )
        bm.write_result(result)
    finally:
        if old is None:
            os.environ.pop("YT8M_RESULTS_DIR")
        else:
            os.environ["YT8M_RESULTS_DIR"] = old
    return result, folder


@pytest.mark.slow
@pytest.mark.xdist_group("keras_torch_bench")
def test_rows_of_all_three_backends_with_positive_times(section):
    result, folder = section
    assert json.loads((folder / "bench" / "keras_torch.json").read_text())["rows"]
    eager = [r for r in result["rows"] if r["mode"] == "eager"]
    for model in MODELS:
        for task in ("train", "infer"):
            rows = {r["case"]: r for r in eager if r["model"] == model and r["task"] == task}
            assert set(rows) == set(CASES), (model, task)
            for case, backend in CASES.items():
                row = rows[case]
                assert row["keras_backend"] == backend
                assert row["framework"] == ("torch" if backend is None else "keras")
                assert row["seconds"]["median"] > 0 and len(row["samples_s"]) == 2
                per = row["step_s"] if task == "train" else row["batch_latency_ms"]
                assert per["median"] > 0
    # each Keras backend ran in its own process, and no TensorFlow in the torch one
    torch_child, tf_child = result["processes"]["torch"], result["processes"]["tensorflow"]
    assert torch_child["keras_backend"] == "torch" and not torch_child["tensorflow_loaded"]
    assert tf_child["keras_backend"] == "tensorflow" and torch_child["pid"] != tf_child["pid"]


@pytest.mark.slow
@pytest.mark.xdist_group("keras_torch_bench")
def test_ratios_are_the_quotients_of_the_rows(section):
    result, _ = section
    rows = {r["name"]: r for r in result["rows"]}
    checked = 0
    for model in MODELS:
        for task in ("train", "infer"):
            prefix = f"{model}/cpu/default/{task}"
            keras_torch = rows[f"{prefix}/keras_torch/eager"]["samples_s"]
            torch_ = rows[f"{prefix}/torch/eager"]["samples_s"]
            keras_tf = rows[f"{prefix}/keras_tf/eager"]["samples_s"]
            paired = result["ratios"][f"{prefix}/eager/keras_torch_over_torch"]
            assert paired["paired"]  # same process, interleaved rounds
            assert paired["median"] == pytest.approx(
                statistics.median(k / t for k, t in zip(keras_torch, torch_))
            )
            across = result["ratios"][f"{prefix}/eager/keras_torch_over_keras_tf"]
            assert not across["paired"]  # two processes
            assert across["median"] == pytest.approx(
                statistics.median(keras_torch) / statistics.median(keras_tf)
            )
            checked += 2
    assert checked == 8
    assert result["settings"]["torch_compile_backend"] == BAD_BACKEND


@pytest.mark.slow
@pytest.mark.xdist_group("keras_torch_bench")
def test_a_failing_compile_is_a_failure_not_a_missing_row(section):
    result, _ = section
    failures = {f["case"]: f["error"] for f in result["failures"]}
    for model in MODELS:
        for task in ("train", "infer"):
            for case in ("torch", "keras_torch"):
                error = failures[f"{model}/cpu/default/{task}/{case}/compiled"]
                assert BAD_BACKEND in error
    # XLA: compiled for the video-level model, refused (with the reason) for the LSTM one
    compiled = {r["name"] for r in result["rows"] if r["mode"] == "compiled"}
    assert compiled == {
        "logistic/cpu/default/train/keras_tf/compiled",
        "logistic/cpu/default/infer/keras_tf/compiled",
    }
    assert "XLA is off" in failures["bilstm/cpu/default/train/keras_tf/compiled"]
    assert len(failures) == 2 * 2 * 2 + 2


@pytest.mark.slow
@pytest.mark.xdist_group("keras_torch_bench")
def test_the_profile_names_the_top_ops_of_both(tmp_path, monkeypatch):
    from benchmarks import keras_torch

    monkeypatch.setenv("YT8M_RESULTS_DIR", str(tmp_path))
    facts = keras_torch.in_backend_process(
        "torch", keras_torch.profile_model, "logistic", steps=2, videos=32
    )
    text = (tmp_path / "bench" / "keras_torch_profile_logistic.txt").read_text()
    assert "== PyTorch:" in text and "== Keras / torch:" in text and "Self CPU" in text
    for case in ("torch", "keras_torch"):
        assert facts[case]["op_calls_per_step"] > 0 and facts[case]["top_ops"]


# ------------------------------------------------------------------ no child processes


def _row(model, case, samples, task="train", mode="eager"):
    name = f"{model}/cpu/default/{task}/{case}/{mode}"
    row = bm.Timing(name, samples).to_dict()
    row.update(model=model, size="default", task=task, mode=mode, case=case, steps=1)
    row["step_s"] = bm.summarize(samples)
    return row


def test_add_ratios_pairs_within_the_torch_process_only():
    from benchmarks import keras_torch

    result = bm.new_result("keras_torch", mode="tiny")
    result["rows"] = [
        _row("fc", "torch", [1.0, 2.0, 4.0]),
        _row("fc", "keras_torch", [3.0, 2.0, 8.0]),  # per round 3, 1, 2
        _row("fc", "keras_tf", [1.0, 1.0, 5.0]),
    ]
    keras_torch.add_ratios(result)
    paired = result["ratios"]["fc/cpu/default/train/eager/keras_torch_over_torch"]
    across = result["ratios"]["fc/cpu/default/train/eager/keras_torch_over_keras_tf"]
    assert paired["paired"] and paired["median"] == 2.0
    assert not across["paired"] and across["median"] == 3.0
    table = keras_torch.summary_table(result)
    assert "| fc | default | train | eager | 2,000 | 3,000 | 1,000 | 2 | 3 |" in table


def test_a_case_without_keras_torch_has_no_ratio():
    from benchmarks import keras_torch

    result = bm.new_result("keras_torch", mode="tiny")
    result["rows"] = [_row("fc", "torch", [1.0]), _row("fc", "keras_tf", [2.0])]
    keras_torch.add_ratios(result)
    assert result["ratios"] == {}


def test_real_size_trains_the_video_models_at_batch_256():
    from benchmarks import keras_torch

    groups = keras_torch.settings_of("full", ("logistic", "bilstm"), True, "inductor")
    real = [(g["model"], g["task"], g["batch"]) for g in groups if g["size"] == "real"]
    assert real == [("logistic", "train", 256)]
    assert {g["batch"] for g in groups if g["size"] == "default"} == {16, 256}
    assert all(g["modes"] == ("eager", "compiled") for g in groups)
    assert not [
        g for g in keras_torch.settings_of("tiny", ("fc",), False, "x") if g["size"] == "real"
    ]


def test_the_runner_knows_the_section_and_its_profile_option():
    from benchmarks import keras_torch, run

    args = run.parse_args(["--only", "keras_torch", "--models", "fc", "--profile-model", "bilstm"])
    assert args.sections == ["keras_torch"] and "keras_torch" in run.SECTIONS
    options = run.section_options(keras_torch.run, args)
    assert options == {"progress": True, "models": ("fc",), "profile_models": ("bilstm",)}
    assert run.parse_args(["--profile-model", "none"]).profile_model == ()
    with pytest.raises(SystemExit):
        run.parse_args(["--profile-model", "nonsense"])

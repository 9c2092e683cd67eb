"""yt8m_lib.runs.tables: run records of the results layout as the tables notebooks show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import sample_run_record

from yt8m_lib.evaluation.metrics import mean_ap
from yt8m_lib.evaluation.predictions import write_predictions
from yt8m_lib.runs import tables
from yt8m_lib.runs.run_record import write_run_record


def write_run(results, record, name, *, profile="smoke", tag="synthetic-smoke"):
    """``record`` where ``experiments`` keeps a run: runs/<profile>/<tag>/<framework>/<name>."""
    run_dir = results / "runs" / profile / tag / record["framework"] / name
    write_run_record(run_dir, record)
    return run_dir


@pytest.fixture
def two_runs(tmp_path):
    """fc trained by PyTorch (seed 0, validate GAP 0.5) and by Keras (seed 1, GAP 0.7)."""
    write_run(tmp_path, sample_run_record("torch", seed=0), "fc-raw-seed0")
    write_run(tmp_path, sample_run_record("keras", seed=1, gap=0.7), "fc-raw-seed1")
    return tmp_path


def test_runs_frame_gives_one_row_per_run(two_runs):
    records = tables.load_records(two_runs)
    frame = tables.runs_frame(records).sort_values("framework")
    assert len(frame) == 2
    assert list(frame["framework"]) == ["keras", "torch"]
    assert list(frame.columns[: len(tables.ID_COLUMNS)]) == list(tables.ID_COLUMNS)
    assert list(frame["gap"]) == pytest.approx([0.6, 0.4])  # the test split by default
    assert frame["map"].isna().all()  # stored as null (it was NaN)
    validate = tables.runs_frame(records, split="validate").sort_values("framework")
    assert list(validate["gap"]) == pytest.approx([0.7, 0.5])
    assert "genre_confusion" not in frame and "genres" not in frame and "data" not in frame
    assert list(frame["train_examples_per_s"]) == [1000.0, 1000.0]
    assert list(frame["hw_rss_mb_peak"]) == [300.0, 300.0]
    assert list(frame["parameters"]) == [1234, 1234]
    assert list(frame["epochs_trained"]) == [3, 3]
    assert list(frame["profile"]) == ["smoke", "smoke"]
    # the comparison's columns: Keras records from before the torch backend ran on TensorFlow
    assert frame["keras_backend"].iloc[0] == "tensorflow" and pd.isna(
        frame["keras_backend"].iloc[1]
    )
    assert list(frame["engine"]) == ["Keras / TensorFlow", "PyTorch"]
    assert frame["run_dir"].str.endswith("fc-raw-seed1").tolist() == [True, False]


def test_load_records_filters_and_leaves_out_autoencoders(two_runs):
    write_run(two_runs, sample_run_record("torch", model="autoencoder"), "autoencoder-video-seed0")
    write_run(
        two_runs, sample_run_record("torch", model="bilstm"), "bilstm-raw-seed0", profile="default"
    )
    assert len(tables.load_records(two_runs)) == 3
    assert len(tables.load_records(two_runs, profile="smoke")) == 2
    assert [r["framework"] for r in tables.load_records(two_runs, framework="keras")] == ["keras"]
    assert [r["seed"] for r in tables.load_records(two_runs, seeds=[0], profile="smoke")] == [0]
    assert [r["model"] for r in tables.load_records(two_runs, models=["bilstm"])] == ["bilstm"]
    assert tables.load_records(two_runs, features="autoencoder") == []
    assert tables.load_records(two_runs, tag="yt8m_real") == []


def test_tuning_and_learning_curve_runs_are_not_chapter_runs(two_runs):
    """The tuning protocol's runs (-lr...) and the learning curves' (-shards...) sit beside
    the chapters' runs; a chapter table must not count them as more seeds."""
    write_run(two_runs, sample_run_record("torch", seed=0), "fc-raw-seed0-lr0.003")
    write_run(two_runs, sample_run_record("torch", seed=0), "fc-raw-seed0-shards10")
    write_run(two_runs, sample_run_record("torch", model="gated_moe"), "gated_moe-raw-seed0")
    names = sorted(Path(r["run_dir"]).name for r in tables.load_records(two_runs))
    assert names == ["fc-raw-seed0", "fc-raw-seed1", "gated_moe-raw-seed0"]


def test_an_empty_results_folder_is_an_empty_table(tmp_path):
    frame = tables.runs_frame(tables.load_records(tmp_path))
    assert frame.empty and "gap" not in frame and "framework" in frame


def test_a_broken_record_is_named_in_a_warning_and_the_others_kept(two_runs):
    broken = two_runs / "runs" / "smoke" / "synthetic-smoke" / "torch" / "bad-raw-seed0"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{")
    with pytest.warns(UserWarning, match="bad-raw-seed0"):
        records = tables.load_records(two_runs)
    assert len(records) == 2


def test_history_frame_is_one_row_per_run_and_epoch(two_runs):
    history = tables.history_frame(tables.load_records(two_runs))
    assert len(history) == 6 and set(history["epoch"]) == {0, 1, 2}
    assert {"framework", "model", "seed", "train_loss", "val_gap"} <= set(history.columns)
    keras = history[history["framework"] == "keras"].sort_values("epoch")
    assert list(keras["val_gap"]) == pytest.approx([0.0, 0.35, 0.7])


def test_hardware_frame_is_one_row_per_sample(two_runs):
    samples = tables.hardware_frame(tables.load_records(two_runs))
    assert len(samples) == 2 and list(samples["rss_mb"]) == [290.0, 290.0]
    assert {"framework", "model", "seed", "t_s"} <= set(samples.columns)


def test_per_class_ap_from_a_predictions_file_averages_to_the_official_map(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.random((60, 30))
    labels = (rng.random((60, 30)) < 0.1).astype(np.float32)
    ids = [f"v{i}" for i in range(60)]
    path = write_predictions(tmp_path / "p.csv", ids, scores, top_k=20)
    ap = tables.per_class_ap(path, labels, ids)
    assert np.isnan(ap[labels.sum(0) == 0]).all()
    assert np.nanmean(ap) == pytest.approx(mean_ap(scores, labels, top_k=20), abs=1e-5)


def test_scaling_frame_gives_speed_up_per_framework_and_model():
    def record(framework, world, rate):
        return {
            "framework": framework,
            "model": "fc",
            "distributed": {"world_size": world},
            "timings": {"train_examples_per_s": rate},
            "history": [{"val_gap": 0.5}],
        }

    frame = tables.scaling_frame(
        [
            record("torch", 1, 100.0),
            record("torch", 2, 150.0),
            record("keras", 1, 80.0),
            record("keras", 2, 40.0),
        ]
    )
    assert frame["speed-up"].tolist() == pytest.approx([1.0, 1.5, 1.0, 0.5])
    assert frame["parallel efficiency"].tolist() == pytest.approx([1.0, 0.75, 1.0, 0.25])


def test_the_summed_genre_confusion_says_how_many_runs_it_sums(two_runs):
    records = tables.load_records(two_runs)
    for r in records:
        r["evaluations"]["test"]["genre_confusion"] = [[2, 1], [0, 3]]
        r["evaluations"]["test"]["genres"] = ["A", "B"]
    summed = tables.genre_confusion_sum(records)
    assert summed.attrs["runs"] == 2 and summed.loc["A", "A"] == 4


def test_gap_intervals_read_the_predictions_files_and_pair_the_models(tmp_path):
    """Two models x two seeds scored on one test shard: the interval of each model holds its
    mean GAP (the records' own numbers), and the better model's difference excludes 0."""
    from conftest import random_video_examples

    from yt8m_lib.data.records import write_shard
    from yt8m_lib.evaluation.metrics import gap

    examples = random_video_examples(80, num_classes=30, seed=4)
    shard = tmp_path / "test0000.tfrecord"
    write_shard(shard, examples)
    labels = np.zeros((80, 30))
    for row, ex in enumerate(examples):
        labels[row, ex.labels] = 1
    ids = [ex.id for ex in examples]
    rng = np.random.default_rng(0)
    records, expected = [], {}
    for model, signal in (("fc", 1.0), ("logistic", 0.2)):
        for seed in (0, 1):
            scores = rng.random((80, 30)) * 0.5 + signal * labels * rng.random((80, 30))
            path = write_predictions(tmp_path / f"{model}{seed}.csv", ids, scores, top_k=20)
            record = sample_run_record(model=model, seed=seed)
            record["data"]["num_classes"] = 30
            record["evaluations"]["test"].update(data=[str(shard)], predictions=str(path))
            records.append({**record, "run_dir": f"{model}-{seed}"})
            expected.setdefault(model, []).append(gap(scores, labels))
    per_model, differences = tables.gap_intervals(records, pairs=[("fc", "logistic")], n_boot=200)
    for row in per_model.itertuples():
        assert row.seeds == 2
        assert row.gap == pytest.approx(np.mean(expected[row.model]), abs=1e-5)
        assert row.ci_low < row.gap < row.ci_high
    (row,) = differences.itertuples()
    assert row.difference == pytest.approx(
        np.mean(expected["fc"]) - np.mean(expected["logistic"]), abs=1e-5
    )
    assert row.excludes_zero and row.ci_low > 0


def test_gap_intervals_refuse_runs_scored_on_other_files(tmp_path):
    a, b = sample_run_record(seed=0), sample_run_record(seed=1)
    a["evaluations"]["test"]["data"], b["evaluations"]["test"]["data"] = ["x"], ["y"]
    with pytest.raises(ValueError, match="same test files"):
        tables.gap_intervals([a, b])


def test_keras_on_torch_runs_are_a_third_column_read_only_when_asked(two_runs):
    for seed, gap in ((0, 0.6), (1, 0.8)):
        record = sample_run_record("keras", seed=seed, gap=gap)
        record["keras_backend"] = "torch"
        write_run_record(
            two_runs / f"runs/smoke/synthetic-smoke/keras-torch/fc-raw-seed{seed}", record
        )
    assert {r["seed"] for r in tables.load_records(two_runs)} == {0, 1}  # the two frameworks
    frame = tables.runs_frame(tables.load_records(two_runs, keras_torch=True))
    engines = sorted(frame.engine)
    assert engines == ["Keras / TensorFlow", "Keras / torch", "Keras / torch", "PyTorch"]


def test_engine_ratios_divide_the_means_over_seeds():
    frame = pd.DataFrame(
        {
            "model": ["fc"] * 5 + ["logistic"],
            "engine": ["Keras / torch"] * 2 + ["PyTorch"] * 2 + ["Keras / TensorFlow"] * 2,
            "speed": [10.0, 20.0, 40.0, 20.0, 5.0, 7.0],
        }
    )
    ratios = tables.engine_ratios(frame, "speed")
    assert ratios.loc["fc", "Keras / torch / PyTorch"] == pytest.approx(15 / 30)
    assert ratios.loc["fc", "Keras / torch / Keras / TensorFlow"] == pytest.approx(15 / 5)
    assert np.isnan(ratios.loc["logistic", "Keras / torch / PyTorch"])  # no Keras/torch run


def test_a_run_that_shared_the_machine_is_named_in_the_speed_note():
    """Other processes' CPU use is the machine's less the run's own: on 2 CPUs a run at 100 %
    (one core) while the machine is 90 % busy had others using 40 % of it."""
    quiet = {"system_cpu_percent_mean": 52.0, "cpu_percent_mean": 100.0, "cpu_count": 2}
    busy = {"system_cpu_percent_mean": 90.0, "cpu_percent_mean": 100.0, "cpu_count": 2}
    assert tables.background_cpu_share(quiet) == pytest.approx(0.02)
    assert tables.background_cpu_share(busy) == pytest.approx(0.40)
    assert np.isnan(tables.background_cpu_share({}))
    records = [
        {"framework": "torch", "model": "fc", "seed": seed, "hardware": {"summary": summary}}
        for seed, summary in enumerate((quiet, busy, quiet))
    ]
    frame = tables.runs_frame(records)
    assert frame.background_cpu_share.round(2).tolist() == [0.02, 0.40, 0.02]
    assert tables.shared_machine_note(frame) == (
        "1 of 3 runs shared the CPUs with other work (others used up to 40% of them): "
        "their speeds are lower bounds"
    )
    assert tables.shared_machine_note(frame.iloc[[0, 2]]) == ""

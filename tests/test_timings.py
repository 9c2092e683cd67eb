"""The timings of a run record mean the same in both trainers (yt8m_lib.training's
TIMING_DEFINITIONS): same keys, and step times that fit inside the training loop's wall time.
No timed assertions: only relations that hold on any machine, however slow or loaded."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from yt8m_lib import commands, training  # noqa: E402

pytestmark = pytest.mark.xdist_group("timings")
BATCH = 16  # 64 training videos: 4 steps per epoch


@pytest.fixture(scope="module")
def records(data, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("runs")
    found = {}
    for framework in ("keras", "torch"):  # Keras first: TensorBoard then uses the real TF
        trainer = commands.load_framework(framework)
        found[framework] = trainer.train(
            model="fc",
            train_paths=sorted((data / "video").glob("train*.tfrecord")),
            val_paths=sorted((data / "video").glob("validate*.tfrecord")),
            out_dir=out / framework,
            profile="smoke",
            seed=0,
            num_classes=30,
            device="cpu",
            progress=False,
            epochs=2,
            batch_size=BATCH,
        )
    return found


def test_both_trainers_record_the_same_timing_keys(records):
    keras_keys, torch_keys = (set(records[f]["timings"]) for f in ("keras", "torch"))
    assert keras_keys == torch_keys
    defined = set(training.TIMING_DEFINITIONS) | {"inference_batch_size"}
    assert keras_keys <= defined, keras_keys - defined
    for record in records.values():
        assert record["timing_definitions"] == training.TIMING_DEFINITIONS


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_step_times_fit_inside_the_training_loop(records, framework):
    t = records[framework]["timings"]
    assert t["steps"] == 2 * 64 // BATCH
    # steps and the waits between them are disjoint parts of the loop's wall time
    assert 0 < t["step_s_total"] + t["data_wait_s"] <= t["total_train_s"]
    mean_step = t["total_train_s"] / t["steps"]
    # at least half of the steps are >= the median, so median <= 2 x mean step time
    assert t["median_step_s"] <= 2 * mean_step
    assert t["step_s_p10"] <= t["median_step_s"] <= t["step_s_p90"]
    assert 0 <= t["data_wait_fraction"] <= 1
    assert 0 < t["warmup_s"] <= t["total_train_s"]
    # throughput leaves the warm-up batch and its wall time out
    steady = (2 * 64 - BATCH) / (t["total_train_s"] - t["warmup_s"])
    assert t["train_examples_per_s"] == pytest.approx(steady)
    assert t["inference_batch_latency_ms"] > 0 and t["inference_videos_per_s"] > 0

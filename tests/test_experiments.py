"""yt8m_lib.experiments: where runs live and which runs are reused.

The trainers are replaced by a fake that writes a run record, so these tests check the
orchestration alone and take milliseconds.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from conftest import empty_dataset

from yt8m_lib import experiments, paths
from yt8m_lib.runs import tables


@pytest.fixture
def fake_trainer(monkeypatch):
    """Records what it was asked to do; writes a run record like the real trainers."""
    calls = []

    def run(spec, train_paths, val_paths, out_dir, **options):
        calls.append(("train", spec.model, spec.seed))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        record = {
            "framework": "torch",
            "model": spec.model,
            "features": spec.features,
            "profile": spec.profile,
            "seed": spec.seed,
            "config": {
                "train": {
                    "epochs": spec.train_config.epochs,
                    "batch_size": spec.train_config.batch_size,
                }
            },
            "history": [{"epoch": 1, "train_loss": 0.5, "val_gap": 0.1}],
            "epochs_trained": spec.train_config.epochs,
            "stopped_early": None,
            "hardware": {"summary": {"rss_mb_peak": 1.0}},
            "evaluations": {"validate": {"gap": 0.1}},
            "timings": {"total_train_s": 1.0},
            "parameters": 10,
        }
        (out / "run.json").write_text(json.dumps(record))
        return record

    def evaluate(run_dir, data_paths, *, split_name="test", **kwargs):
        calls.append(("evaluate", run_dir, split_name))
        path = Path(run_dir) / "run.json"
        record = json.loads(path.read_text())
        seed = record["seed"]
        record["evaluations"][split_name] = {
            "gap": 0.2 + 0.1 * seed,
            "hit_at_1": 0.5,
            "perr": 0.4,
            "map": 0.3,
            "genre_accuracy": 0.6,
            "genre_confusion": [[2, 1], [0, 3]],
            "genres": ["A", "B"],
        }
        path.write_text(json.dumps(record))
        return record["evaluations"][split_name]

    fake = types.SimpleNamespace(run=run, evaluate=evaluate)
    monkeypatch.setattr(experiments, "_trainer", lambda framework, keras_backend=None: fake)
    return calls


def test_run_suite_trains_and_tests_each_model_and_seed_then_reuses_them(tmp_path, fake_trainer):
    data = empty_dataset(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    records = experiments.run_suite("torch", ["logistic", "fc"], [0, 1], **kwargs)
    assert [(r["model"], r["seed"]) for r in records] == [
        ("logistic", 0),
        ("logistic", 1),
        ("fc", 0),
        ("fc", 1),
    ]
    assert sum(c[0] == "train" for c in fake_trainer) == 4
    assert sum(c[0] == "evaluate" for c in fake_trainer) == 4
    run_dir = tmp_path / "results/runs/smoke/synthetic-smoke/torch/fc-raw-seed1"
    assert records[-1]["run_dir"] == str(run_dir) and (run_dir / "run.json").is_file()

    fake_trainer.clear()
    again = experiments.run_suite("torch", ["logistic", "fc"], [0, 1], **kwargs)
    assert fake_trainer == []  # every run had a test evaluation: nothing retrained
    assert [r["evaluations"]["test"]["gap"] for r in again] == [
        r["evaluations"]["test"]["gap"] for r in records
    ]


def test_a_run_trained_with_other_settings_or_without_a_test_score_is_redone(
    tmp_path, fake_trainer
):
    data = empty_dataset(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    experiments.run_one("torch", "fc", 0, **kwargs)
    fake_trainer.clear()
    experiments.run_one("torch", "fc", 0, epochs=7, **kwargs)  # other epochs: retrain
    assert [c[0] for c in fake_trainer] == ["train", "evaluate"]

    run_dir = tmp_path / "results/runs/smoke/synthetic-smoke/torch/fc-raw-seed0"
    record = json.loads((run_dir / "run.json").read_text())
    del record["evaluations"]["test"]
    (run_dir / "run.json").write_text(json.dumps(record))
    fake_trainer.clear()
    experiments.run_one("torch", "fc", 0, epochs=7, **kwargs)  # trained, never tested: test only
    assert [c[0] for c in fake_trainer] == ["evaluate"]


def test_an_interrupted_run_is_resumed_not_reused(tmp_path, fake_trainer):
    """After an interruption the record already holds validation results of the epochs done;
    only a finished record (every epoch, or stopped early, and its final write) is reused."""
    data = empty_dataset(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    experiments.run_one("torch", "fc", 0, **kwargs)
    run_dir = tmp_path / "results/runs/smoke/synthetic-smoke/torch/fc-raw-seed0"
    record = json.loads((run_dir / "run.json").read_text())
    record.update(epochs_trained=1, hardware={})  # as after epoch 1 of 2
    (run_dir / "run.json").write_text(json.dumps(record))
    fake_trainer.clear()
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert [c[0] for c in fake_trainer] == ["train", "evaluate"]
    assert experiments.finished({**record, "stopped_early": 1, "hardware": {"x": 1}})


def test_a_finished_tuning_run_with_the_same_key_is_adopted_and_others_left_alone(
    tmp_path, fake_trainer
):
    """Tuning's run at the chosen rate is the chapter's seed run: copied, not retrained, and
    scored on test once; the tuning runs of the other rates stay as they are."""
    data = empty_dataset(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    for rate in (0.001, 0.01):
        experiments.run_one(
            "torch",
            "fc",
            0,
            learning_rate=rate,
            run_label=f"-lr{rate:g}",
            score_test=False,
            **kwargs,
        )
    assert [c[0] for c in fake_trainer] == ["train", "train"]
    fake_trainer.clear()
    record = experiments.run_one("torch", "fc", 0, learning_rate=0.01, **kwargs)
    assert [c[0] for c in fake_trainer] == ["evaluate"]  # adopted: scored on test only
    runs = tmp_path / "results/runs/smoke/synthetic-smoke/torch"
    assert record["run_dir"] == str(runs / "fc-raw-seed0")
    assert sorted(p.name for p in runs.iterdir()) == [
        "fc-raw-seed0",
        "fc-raw-seed0-lr0.001",
        "fc-raw-seed0-lr0.01",
    ]
    assert (
        "test"
        not in json.loads((runs / "fc-raw-seed0-lr0.01" / "run.json").read_text())["evaluations"]
    )


def test_missing_splits_are_reported_before_anything_trains(tmp_path, fake_trainer):
    data = empty_dataset(tmp_path / "data", level="video")
    with pytest.raises(FileNotFoundError, match="frame-level shards"):
        experiments.run_one(
            "torch",
            "bilstm",
            0,
            profile="smoke",
            data_dir=data,
            results_dir=tmp_path / "r",
            verbose=False,
        )
    assert fake_trainer == []


def test_the_runs_of_a_suite_are_the_rows_of_the_tables(tmp_path, fake_trainer):
    data = empty_dataset(tmp_path / "data")
    results = tmp_path / "results"
    experiments.run_suite(
        "torch",
        ["fc"],
        [0, 1, 2],
        profile="smoke",
        data_dir=data,
        results_dir=results,
        verbose=False,
    )
    records = tables.load_records(results, profile="smoke")
    assert len(records) == 3
    runs = tables.runs_frame(records)
    table = tables.mean_std_table(runs, ["gap"])
    assert table.loc[("torch", "fc"), ("gap", "mean")] == pytest.approx(0.3)
    assert table.loc[("torch", "fc"), ("gap", "std")] == pytest.approx(0.1)  # ddof=1
    assert table.loc[("torch", "fc"), "seeds"].item() == 3
    shown = tables.format_mean_std(table, ["gap"])
    assert shown.loc[("torch", "fc"), "GAP@20"] == "0.300 ± 0.100"
    confusion = tables.genre_confusion_sum(records)
    assert confusion.values.tolist() == [[6, 3], [0, 9]]
    assert list(tables.history_frame(records).epoch) == [1, 1, 1]


def test_regenerated_data_or_a_changed_profile_is_never_mistaken_for_the_old(
    tmp_path, fake_trainer
):
    data = empty_dataset(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    first = experiments.run_one("torch", "fc", 0, **kwargs)
    stale_checkpoint = Path(first["run_dir"]) / "last.pt"
    stale_checkpoint.write_bytes(b"trained on the old data")
    fake_trainer.clear()

    (data / "video" / "train0000.tfrecord").write_bytes(b"regenerated")  # other bytes, size
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert [c[0] for c in fake_trainer] == ["train", "evaluate"]
    assert not stale_checkpoint.exists()  # the old run's checkpoints are never resumed

    fake_trainer.clear()
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert fake_trainer == []  # same data, same settings: reused


def test_changed_training_code_is_never_mistaken_for_the_old(tmp_path, fake_trainer, monkeypatch):
    """A run is reused only under the same code (``code_files`` of its engine): a changed
    model or loss retrains; files outside them (notebooks, plots) do not count, nor does
    the code of another engine."""
    package = tmp_path / "package"
    for folder in ("torch", "keras"):
        (package / folder).mkdir(parents=True)
    (package / "torch" / "models.py").write_text("version = 1\n")
    (package / "keras" / "torch_train.py").write_text("version = 1\n")
    (package / "plots.py").write_text("style = 1\n")
    real = experiments.code_fingerprint
    monkeypatch.setattr(experiments, "code_fingerprint", lambda engine: real(engine, package))
    data = empty_dataset(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    experiments.run_one("torch", "fc", 0, **kwargs)
    fake_trainer.clear()

    (package / "plots.py").write_text("style = 2\n")  # not training code: reused
    (package / "keras" / "torch_train.py").write_text("version = 2\n")  # Keras on torch's
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert fake_trainer == []

    (package / "torch" / "models.py").write_text("version = 2\n")  # a changed model
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert [c[0] for c in fake_trainer] == ["train", "evaluate"]


def test_each_engine_has_its_own_code_fingerprint():
    fingerprints = {e: experiments.code_fingerprint(e) for e in experiments.ENGINE_CODE_FILES}
    assert len(set(fingerprints.values())) == 3
    with pytest.raises(ValueError, match="unknown engine"):
        experiments.code_files("jax")


IMPORTED_PACKAGE_FILES = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m.__file__ for name, m in sys.modules.items()
                        if name.startswith("yt8m_lib") and getattr(m, "__file__", None))))
"""


@pytest.mark.parametrize(
    "engine, trainer, backend",
    [
        ("torch", "yt8m_lib.torch.train", None),
        ("keras", "yt8m_lib.keras.train", "tensorflow"),
        ("keras-torch", "yt8m_lib.keras.torch_train", "torch"),
    ],
)
def test_the_code_fingerprint_of_an_engine_covers_every_package_file_its_trainer_loads(
    engine, trainer, backend
):
    """Whatever an engine's trainer imports (and so may change what a run learns) is hashed
    into that engine's fingerprint, or is one of the named files that cannot change a run."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_PACKAGE_FILES, trainer],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    package = paths.PACKAGE_DIR
    loaded = {
        Path(f).relative_to(package).as_posix() for f in json.loads(result.stdout.splitlines()[-1])
    }
    assert f"{trainer.removeprefix('yt8m_lib.').replace('.', '/')}.py" in loaded
    listed = experiments.code_files(engine) + experiments.NOT_TRAINING_CODE
    for pattern in listed:  # no pattern left behind by a moved file
        assert list(package.glob(pattern)), f"{pattern} matches nothing in {package}"

    def matched(patterns) -> set[str]:
        return {p.relative_to(package).as_posix() for pat in patterns for p in package.glob(pat)}

    covered = matched(listed)
    assert loaded <= covered, f"not in the {engine} fingerprint: {sorted(loaded - covered)}"
    hashed = matched(experiments.code_files(engine))
    assert {"evaluation/metrics.py", "data/batches.py", "training.py"} <= hashed


def test_a_changed_profile_value_changes_the_run_key_without_config_in_the_code_hash():
    """config.py is not hashed as code: the key holds every resolved setting instead, so a
    changed learning rate (or any profile value) still makes a new run."""
    import dataclasses

    from yt8m_lib.training import RunSpec

    for engine in experiments.ENGINE_CODE_FILES:
        assert not any("config" in pattern for pattern in experiments.code_files(engine))
    spec = RunSpec.create("fc", profile="smoke", seed=0, num_classes=5)
    other = dataclasses.replace(
        spec, train_config=dataclasses.replace(spec.train_config, learning_rate=0.5)
    )
    data = paths.PACKAGE_DIR  # any folder: the data part is the same for both
    key, other_key = (experiments.run_key(s, data, engine="torch") for s in (spec, other))
    assert key["config"] != other_key["config"]


def test_the_autoencoder_settings_key_the_autoencoder_run_and_no_other():
    """Training the autoencoder longer (or wider) makes a new autoencoder run, and so new runs
    of the classifiers on its codes (they hold its key), but leaves every raw-feature run."""
    import dataclasses

    from yt8m_lib.training import RunSpec

    data = paths.PACKAGE_DIR
    for model, level in (("fc", None), ("autoencoder", "video")):
        spec = RunSpec.create(model, level=level, profile="smoke", seed=0, num_classes=5)
        longer = dataclasses.replace(
            spec, train_config=dataclasses.replace(spec.train_config, ae_epochs=99)
        )
        wider = dataclasses.replace(
            spec, model_config=dataclasses.replace(spec.model_config, ae_rgb_code=7)
        )
        keys = [experiments.run_key(s, data, engine="torch") for s in (spec, longer, wider)]
        if model == "autoencoder":
            assert keys[0] != keys[2], "the code size must key the autoencoder run"
            assert keys[0]["config"]["train"]["ae_epochs"] == spec.train_config.ae_epochs
        else:
            assert keys[0] == keys[1] == keys[2], "autoencoder settings retrain a raw-feature run"
            assert not any(name.startswith("ae_") for name in keys[0]["config"]["model"])


def test_a_real_data_split_manifest_is_part_of_the_data_fingerprint(tmp_path):
    """Re-split real data keeps its link names (train0000, ...) and often their sizes: the
    split manifest (its shards' md5s per split) must still tell the two apart."""
    data = empty_dataset(tmp_path / "data")
    plain = experiments.data_fingerprint(data, "video")
    (data / "split.json").write_text('{"id": "a"}')
    first = experiments.data_fingerprint(data, "video")
    (data / "split.json").write_text('{"id": "b"}')
    assert len({plain, first, experiments.data_fingerprint(data, "video")}) == 3

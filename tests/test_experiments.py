"""yt8m_lib.experiments: where runs live, which runs are reused, and the tables notebooks show.

The trainers are replaced by a fake that writes a run record, so these tests check the
orchestration alone and take milliseconds.
"""

from __future__ import annotations

import json
import os
import types

import numpy as np
import pytest

from yt8m_lib import experiments
from yt8m_lib.evaluation.metrics import mean_ap
from yt8m_lib.evaluation.predictions import write_predictions


def make_data(folder, splits=("train", "validate", "test"), level="video", shards=2,
              num_classes=5, manifest=True):
    """A data folder in the synthetic layout with empty shard files (the fake trainer never
    reads them)."""
    for split in splits:
        for i in range(shards):
            path = folder / level / f"{split}{i:04d}.tfrecord"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    if manifest:
        (folder / "manifest.json").write_text(json.dumps({"profile": "smoke",
                                                          "num_classes": num_classes}))
    return folder


@pytest.fixture
def fake_trainer(monkeypatch):
    """Records what it was asked to do; writes a run record like the real trainers."""
    calls = []

    def train(*, model, out_dir, profile, seed, epochs, batch_size, **kwargs):
        calls.append(("train", model, seed))
        out = experiments.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        record = {"framework": "torch", "model": model, "features": kwargs["features"],
                  "profile": profile, "seed": seed,
                  "config": {"train": {"epochs": epochs, "batch_size": batch_size}},
                  "history": [{"epoch": 1, "train_loss": 0.5, "val_gap": 0.1}],
                  "evaluations": {"validate": {"gap": 0.1}}, "timings": {"total_train_s": 1.0},
                  "parameters": 10}
        (out / "run.json").write_text(json.dumps(record))
        return record

    def evaluate(run_dir, data_paths, *, split_name="test", **kwargs):
        calls.append(("evaluate", run_dir, split_name))
        path = experiments.Path(run_dir) / "run.json"
        record = json.loads(path.read_text())
        seed = record["seed"]
        record["evaluations"][split_name] = {"gap": 0.2 + 0.1 * seed, "hit_at_1": 0.5,
                                             "perr": 0.4, "map": 0.3, "genre_accuracy": 0.6,
                                             "genre_confusion": [[2, 1], [0, 3]],
                                             "genres": ["A", "B"]}
        path.write_text(json.dumps(record))
        return record["evaluations"][split_name]

    fake = types.SimpleNamespace(train=train, evaluate=evaluate)
    monkeypatch.setattr(experiments, "_trainer", lambda framework: fake)
    return calls


def test_split_files_reads_the_synthetic_layout(tmp_path):
    make_data(tmp_path, shards=3)
    files = experiments.split_files(tmp_path, "video")
    assert sorted(files) == ["test", "train", "validate"]
    assert [f.name for f in files["train"]] == ["train0000.tfrecord", "train0001.tfrecord",
                                               "train0002.tfrecord"]
    assert experiments.split_files(tmp_path, "frame") == {}


def test_a_single_split_is_divided_by_file_so_no_video_is_in_two_splits(tmp_path):
    folder = tmp_path / "video_validate"
    folder.mkdir()
    for i in range(20):
        (folder / f"validate{i:04d}.tfrecord").write_bytes(b"")
    files = experiments.split_files(tmp_path, "video")
    assert {k: len(v) for k, v in files.items()} == {"train": 16, "validate": 2, "test": 2}
    every = [f for split in files.values() for f in split]
    assert len(set(every)) == 20


def test_data_tag_names_synthetic_and_real_folders(tmp_path):
    assert experiments.data_tag(make_data(tmp_path / "a")) == "synthetic-smoke"
    assert experiments.data_tag(make_data(tmp_path / "yt8m_real", manifest=False)) == "yt8m_real"


def test_run_suite_trains_and_tests_each_model_and_seed_then_reuses_them(tmp_path, fake_trainer):
    data = make_data(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    records = experiments.run_suite("torch", ["logistic", "fc"], [0, 1], **kwargs)
    assert [(r["model"], r["seed"]) for r in records] == [("logistic", 0), ("logistic", 1),
                                                          ("fc", 0), ("fc", 1)]
    assert sum(c[0] == "train" for c in fake_trainer) == 4
    assert sum(c[0] == "evaluate" for c in fake_trainer) == 4
    run_dir = tmp_path / "results/runs/smoke/synthetic-smoke/torch/fc-raw-seed1"
    assert records[-1]["run_dir"] == str(run_dir) and (run_dir / "run.json").is_file()

    fake_trainer.clear()
    again = experiments.run_suite("torch", ["logistic", "fc"], [0, 1], **kwargs)
    assert fake_trainer == []  # every run had a test evaluation: nothing retrained
    assert [r["evaluations"]["test"]["gap"] for r in again] == \
        [r["evaluations"]["test"]["gap"] for r in records]


def test_a_run_trained_with_other_settings_or_without_a_test_score_is_redone(tmp_path, fake_trainer):
    data = make_data(tmp_path / "data")
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


def test_missing_splits_are_reported_before_anything_trains(tmp_path, fake_trainer):
    data = make_data(tmp_path / "data", level="video")
    with pytest.raises(FileNotFoundError, match="frame-level shards"):
        experiments.run_one("torch", "bilstm", 0, profile="smoke", data_dir=data,
                            results_dir=tmp_path / "r", verbose=False)
    assert fake_trainer == []


def test_tables_give_mean_and_std_over_seeds(tmp_path, fake_trainer):
    data = make_data(tmp_path / "data")
    results = tmp_path / "results"
    experiments.run_suite("torch", ["fc"], [0, 1, 2], profile="smoke", data_dir=data,
                          results_dir=results, verbose=False)
    records = experiments.load_records(results, profile="smoke")
    assert len(records) == 3
    runs = experiments.runs_frame(records)
    table = experiments.mean_std_table(runs, ["gap"])
    assert table.loc[("torch", "fc"), ("gap", "mean")] == pytest.approx(0.3)
    assert table.loc[("torch", "fc"), ("gap", "std")] == pytest.approx(0.1)  # ddof=1
    assert table.loc[("torch", "fc"), "seeds"].item() == 3
    shown = experiments.format_mean_std(table, ["gap"])
    assert shown.loc[("torch", "fc"), "GAP@20"] == "0.300 ± 0.100"
    confusion = experiments.genre_confusion_sum(records)
    assert confusion.values.tolist() == [[6, 3], [0, 9]]
    assert list(experiments.history_frame(records).epoch) == [1, 1, 1]


def test_per_class_ap_from_a_predictions_file_averages_to_the_official_map(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.random((60, 30))
    labels = (rng.random((60, 30)) < 0.1).astype(np.float32)
    ids = [f"v{i}" for i in range(60)]
    path = write_predictions(tmp_path / "p.csv", ids, scores, top_k=20)
    ap = experiments.per_class_ap(path, labels, ids)
    assert np.isnan(ap[labels.sum(0) == 0]).all()
    assert np.nanmean(ap) == pytest.approx(mean_ap(scores, labels, top_k=20), abs=1e-5)


# --------------------------------------------------------------------------- multi-process runs

def option(command, name):
    return command[command.index(name) + 1]


@pytest.fixture
def fake_launch(monkeypatch):
    """Stands in for the processes: records each launch's (command, env) list and, like the
    chief of a real run, writes a run record into the ``--out`` folder."""
    launches = []
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # 4 cores, whatever this machine has

    def run(jobs, timeout_s=None):
        launches.append(jobs)
        command = jobs[0][0]
        out = experiments.Path(option(command, "--out"))
        out.mkdir(parents=True, exist_ok=True)
        framework = option(command, "--framework")
        (out / "run.json").write_text(json.dumps({
            "framework": framework, "model": option(command, "--model"),
            "distributed": {"world_size": len(jobs) if framework == "keras" else 2},
            "history": [{"epoch": 1, "val_gap": 0.1}]}))
        return [(0, "")] * len(jobs)

    monkeypatch.setattr(experiments, "_run_processes", run)
    return launches


def test_keras_multiworker_starts_one_trainer_per_worker_with_its_own_tf_config(tmp_path, fake_launch):
    data = make_data(tmp_path / "data")
    record = experiments.run_keras_multiworker("fc", 2, profile="smoke", data_dir=data,
                                               results_dir=tmp_path / "results", epochs=3,
                                               verbose=False)
    run_dir = tmp_path / "results/scaling/smoke/synthetic-smoke/keras-multiworker/fc-world2-seed0"
    assert record["run_dir"] == str(run_dir)
    (jobs,) = fake_launch
    assert len(jobs) == 2
    (command, env0), (command1, env1) = jobs
    assert command == command1  # the same command line; only TF_CONFIG differs
    assert command[1:5] == ["-m", "yt8m_lib", "train", "--framework"]
    assert option(command, "--framework") == "keras" and option(command, "--model") == "fc"
    assert option(command, "--out") == str(run_dir) and option(command, "--epochs") == "3"
    assert option(command, "--profile") == "smoke" and option(command, "--num-classes") == "5"
    assert option(command, "--train-data") == str(data / "video" / "train*.tfrecord")
    assert option(command, "--device") == "cpu"
    assert "--no-resume" not in command
    configs = [json.loads(env["TF_CONFIG"]) for env in (env0, env1)]
    assert [c["task"] for c in configs] == [{"type": "worker", "index": 0},
                                            {"type": "worker", "index": 1}]
    workers = configs[0]["cluster"]["worker"]
    assert configs[1]["cluster"]["worker"] == workers and len(set(workers)) == 2
    assert all(w.startswith("127.0.0.1:") and int(w.split(":")[1]) > 0 for w in workers)
    # 4 cores shared by 2 workers: every thread pool of each process gets 2
    for env in (env0, env1):
        assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "2"
        assert env["TF_NUM_INTEROP_THREADS"] == "2"


def test_one_keras_worker_runs_without_tf_config_and_gets_every_core(tmp_path, fake_launch,
                                                                    monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["elsewhere:1", "elsewhere:2"]}}')
    data = make_data(tmp_path / "data")
    experiments.run_keras_multiworker("fc", 1, profile="smoke", data_dir=data,
                                      results_dir=tmp_path / "results", verbose=False)
    ((job,),) = fake_launch
    command, env = job
    assert "TF_CONFIG" not in env  # a stray cluster spec would make it wait for workers
    assert env["TF_NUM_INTRAOP_THREADS"] == "4"


def test_multiprocess_runs_are_reused_and_forced_runs_start_afresh(tmp_path, fake_launch):
    data = make_data(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    experiments.run_keras_multiworker("fc", 2, **kwargs)
    experiments.run_keras_multiworker("fc", 2, **kwargs)
    assert len(fake_launch) == 1  # the second call found the record
    experiments.run_torch_ddp("fc", 2, **kwargs)
    assert len(fake_launch) == 2  # another framework, another run folder
    experiments.run_keras_multiworker("fc", 2, force=True, **kwargs)
    assert len(fake_launch) == 3 and "--no-resume" in fake_launch[-1][0][0]


def test_torch_ddp_is_one_torchrun_with_the_same_trainer_arguments(tmp_path, fake_launch):
    data = make_data(tmp_path / "data")
    experiments.run_torch_ddp("fc", 2, profile="smoke", data_dir=data,
                              results_dir=tmp_path / "results", verbose=False)
    ((job,),) = fake_launch
    command, env = job
    assert command[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert command[5:10] == ["-m", "yt8m_lib", "train", "--framework", "torch"]
    assert env["OMP_NUM_THREADS"] == "2" and "TF_CONFIG" not in env
    assert option(command, "--out").endswith("/scaling/smoke/synthetic-smoke/torch-ddp/fc-world2-seed0")


def test_a_failing_worker_is_reported_with_its_output(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "_run_processes",
                        lambda jobs, timeout_s=None: [(0, ""), (1, "worker 1 says boom")])
    data = make_data(tmp_path / "data")
    with pytest.raises(RuntimeError, match="(?s)process 1, exit 1.*boom"):
        experiments.run_keras_multiworker("fc", 2, profile="smoke", data_dir=data,
                                          results_dir=tmp_path / "results", verbose=False)


def test_when_one_process_fails_the_others_are_stopped_instead_of_awaited():
    import sys

    env = dict(os.environ)
    start = experiments.time.monotonic()
    results = experiments._run_processes([
        ([sys.executable, "-c", "print('bad input'); raise SystemExit(3)"], env),
        ([sys.executable, "-c", "import time; time.sleep(60)"], env)])
    assert experiments.time.monotonic() - start < 30
    assert results[0] == (3, "bad input\n")
    assert results[1][0] != 0  # killed


def test_scaling_frame_gives_speed_up_per_framework_and_model():
    def record(framework, world, rate):
        return {"framework": framework, "model": "fc", "distributed": {"world_size": world},
                "timings": {"train_examples_per_s": rate}, "history": [{"val_gap": 0.5}]}

    frame = experiments.scaling_frame([record("torch", 1, 100.0), record("torch", 2, 150.0),
                                       record("keras", 1, 80.0), record("keras", 2, 40.0)])
    assert frame["speed-up"].tolist() == pytest.approx([1.0, 1.5, 1.0, 0.5])
    assert frame["parallel efficiency"].tolist() == pytest.approx([1.0, 0.75, 1.0, 0.25])


def test_regenerated_data_or_a_changed_profile_is_never_mistaken_for_the_old(tmp_path,
                                                                             fake_trainer):
    data = make_data(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    first = experiments.run_one("torch", "fc", 0, **kwargs)
    stale_checkpoint = experiments.Path(first["run_dir"]) / "last.pt"
    stale_checkpoint.write_bytes(b"trained on the old data")
    fake_trainer.clear()

    (data / "video" / "train0000.tfrecord").write_bytes(b"regenerated")  # other bytes, size
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert [c[0] for c in fake_trainer] == ["train", "evaluate"]
    assert not stale_checkpoint.exists()  # the old run's checkpoints are never resumed

    fake_trainer.clear()
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert fake_trainer == []  # same data, same settings: reused


def test_changed_training_code_is_never_mistaken_for_the_old(tmp_path, fake_trainer,
                                                           monkeypatch):
    """A run is reused only under the same code (yt8m_lib's CODE_FILES): a changed model or
    loss retrains; files outside CODE_FILES (notebooks, plots) do not count."""
    package = tmp_path / "package"
    (package / "torch").mkdir(parents=True)
    (package / "torch" / "models.py").write_text("version = 1\n")
    (package / "plots.py").write_text("style = 1\n")
    monkeypatch.setattr(experiments, "code_fingerprint",
                        lambda real=experiments.code_fingerprint: real(package))
    data = make_data(tmp_path / "data")
    kwargs = dict(profile="smoke", data_dir=data, results_dir=tmp_path / "results", verbose=False)
    experiments.run_one("torch", "fc", 0, **kwargs)
    fake_trainer.clear()

    (package / "plots.py").write_text("style = 2\n")  # not training code: reused
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert fake_trainer == []

    (package / "torch" / "models.py").write_text("version = 2\n")  # a changed model
    experiments.run_one("torch", "fc", 0, **kwargs)
    assert [c[0] for c in fake_trainer] == ["train", "evaluate"]


def test_the_code_fingerprint_covers_the_trainers_of_both_frameworks():
    from yt8m_lib import paths

    package = paths.REPO_ROOT / "yt8m_lib"
    covered = {p.relative_to(package).as_posix() for pattern in experiments.CODE_FILES
               for p in package.glob(pattern)}
    assert {"torch/models.py", "torch/train.py", "keras/models.py", "keras/train.py",
            "config.py", "evaluation/metrics.py", "data/batches.py"} <= covered  # batches: the input pipeline

"""Run records: defaults, atomic JSON round trip, numpy conversion, tables of many runs."""

import json
import subprocess
import sys

import numpy as np
import pytest

from yt8m_lib.runs import run_record as results
from yt8m_lib.errors import DataError
from yt8m_lib.runs.run_record import (environment_info, git_info, load_histories, load_runs,
                              new_run_record, read_run_record, write_run_record)

CONTRACT_KEYS = {"schema", "run_id", "created", "framework", "framework_version", "model",
                 "features", "profile", "seed", "config", "data", "history", "best_epoch",
                 "evaluations", "timings", "hardware", "parameters", "distributed",
                 "environment", "git"}


def make_record(framework="torch", model="fc", seed=0, gap=0.5):
    history = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": np.float32(0.9 / (e + 1)),
                "val_gap": gap * e / 2, "epoch_seconds": 1.5} for e in range(3)]
    return new_run_record(
        framework=framework, model=model, seed=seed, profile="smoke",
        config={"model": {"num_classes": 10, "fc_hidden": (64, 32)},
                "train": {"batch_size": 32, "learning_rate": 1e-3}},
        data={"train": "data/video/train*.tfrecord", "level": "video", "num_classes": 10},
        history=history, best_epoch=2, parameters=np.int64(1234),
        evaluations={"validate": {"gap": np.float64(gap), "hit_at_1": 0.6, "num_videos": 40},
                     "test": {"gap": gap - 0.1, "map": float("nan"), "num_videos": 50,
                              "genre_confusion": [[1, 0], [0, 1]], "genres": ["a", "b"],
                              "data": "data/video/test*.tfrecord"}},
        timings={"train_examples_per_s": 1000.0, "median_step_s": 0.01},
        hardware={"summary": {"rss_mb_peak": 300.0, "gpu_present": False,
                              "gpu_names": []},
                  "samples": [{"t_s": 0.5, "rss_mb": 290.0}]},
    )


def test_new_record_has_every_contract_key_and_the_environment():
    record = make_record()
    assert CONTRACT_KEYS <= set(record)
    assert record["schema"] == results.SCHEMA
    assert record["framework_version"] == results.package_version("torch")
    assert "torch" in record["run_id"] and "fc" in record["run_id"]
    assert record["distributed"] == {"world_size": 1, "backend": None}
    assert record["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert new_run_record()["run_id"] != new_run_record()["run_id"]


def test_round_trip_converts_numpy_and_writes_strict_json(tmp_path):
    record = make_record()
    path = write_run_record(tmp_path / "run", record)
    assert path == tmp_path / "run" / "run.json"
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary left
    json.loads(path.read_text(), parse_constant=pytest.fail)  # no NaN / Infinity tokens
    back = read_run_record(tmp_path / "run")
    assert back["parameters"] == 1234 and type(back["parameters"]) is int
    assert back["evaluations"]["test"]["map"] is None  # NaN -> null
    assert back["config"]["model"]["fc_hidden"] == [64, 32]
    assert back["history"][1]["val_loss"] == pytest.approx(0.45)
    assert read_run_record(path) == back  # the file path works too
    assert back == json.loads(json.dumps(results.to_jsonable(record)))


def test_unstorable_values_are_named():
    with pytest.raises(TypeError, match=r"record\.timings\.bad"):
        results.to_jsonable({"timings": {"bad": object()}})


def test_rewriting_replaces_the_record(tmp_path):
    write_run_record(tmp_path, {"a": 1})
    write_run_record(tmp_path, {"a": 2})
    assert read_run_record(tmp_path) == {"a": 2}


def test_reading_missing_or_broken_records_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="no run record"):
        read_run_record(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_run_record(tmp_path)


def test_load_runs_gives_one_flat_row_per_run(tmp_path):
    write_run_record(tmp_path / "smoke" / "torch" / "fc-s0", make_record("torch", seed=0))
    write_run_record(tmp_path / "smoke" / "keras" / "fc-s1", make_record("keras", seed=1, gap=0.7))
    frame = load_runs(tmp_path).sort_values("framework")
    assert len(frame) == 2
    assert list(frame["framework"]) == ["keras", "torch"]
    assert list(frame["test_gap"]) == pytest.approx([0.6, 0.4])
    assert list(frame["val_gap"]) == pytest.approx([0.7, 0.5])
    assert frame["test_map"].isna().all()
    assert "test_genre_confusion" not in frame and "test_data" not in frame
    assert list(frame["train_examples_per_s"]) == [1000.0, 1000.0]
    assert list(frame["hw_rss_mb_peak"]) == [300.0, 300.0]
    assert list(frame["parameters"]) == [1234, 1234]
    assert list(frame["epochs_trained"]) == [3, 3]
    assert list(frame["cfg_batch_size"]) == [32, 32]
    assert list(frame.columns[:6]) == ["run_id", "framework", "model", "features", "profile",
                                       "seed"]
    assert frame["run_dir"].str.endswith("fc-s1").tolist() == [True, False]


def test_load_runs_of_an_empty_folder_is_an_empty_table(tmp_path):
    frame = load_runs(tmp_path)
    assert frame.empty and "test_gap" not in frame and "framework" in frame


def test_load_runs_warns_about_a_broken_record_and_keeps_the_others(tmp_path):
    write_run_record(tmp_path / "good", make_record())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{")
    with pytest.warns(UserWarning, match="bad"):
        frame = load_runs(tmp_path)
    assert len(frame) == 1


def test_load_histories_long_and_melted(tmp_path):
    write_run_record(tmp_path / "a", make_record("torch"))
    write_run_record(tmp_path / "b", make_record("keras", gap=0.7))
    wide = load_histories(tmp_path)
    assert len(wide) == 6 and set(wide["epoch"]) == {0, 1, 2}
    assert {"framework", "model", "seed", "train_loss", "val_gap"} <= set(wide.columns)
    keras = wide[wide["framework"] == "keras"].sort_values("epoch")
    assert list(keras["val_gap"]) == pytest.approx([0.0, 0.35, 0.7])
    melted = load_histories(tmp_path, melt=True)
    assert set(melted["metric"]) == {"train_loss", "val_loss", "val_gap", "epoch_seconds"}
    assert len(melted) == 6 * 4


def test_git_info_of_this_checkout_and_of_a_folder_outside_git(tmp_path):
    info = git_info()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=results.paths.REPO_ROOT,
                          capture_output=True, text=True).stdout.strip()
    assert info["commit"] == head and isinstance(info["dirty"], bool)
    assert git_info(tmp_path) == {"commit": None, "dirty": None}


def test_environment_info_reads_versions_without_importing_frameworks():
    code = ("import sys, json; from yt8m_lib.runs.run_record import environment_info\n"
            "info = environment_info()\n"
            "assert not {'torch', 'tensorflow', 'keras'} & set(sys.modules), sys.modules.keys()\n"
            "print(json.dumps(info))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    info = json.loads(done.stdout)
    assert info["numpy"] == np.__version__
    assert info["cpu_count"] >= 1 and "platform" in info
    assert set(results.PACKAGES) <= set(info)
    assert environment_info()["python"] == info["python"]

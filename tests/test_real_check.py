"""`yt8m real-check`: the real-data quality bar (fc vs logistic vs the label prior), trained
on the train shards of a split by shard, best epoch chosen on validate, test scored once; run
here on tiny synthetic video shards; the real numbers come from `make real-check` (docs)."""

from __future__ import annotations

import json

import pytest
from conftest import files

from yt8m_lib.cli import main
from yt8m_lib.data import splits
from yt8m_lib.errors import ConfigError
from yt8m_lib.real_check import prepare_split, prior_metrics, run_check


def test_a_folder_of_shards_is_split_into_out_and_a_made_split_is_used_as_it_is(data, tmp_path):
    path = prepare_split(data / "video", tmp_path / "check")
    assert path == tmp_path / "check" / "split" / "split.json"
    manifest = splits.read_manifest(path)
    assert {s: manifest["splits"][s]["num_shards"] for s in splits.SPLITS} == {
        "train": 2,
        "validate": 1,
        "test": 1,
    }
    made = splits.make_real_data(data / "video", tmp_path / "real", split="1/1/2")
    assert prepare_split(tmp_path / "real", tmp_path / "elsewhere") == made
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(ConfigError, match="has its split"):
        prepare_split(tmp_path / "real", tmp_path / "x", split="2/1/1")
    with pytest.raises(ConfigError, match="needs 9 shards"):
        prepare_split(data / "video", tmp_path / "x", split="7/1/1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no .tfrecord"):
        prepare_split(tmp_path / "empty", tmp_path / "x")
    with pytest.raises(ConfigError, match="no such folder"):
        prepare_split(tmp_path / "absent", tmp_path / "x")


def test_the_label_prior_is_a_real_baseline(data):
    train = files(data, "video", "train")
    prior = prior_metrics(train, files(data, "video", "validate"), num_classes=30)
    assert prior["train_videos"] == 64 and prior["test_videos"] == 24
    assert 0 < prior["gap"] < 1 and 0 <= prior["hit_at_1"] <= 1


def test_check_selects_on_validate_and_scores_test_once(data, tmp_path):
    summary = run_check(
        data / "video",
        tmp_path,
        framework="torch",
        profile="smoke",
        epochs=2,
        progress=False,
    )
    written = json.loads((tmp_path / "torch" / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert set(written["models"]) == {"logistic", "fc"}
    split = written["split"]
    assert [len(split[s]["shards"]) for s in splits.SPLITS] == [2, 1, 1]
    assert split["id"] == splits.read_manifest(split["manifest"])["id"]
    links = tmp_path / "split" / "video"
    for model, entry in written["models"].items():
        assert 0 < entry["gap"] <= 1 and 0 <= entry["hit_at_1"] <= 1, model
        record = json.loads((tmp_path / "torch" / model / "run.json").read_text())
        # validation data (best epoch) = the validate shards; the test shards scored apart
        assert record["data"]["val"] == [str(links / "validate0000.tfrecord")]
        assert record["evaluations"]["test"]["data"] == [str(links / "test0000.tfrecord")]
        assert record["evaluations"]["test"]["gap"] == pytest.approx(entry["gap"])
        assert "held_out" not in record["evaluations"]
        assert entry["best_epoch"] == record["best_epoch"] in (1, 2)
        assert entry["validate_gap"] == pytest.approx(record["evaluations"]["validate"]["gap"])
        assert record["data"]["split"]["id"] == split["id"]
        assert record["data"]["split"]["train_from"] == ["train"]
        assert record["data"]["split"]["val_from"] == ["validate"]
    assert written["label_prior"]["test_videos"] == split["test"]["videos"]


def test_cli_prints_the_table_and_rejects_bad_splits(data, tmp_path, capsys):
    argv = ["real-check", str(data / "video"), "--out", str(tmp_path), "--profile", "smoke"]
    assert main([*argv, "--epochs", "1", "--split", "2/1/1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "label prior" in out and "fc" in out and "logistic" in out
    assert "best epoch chosen on validate (1 shards), scored on test (1 shards" in out
    assert main([*argv, "--split", "3/1/1"]) == 2
    assert "needs 5 shards, the folder has 4" in capsys.readouterr().err
    assert main([*argv, "--val-shards", "1"]) == 2
    assert "--val-shards is gone" in capsys.readouterr().err

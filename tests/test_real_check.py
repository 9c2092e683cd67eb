"""`yt8m real-check`: the real-data quality bar (fc vs logistic vs the label prior on held-out
shards), run here on tiny synthetic video shards; the real numbers come from
`make real-check REAL_DATA=...` (README)."""

from __future__ import annotations

import json

import pytest
from conftest import files

from yt8m_lib.cli import main
from yt8m_lib.errors import ConfigError
from yt8m_lib.real_check import prior_metrics, run_check, split_shards


def test_the_last_shards_by_name_are_held_out(data):
    train, held_out = split_shards(data / "video", 1)
    assert [p.name for p in held_out] == ["validate0000.tfrecord"]
    assert [p.name for p in train] == [
        "test0000.tfrecord",
        "train0000.tfrecord",
        "train0001.tfrecord",
    ]
    with pytest.raises(ConfigError, match="--val-shards 4"):
        split_shards(data / "video", 4)  # nothing would be left to train on
    with pytest.raises(ConfigError, match="no .tfrecord"):
        split_shards(data / "frame" / "nothing-here", 1)


def test_the_label_prior_is_a_real_baseline(data):
    train = files(data, "video", "train")
    prior = prior_metrics(train, files(data, "video", "validate"), num_classes=30)
    assert prior["train_videos"] == 64 and prior["held_out_videos"] == 24
    assert 0 < prior["gap"] < 1 and 0 <= prior["hit_at_1"] <= 1


def test_check_trains_both_models_and_writes_a_summary(data, tmp_path):
    summary = run_check(
        data / "video",
        tmp_path,
        framework="torch",
        profile="smoke",
        val_shards=1,
        epochs=1,
        progress=False,
    )
    written = json.loads((tmp_path / "torch" / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert set(written["models"]) == {"logistic", "fc"}
    for model, entry in written["models"].items():
        assert 0 < entry["gap"] <= 1 and 0 <= entry["hit_at_1"] <= 1, model
        record = json.loads((tmp_path / "torch" / model / "run.json").read_text())
        assert record["evaluations"]["held_out"]["gap"] == pytest.approx(entry["gap"])
    assert written["held_out_shards"] == ["validate0000.tfrecord"]


def test_cli_prints_the_table_and_rejects_bad_splits(data, tmp_path, capsys):
    assert (
        main(
            [
                "real-check",
                str(data / "video"),
                "--out",
                str(tmp_path),
                "--profile",
                "smoke",
                "--epochs",
                "1",
                "--val-shards",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "label prior" in out and "fc" in out and "logistic" in out
    assert main(["real-check", str(data / "video"), "--val-shards", "9"]) == 2
    assert "--val-shards 9" in capsys.readouterr().err

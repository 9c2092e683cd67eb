"""Learning curves: nested training subsets, one row per run, and published references
that name their source and release."""

import pandas as pd
import pytest

from yt8m_lib import experiments, learning_curves


def test_every_published_reference_names_its_source_and_release():
    for ref in learning_curves.PUBLISHED:
        assert ref["source"] and 0.5 < ref["gap"] < 1.0
        assert "(2017)" in ref["label"] or "(2018)" in ref["label"]


def test_curves_train_on_the_first_n_shards_and_skip_sizes_beyond_the_split(monkeypatch, tmp_path):
    calls = []

    def fake_run_one(framework, model, seed, **kwargs):
        calls.append((framework, model, seed, kwargs["train_shards"], kwargs["run_label"]))
        n = kwargs["train_shards"] or 6
        return {
            "evaluations": {"test": {"gap": 0.1 * n, "hit_at_1": 0.0}},
            "data": {"num_train_videos": 300 * n},
            "best_epoch": 2,
        }

    monkeypatch.setattr(experiments, "run_one", fake_run_one)
    monkeypatch.setattr(
        "yt8m_lib.data.datasets.split_files", lambda data, level: {"train": [0] * 6}
    )
    frame = learning_curves.run_curves(
        ["torch"], ["fc"], [0, 1], profile="smoke", data_dir=tmp_path, sizes=(2, 4, 8)
    )
    # 8 > the 6 train shards: skipped; all 6 is the chapters' own run (no label, no limit)
    assert [c[3] for c in calls] == [2, 2, 4, 4, None, None]
    assert [c[4] for c in calls[::2]] == ["-shards2", "-shards4", ""]
    summary = learning_curves.summary(frame)
    assert summary["seeds"].tolist() == [2, 2, 2]
    assert frame["train_shards"].tolist() == [2, 2, 4, 4, 6, 6]


def test_the_gain_per_doubling_is_the_slope_on_log2_of_the_shards():
    frame = pd.DataFrame(
        {
            "framework": "torch",
            "model": "fc",
            "train_shards": [5, 10, 20, 40],
            "gap": [0.50, 0.55, 0.60, 0.65],
        }
    )
    slope = learning_curves.slope_per_doubling(frame)
    assert slope.loc[0, "gap_per_doubling"] == pytest.approx(0.05)


def test_run_one_refuses_more_train_shards_than_the_split_has(data, tmp_path):
    with pytest.raises(ValueError, match="train_shards=99"):
        experiments.run_one(
            "torch", "fc", 0, profile="smoke", data_dir=data, results_dir=tmp_path, train_shards=99
        )


def test_one_size_gives_an_empty_slope_table_with_its_columns():
    frame = pd.DataFrame(
        {"framework": ["torch"], "model": ["fc"], "train_shards": [3], "gap": [0.5]}
    )
    slopes = learning_curves.slope_per_doubling(frame)
    assert slopes.empty and list(slopes.columns) == ["framework", "model", "gap_per_doubling"]

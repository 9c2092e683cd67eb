"""The tuning protocol: the same grid and budget for every model, the choice on validate
only (ties to the smaller rate), and the ``real`` profile kept equal to the committed
choices."""

from pathlib import Path

import pandas as pd
import pytest

from yt8m_lib import config, experiments, tuning

REPO = Path(__file__).resolve().parents[1]


def table(rows):
    return pd.DataFrame(
        [
            {
                "model": m,
                "learning_rate": r,
                "validate_gap": g,
                "validate_hit_at_1": 0.0,
                "best_epoch": 1,
                "epochs_trained": 3,
                "stopped_early": True,
                "train_seconds": 1.0,
            }
            for m, r, g in rows
        ]
    )


def test_the_best_validate_gap_wins_and_a_tie_goes_to_the_smaller_rate():
    chosen = tuning.choose(
        table(
            [
                ("fc", 1e-3, 0.60),
                ("fc", 3e-3, 0.62),
                ("fc", 1e-2, 0.61),
                ("logistic", 1e-3, 0.50),
                ("logistic", 3e-3, 0.55),
                ("logistic", 1e-2, 0.55),
            ]
        )
    )
    assert tuning.chosen_rates(chosen) == {"fc": 3e-3, "logistic": 3e-3}
    assert chosen["chosen"].sum() == 2 and list(chosen.columns) == tuning.TABLE_COLUMNS


def test_a_table_that_chooses_twice_for_a_model_is_refused():
    bad = tuning.choose(table([("fc", 1e-3, 0.6), ("fc", 3e-3, 0.5)]))
    bad["chosen"] = True
    with pytest.raises(ValueError, match="one rate per model"):
        tuning.chosen_rates(bad)


def test_the_table_round_trips_through_csv_and_markdown(tmp_path):
    chosen = tuning.choose(table([("fc", 1e-3, 0.6), ("fc", 3e-3, 0.5)]))
    csv, md = tuning.write_table(chosen, tmp_path)
    assert tuning.chosen_rates(tuning.read_table(csv)) == {"fc": 1e-3}
    assert "| model" in md.read_text()


def test_tuning_runs_never_read_the_test_split(monkeypatch, tmp_path):
    calls = []

    def fake_run_one(framework, model, seed, **kwargs):
        calls.append(kwargs)
        rate = kwargs["learning_rate"]
        return {
            "evaluations": {"validate": {"gap": rate, "hit_at_1": 0.0}},
            "best_epoch": 1,
            "epochs_trained": 2,
            "stopped_early": None,
            "timings": {"total_train_s": 1.0},
        }

    monkeypatch.setattr(experiments, "run_one", fake_run_one)
    result = tuning.tune(["fc"], profile="smoke", data_dir=tmp_path, rates=(1e-3, 1e-2))
    assert all(call["score_test"] is False for call in calls)
    assert [c["run_label"] for c in calls] == ["-lr0.001", "-lr0.01"]
    assert tuning.chosen_rates(result) == {"fc": 1e-2}


def test_the_real_profile_uses_the_rates_the_committed_protocol_chose():
    """The profile is code, the table is evidence: they must not drift apart."""
    committed = REPO / "figures" / "real" / "tuning.csv"
    if not committed.is_file():
        pytest.skip("no committed tuning table yet (make reproduce with the real sample)")
    chosen = tuning.chosen_rates(tuning.read_table(committed))
    profile = config.get_profile("real")
    assert dict(profile.learning_rates) == chosen
    assert set(chosen) == set(config.VIDEO_LEVEL_MODELS)  # every video-level model is tuned


def test_genre_heads_are_tuned_by_the_same_protocol_into_their_own_table(monkeypatch, tmp_path):
    calls = []

    def fake_run_one(framework, model, seed, **kwargs):
        calls.append(kwargs)
        return {
            "evaluations": {"validate": {"gap": 1 - kwargs["learning_rate"], "hit_at_1": 0.0}},
            "best_epoch": 1,
            "epochs_trained": 2,
            "stopped_early": None,
            "timings": {"total_train_s": 1.0},
        }

    monkeypatch.setattr(experiments, "run_one", fake_run_one)
    monkeypatch.setattr("yt8m_lib.data.datasets.load_manifest", lambda data: None)  # "real"
    table, rates = tuning.for_chapter(
        ["fc"], profile="smoke", data_dir=tmp_path, table_dir=tmp_path, target="genres"
    )
    assert {c["target"] for c in calls} == {"genres"}
    assert all(c["score_test"] is False for c in calls)
    assert [c["learning_rate"] for c in calls] == list(tuning.LEARNING_RATES)
    assert rates == {"fc": min(tuning.LEARNING_RATES)}
    assert (tmp_path / "tuning_genre_heads.csv").is_file()
    assert not (tmp_path / "tuning.csv").exists()  # the class models' table is left alone

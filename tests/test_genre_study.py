"""Chapter 08's analysis (``yt8m_lib.genre_study``) on small hand-made data: the rules are
scored as ``genre_report`` scores them, a head as a rule, the baselines are what constant
predictors get, the intervals behave, the confused pairs and the sentences are right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import random_video_examples

from yt8m_lib import genre_study as gs
from yt8m_lib.data.records import write_shard
from yt8m_lib.evaluation.genres import (
    GENRE_RULES,
    GenrePrior,
    Vocabulary,
    genre_report,
    genre_scores,
    majority_genre,
    true_genres,
)

HEADLINE = ("strict_accuracy", "lenient_accuracy", "macro_f1", "micro_f1", "macro_ap", "gap")


def vocab_of(genres_per_class):
    return Vocabulary.from_genres([f"c{i}" for i in range(len(genres_per_class))], genres_per_class)


@pytest.fixture
def vocab():
    # 8 classes, 3 genres of different sizes
    return vocab_of(["A", "A", "A", "B", "B", "C", "C", "C"])


def random_labels(rng, n, num_classes):
    labels = (rng.random((n, num_classes)) < 0.2).astype(np.int8)
    labels[rng.integers(0, n, size=2)] = 0  # a few videos without labels
    return labels


def runs_of(scores_by_seed, model="fc", framework="torch", target="classes"):
    return [
        {"model": model, "framework": framework, "seed": s, "scores": p, "target": target}
        for s, p in enumerate(scores_by_seed)
    ]


@pytest.fixture
def setup(vocab):
    rng = np.random.default_rng(0)
    labels = random_labels(rng, 60, vocab.num_classes)
    prior = GenrePrior.from_labels(random_labels(rng, 200, vocab.num_classes), vocab)
    scores = [np.clip(labels * 0.5 + rng.random(labels.shape) * 0.6, 0, 1) for _ in range(3)]
    return labels, prior, scores


def headline(report):
    return {m: gs._value(report, m) for m in HEADLINE}


def test_every_rule_is_scored_exactly_as_genre_report_scores_it(vocab, setup):
    labels, prior, scores = setup
    study = gs.study_from_scores(runs_of(scores), labels, vocab, prior, k=2)
    assert len(study.entries) == len(scores) * len(GENRE_RULES)
    frame = gs.metrics_frame(study)
    for entry in study.entries:
        expected = genre_report(
            scores[entry["seed"]], labels, vocab, entry["source"], k=2, genre_prior=prior
        )
        assert entry["report"] == expected
        np.testing.assert_allclose(
            entry["scores"], genre_scores(scores[entry["seed"]], vocab, entry["source"], k=2)
        )
        rows = frame[(frame.seed == entry["seed"]) & (frame.source == entry["source"])]
        got = dict(zip(rows.metric, rows.value))
        assert got == pytest.approx(headline(expected))


def test_the_video_metrics_of_the_bootstrap_equal_the_report(vocab, setup):
    labels, prior, scores = setup
    study = gs.study_from_scores(runs_of(scores), labels, vocab, prior)
    truth = gs._truth(study)
    for entry in study.entries:
        predicted = entry["predicted"][:, None]
        for metric, function in gs.VIDEO_METRICS.items():
            assert function(predicted, truth) == pytest.approx(gs._value(entry["report"], metric))
    # several seeds at once: the mean of the seeds' metrics
    entries = study.select("fc", "torch", "max")
    both = gs._predicted(entries)
    for metric, function in gs.VIDEO_METRICS.items():
        assert function(both, truth) == pytest.approx(
            np.mean([gs._value(e["report"], metric) for e in entries])
        )


def test_a_perfect_predictor_is_strictly_right_and_a_constant_one_equals_the_baseline(vocab, setup):
    labels, prior, _ = setup
    majority = majority_genre(labels, vocab)
    one_hot = np.zeros((labels.shape[0], vocab.num_genres))
    one_hot[majority >= 0, majority[majority >= 0]] = 1.0
    top = int(np.argmax(prior.genre_frequency))
    constant = np.zeros_like(one_hot)
    constant[:, top] = 1.0
    study = gs.study_from_scores(
        runs_of([labels.astype(float)], model="perfect")
        + runs_of([one_hot], model="perfect", target="genres")
        + runs_of([constant], model="constant", target="genres")
        + runs_of([np.tile(prior.class_frequency, (labels.shape[0], 1))], model="prior"),
        labels,
        vocab,
        prior,
    )
    frame = gs.runs_frame(study).set_index(["model", "source"])
    # a class model scoring exactly its labels: strict 1 under sum (genre score = label count)
    assert frame.loc[("perfect", "sum"), "strict_accuracy"] == 1.0
    assert frame.loc[("perfect", "head"), "strict_accuracy"] == 1.0
    assert frame.loc[("perfect", "head"), "macro_f1"] == 1.0
    for rule in GENRE_RULES:
        assert frame.loc[("perfect", rule), "lenient_accuracy"] == 1.0
    baselines = gs.baselines_frame(study).set_index(["baseline", "rule"])
    frequent = baselines.loc[("most frequent genre", "any")]
    assert frequent["genre"] == vocab.genre_names[top]
    for metric in ("strict_accuracy", "lenient_accuracy", "macro_f1", "micro_f1"):
        assert frame.loc[("constant", "head"), metric] == pytest.approx(frequent[metric])
        for rule in GENRE_RULES:  # every video scored with the training class frequencies
            expected = baselines.loc[("label prior", rule), metric]
            assert frame.loc[("prior", rule), metric] == pytest.approx(expected)


def test_the_head_path_equals_the_rule_path_on_the_rules_genre_scores(vocab, setup):
    labels, prior, scores = setup
    as_head = [genre_scores(p, vocab, "sum") for p in scores]
    study = gs.study_from_scores(
        runs_of(scores) + runs_of(as_head, target="genres"), labels, vocab, prior
    )
    frame = gs.metrics_frame(study).set_index(["seed", "source", "metric"])["value"]
    for seed in range(len(scores)):
        for metric in HEADLINE:
            assert frame[(seed, "head", metric)] == pytest.approx(frame[(seed, "sum", metric)])
    summary = gs.summary_frame(study, n_boot=50)
    tests = gs.compare_to_best(study, summary, [gs.HEAD], n_boot=50)
    assert set(tests.b) <= set(GENRE_RULES) and (tests.a == "head").all()
    same = tests[tests.b == "sum"]
    assert (same.mean_diff == 0).all() and (same.verdict == "no detectable difference").all()


def test_intervals_hold_the_estimate_and_shrink_with_more_videos(vocab, setup):
    labels, prior, scores = setup
    widths = {}
    for copies in (1, 16):
        study = gs.study_from_scores(
            runs_of([np.tile(p, (copies, 1)) for p in scores]),
            np.tile(labels, (copies, 1)),
            vocab,
            prior,
        )
        summary = gs.summary_frame(study, n_boot=300, seed=1)
        shown = summary[summary.metric.isin(gs.BOOTSTRAP_METRICS)]
        assert (shown.seed_ci_low <= shown["mean"]).all()
        assert (shown["mean"] <= shown.seed_ci_high).all()
        assert (shown.video_ci_low <= shown["mean"] + 1e-12).all()
        assert (shown["mean"] <= shown.video_ci_high + 1e-12).all()
        widths[copies] = (shown.video_ci_high - shown.video_ci_low).to_numpy()
        # the metrics without a bootstrap say so with NaN, not with a made-up interval
        assert summary[~summary.metric.isin(gs.BOOTSTRAP_METRICS)].video_ci_low.isna().all()
    # 16 times the videos: the interval over videos about 4 times narrower
    assert (widths[16] < widths[1] / 2).all()


def test_one_seed_gives_no_seed_interval_and_no_test_but_no_error(vocab, setup):
    labels, prior, scores = setup
    study = gs.study_from_scores(runs_of(scores[:1]), labels, vocab, prior)
    summary = gs.summary_frame(study, n_boot=20)
    assert summary.seed_ci_low.isna().all() and summary.video_ci_low.notna().any()
    tests = gs.compare_to_best(study, summary, n_boot=20)
    assert tests.p_value.isna().all() and (tests.verdict == "no detectable difference").all()
    lines = gs.reading(summary, gs.baselines_frame(study), tests)
    assert any("n/a" in line for line in lines)


def test_confusion_and_confused_pairs_on_a_hand_made_case():
    vocab = vocab_of(["A", "B", "C"])  # one class per genre: class scores are genre scores
    labels = np.array(
        [
            [1, 0, 0],  # v0: A
            [1, 0, 0],  # v1: A
            [1, 0, 0],  # v2: A
            [0, 1, 0],  # v3: B
            [1, 1, 1],  # v4: A (tie: lowest index), genre set {A, B, C}
            [0, 0, 0],  # v5: no labels: left out
        ]
    )
    # predicted genre per video, two seeds
    seed0 = [1, 1, 0, 1, 2, 0]
    seed1 = [1, 0, 0, 1, 2, 2]
    scores = [np.eye(3)[p] for p in (seed0, seed1)]
    prior = GenrePrior.from_labels(labels, vocab)
    study = gs.study_from_scores(
        runs_of(scores), labels, vocab, prior, ids=[f"v{i}" for i in range(6)], rules=("max",)
    )
    rates, counts = gs.confusion(study, "fc", "torch", "max")
    assert list(rates.index) == ["A", "B"]  # C is nobody's majority genre
    # A: 4 videos; seed 0 sends v0, v1 to B and v4 to C; seed 1 sends v0 to B and v4 to C
    assert counts.loc["A"].tolist() == [1.5, 1.5, 1.0]
    assert rates.loc["A", "B"] == pytest.approx(3 / 8)
    assert rates.loc["B"].tolist() == [0.0, 1.0, 0.0]
    pairs = gs.confused_pairs(study, "fc", "torch", "max", examples=3)
    assert pairs[["true", "predicted"]].values.tolist() == [["A", "B"], ["A", "C"]]
    first = pairs.iloc[0]
    assert first.count_per_seed == 1.5 and first.support == 4
    assert first.example_ids == ("v0", "v1")  # v0 wrong in both seeds, v1 in one
    assert first.seeds_wrong == 2
    assert first.examples == "v0: c0 | v1: c0"
    assert pairs.iloc[1].example_ids == ("v4",)
    assert pairs.iloc[1].examples == "v4: c0, c1, c2"
    assert pairs.iloc[1].rate == pytest.approx(1 / 4)


def test_identical_rules_give_no_detectable_difference_in_the_sentences():
    # one class per genre: max, sum, noisy_or and topk_mean give the same genre scores
    vocab = vocab_of(["A", "B", "C", "D"])
    rng = np.random.default_rng(3)
    labels = (rng.random((80, 4)) < 0.4).astype(np.int8)
    prior = GenrePrior.from_labels(labels[:40], vocab)
    scores = [rng.random((80, 4)) for _ in range(4)]
    study = gs.study_from_scores(runs_of(scores), labels, vocab, prior)
    summary = gs.summary_frame(study, n_boot=50)
    tests = gs.compare_to_best(study, summary, n_boot=50)
    assert len(tests) == 2 * 3  # two metrics, three rules against the best
    assert (tests.mean_diff == 0).all()
    assert (tests.verdict == "no detectable difference").all()
    lines = gs.reading(summary, gs.baselines_frame(study), tests)
    text = "\n".join(lines)
    assert "no detectable difference" in text and "ahead" not in text
    assert "best rule `max`" in text  # ties go to the first rule


def test_a_clearly_worse_rule_is_detected_and_named(vocab):
    rng = np.random.default_rng(5)
    n = 40
    # every video: two labels of its majority genre A (classes 0-2), one of genre B (3-4)
    labels = np.zeros((n, vocab.num_classes), dtype=np.int8)
    labels[:, [0, 1, 3]] = 1
    prior = GenrePrior.from_labels(labels, vocab)
    scores = []
    for _ in range(5):  # the B label scores highest in a random ~70 % of the videos per seed
        p = rng.random(labels.shape) * 0.05
        p[:, [0, 1]] = 0.6
        p[:, 3] = np.where(rng.random(n) < 0.7, 0.95, 0.5)
        scores.append(p)
    # max picks B where its label scores 0.95; sum always finds A (1.2 > 0.95)
    study = gs.study_from_scores(runs_of(scores), labels, vocab, prior, rules=("max", "sum"))
    summary = gs.summary_frame(study, n_boot=50)
    tests = gs.compare_to_best(study, summary, metrics=("strict_accuracy",), n_boot=50)
    row = tests.iloc[0]
    assert (row.a, row.b, row.mean_b) == ("max", "sum", 1.0) and row.mean_diff < -0.5
    assert row.verdict == "sum ahead" and row.p_holm < 0.05
    assert row.video_ci_high < 0
    lines = gs.reading(summary, gs.baselines_frame(study), tests, metrics=("strict_accuracy",))
    assert "sum ahead" in lines[1]


def test_model_ranking_says_when_genre_reverses_the_gap_order(vocab, setup):
    labels, prior, scores = setup
    rng = np.random.default_rng(7)
    good = [np.clip(labels * 0.9 + rng.random(labels.shape) * 0.2, 0, 1) for _ in range(3)]
    bad = [rng.random(labels.shape) for _ in range(3)]
    runs = [{**r, "class_gap": 0.2} for r in runs_of(good, model="fc")]
    runs += [{**r, "class_gap": 0.8} for r in runs_of(bad, model="logistic")]
    study = gs.study_from_scores(runs, labels, vocab, prior)
    ranking = gs.model_ranking(study, "strict_accuracy", source="sum")
    row = ranking.iloc[0]
    assert row.gap_order == ["logistic", "fc"] and row.genre_order == ["fc", "logistic"]
    assert row.relation == "reversed" and row.tau == -1.0
    assert row.tests[0]["a"] == "fc" and row.tests[0]["b"] == "logistic"


def fc_record(folder, vocab):
    """The run record of an `fc` run on train0000 / validate0000 / test0000 in ``folder``."""
    return {
        "model": "fc",
        "framework": "torch",
        "seed": 0,
        "run_dir": str(folder),
        "data": {
            "train": [str(folder / "train0000.tfrecord")],
            "val": [str(folder / "validate0000.tfrecord")],
            "level": "video",
            "num_classes": vocab.num_classes,
        },
        "evaluations": {
            "test": {"data": [str(folder / "test0000.tfrecord")], "gap": 0.5},
            "validate": {"gap": 0.6},
        },
    }


def test_study_from_records_aligns_scores_by_video_id(tmp_path, vocab):
    examples = random_video_examples(12, num_classes=vocab.num_classes, seed=1)
    train = random_video_examples(30, num_classes=vocab.num_classes, seed=2, prefix="t")
    write_shard(tmp_path / "test0000.tfrecord", examples)
    write_shard(tmp_path / "train0000.tfrecord", train)
    labels = np.zeros((12, vocab.num_classes), dtype=np.int8)
    for row, example in enumerate(examples):
        labels[row, example.labels] = 1
    record = fc_record(tmp_path, vocab)
    perfect = labels.astype(np.float32)
    order = np.arange(12)[::-1]  # the run returns its videos in another order

    def predict(rec, paths):
        return [examples[i].id for i in order], perfect[order]

    study = gs.study_from_records([record], tmp_path, predict=predict, verbose=False)
    assert study.vocab.num_genres == 8  # no vocabulary.csv: the synthetic fallback
    assert study.ids == tuple(e.id for e in examples)
    np.testing.assert_array_equal(study.labels, labels == 1)
    sum_entry = study.select("fc", "torch", "sum")[0]
    assert sum_entry["report"]["strict_accuracy"] == 1.0
    assert sum_entry["class_gap"] == 0.5
    train_labels = np.zeros((30, vocab.num_classes), dtype=np.int8)
    for row, example in enumerate(train):
        train_labels[row, example.labels] = 1
    expected = GenrePrior.from_labels(train_labels, study.vocab)
    np.testing.assert_allclose(study.prior.class_frequency, expected.class_frequency)
    np.testing.assert_array_equal(study.sets, true_genres(labels, study.vocab))


def test_the_validate_study_scores_the_files_the_runs_were_selected_on(tmp_path, vocab):
    test = random_video_examples(12, num_classes=vocab.num_classes, seed=1)
    validate = random_video_examples(9, num_classes=vocab.num_classes, seed=4, prefix="v")
    train = random_video_examples(30, num_classes=vocab.num_classes, seed=2, prefix="t")
    for name, examples in (("test", test), ("validate", validate), ("train", train)):
        write_shard(tmp_path / f"{name}0000.tfrecord", examples)
    record = fc_record(tmp_path, vocab)
    asked = []

    def predict(rec, paths):
        asked.append([Path(p).name for p in paths])
        videos = validate if "validate" in paths[0] else test
        return [e.id for e in videos], np.zeros((len(videos), vocab.num_classes))

    study = gs.study_from_records(
        [record], tmp_path, split="validate", predict=predict, verbose=False
    )
    assert asked == [["validate0000.tfrecord"]]
    assert study.ids == tuple(e.id for e in validate)
    assert study.select("fc", "torch", "max")[0]["class_gap"] == 0.6  # validate's, not test's
    with pytest.raises(ValueError, match="unknown split"):
        gs.study_from_records([record], tmp_path, split="train", predict=predict)


def test_a_rule_chosen_on_validate_is_tested_on_test_and_can_lose_there(vocab, setup):
    # on "validate" the model scores exactly its labels (sum finds every majority genre); on
    # "test" it adds 0.35 to each of genre C's three classes, which sum adds up and max ignores
    labels, prior, _ = setup
    perfect = [labels * (0.9 - 0.01 * s) for s in range(3)]
    genre_c = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    noisy = [labels * (0.6 - 0.01 * s) + 0.35 * genre_c for s in range(3)]
    validate = gs.study_from_scores(runs_of(perfect), labels, vocab, prior)
    test = gs.study_from_scores(runs_of(noisy), labels, vocab, prior)
    chosen = gs.rule_means(validate)
    assert set(chosen.columns) >= {"model", "framework", "source", "metric", "mean", "seeds"}
    assert gs.best_rules(chosen, "strict_accuracy") == {("fc", "torch"): "sum"}
    tests = gs.compare_to_best(test, chosen, metrics=("strict_accuracy",), n_boot=20)
    assert set(tests.b) == {"sum"}  # the reference is validate's choice, not test's best
    on_test = gs.best_rules(gs.summary_frame(test, n_boot=20), "strict_accuracy")
    assert on_test[("fc", "torch")] == "max"  # test would have chosen another rule ...
    assert tests.set_index("a").loc["max", "mean_diff"] > 0  # ... which beats validate's there
    lines = gs.reading(
        gs.summary_frame(test, n_boot=20),
        gs.baselines_frame(test),
        tests,
        metrics=("strict_accuracy",),
        choose_from=chosen,
    )
    assert any("the rule chosen on validate `sum`" in line for line in lines)


def test_frame_and_video_models_of_the_same_videos_are_studied_together(tmp_path):
    """The synthetic chapters train both levels on the same videos: each run is scored on
    its own level's test files, the labels come from the video level."""
    import shutil

    from conftest import random_video_examples

    from yt8m_lib.data.records import write_shard
    from yt8m_lib.evaluation.genres import Vocabulary

    vocab = Vocabulary.synthetic(40)
    examples = random_video_examples(10, num_classes=40, seed=3)
    (tmp_path / "video").mkdir()
    (tmp_path / "frame").mkdir()
    write_shard(tmp_path / "video" / "test0000.tfrecord", examples)
    write_shard(tmp_path / "video" / "train0000.tfrecord", examples)
    for name in ("test0000.tfrecord", "train0000.tfrecord"):  # stands in for the frame files
        shutil.copy(tmp_path / "video" / name, tmp_path / "frame" / name)
    records = [
        {
            "model": model,
            "framework": "torch",
            "seed": 0,
            "run_dir": str(tmp_path / model),
            "data": {
                "train": [str(tmp_path / level / "train0000.tfrecord")],
                "level": level,
                "num_classes": vocab.num_classes,
            },
            "evaluations": {"test": {"data": [str(tmp_path / level / "test0000.tfrecord")]}},
        }
        for model, level in (("fc", "video"), ("bilstm", "frame"))
    ]
    called = {}

    def predict(rec, paths):
        called[rec["model"]] = [Path(p).parent.name for p in paths]
        return [e.id for e in examples], np.random.default_rng(0).random((10, 40))

    study = gs.study_from_records(records, tmp_path, predict=predict, verbose=False)
    assert called == {"fc": ["video"], "bilstm": ["frame"]}
    assert {e["model"] for e in study.entries} == {"fc", "bilstm"}

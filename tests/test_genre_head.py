"""A trained genre head: the same architectures trained on genre targets (a video carries a
genre when any of its classes belongs to it), in both frameworks, with the same names, so
chapter 08 can set a head against the rules that turn class scores into a genre."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_NUM_CLASSES, files, train_tiny

from yt8m_lib import experiments, parity, training
from yt8m_lib.data import features
from yt8m_lib.data.records import iter_examples
from yt8m_lib.errors import ConfigError
from yt8m_lib.evaluation.genres import Vocabulary, true_genres

FRAMEWORKS = ["torch", "keras"]
pytestmark = pytest.mark.xdist_group("genre_head")


def framework_module(name):
    pytest.importorskip("torch" if name == "torch" else "tensorflow")
    from yt8m_lib.commands import load_framework

    return load_framework(name)


def test_genre_targets_are_the_genre_sets_of_the_class_labels():
    vocab = Vocabulary.from_genres(list("abcde"), ["G1", "G2", "G1", "G3", "G2"])
    labels = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=np.float32)
    targets = features.genre_labels(labels, vocab.class_genre)
    assert targets.dtype == labels.dtype and targets.shape == (3, 3)
    np.testing.assert_array_equal(targets, [[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(targets == 1, true_genres(labels, vocab))
    with pytest.raises(ValueError, match="4 class genres for 5 classes"):
        features.genre_labels(labels, vocab.class_genre[:4])


def test_a_genre_head_needs_a_vocabulary_and_knows_no_other_target(data):
    with pytest.raises(ConfigError, match="vocabulary"):
        training.RunSpec.create(
            "fc", profile="smoke", seed=0, num_classes=TINY_NUM_CLASSES, target="genres"
        )
    with pytest.raises(ConfigError, match="unknown target"):
        training.RunSpec.create("fc", profile="smoke", seed=0, num_classes=30, target="tags")
    with pytest.raises(ConfigError, match="classes, the data"):
        training.RunSpec.create(
            "fc",
            profile="smoke",
            seed=0,
            num_classes=31,
            target="genres",
            vocabulary=data / "vocabulary.csv",
        )


def test_the_genre_prior_counts_each_genre_once_per_video(data):
    vocab = Vocabulary.load(data / "vocabulary.csv")
    paths = files(data, "video", "train")
    examples = list(iter_examples([str(p) for p in paths], "video", num_classes=TINY_NUM_CLASSES))
    counts = np.zeros(vocab.num_genres)
    for ex in examples:
        counts[np.unique(vocab.class_genre[list(ex.labels)])] += 1
    p = (counts + 0.5) / (len(examples) + 1)
    got = training.class_prior_logits(paths, "video", TINY_NUM_CLASSES, vocab.class_genre)
    np.testing.assert_allclose(got, np.log(p / (1 - p)), rtol=1e-5)


@pytest.fixture(scope="module", params=FRAMEWORKS)
def head_run(request, data, tmp_path_factory):
    trainer = framework_module(request.param)
    out = tmp_path_factory.mktemp(f"head_{request.param}") / "fc-genres"
    record = train_tiny(trainer, data, out, epochs=2, target="genres")
    return request.param, trainer, out, record


def test_a_genre_head_outputs_one_score_per_genre_and_says_so_in_its_record(head_run, data):
    name, trainer, out, record = head_run
    vocab = Vocabulary.load(data / "vocabulary.csv")
    assert record["target"] == "genres"
    assert record["config"]["model"]["num_classes"] == vocab.num_genres
    assert record["data"]["num_classes"] == TINY_NUM_CLASSES  # the data is read as it is
    validate = record["evaluations"]["validate"]
    assert 0 <= validate["gap"] <= 1 and "genre" not in validate  # its outputs are genres
    ids, scores = trainer.predict_scores(out, files(data, "video", "test"))
    assert scores.shape == (len(ids), vocab.num_genres) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    metrics = trainer.evaluate(out, files(data, "video", "test"), vocabulary=None)
    assert metrics["num_videos"] == len(ids) and 0 <= metrics["gap"] <= 1


def test_a_genre_head_validates_on_genre_targets_not_class_labels(head_run, data):
    """Its validation metrics equal the official metrics of its scores against the video's
    genre sets: the targets it was trained on."""
    from yt8m_lib.evaluation.metrics import gap

    name, trainer, out, record = head_run
    vocab = Vocabulary.load(data / "vocabulary.csv")
    ids, scores = trainer.predict_scores(out, files(data, "video", "validate"))
    by_id = {
        ex.id: ex.labels
        for ex in iter_examples(
            [str(p) for p in files(data, "video", "validate")],
            "video",
            num_classes=TINY_NUM_CLASSES,
        )
    }
    labels = np.zeros((len(ids), TINY_NUM_CLASSES))
    for row, video in enumerate(ids):
        labels[row, list(by_id[video])] = 1
    expected = gap(scores, true_genres(labels, vocab).astype(float))
    best = record["evaluations"]["validate"]
    assert best["gap"] == pytest.approx(expected, abs=1e-6)


def test_the_cli_trains_a_genre_head(data, tmp_path):
    out = tmp_path / "head"
    command = [
        sys.executable,
        "-m",
        "yt8m_lib",
        "train",
        "--framework",
        "torch",
        "--model",
        "logistic",
        "--target",
        "genres",
        "--profile",
        "smoke",
        "--epochs",
        "1",
        "--train-data",
        str(data / "video" / "train*.tfrecord"),
        "--val-data",
        str(data / "video" / "validate*.tfrecord"),
        "--out",
        str(out),
        "--no-progress",
    ]
    pytest.importorskip("torch")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((out / "run.json").read_text())
    assert record["target"] == "genres"
    assert (
        record["config"]["model"]["num_classes"]
        == Vocabulary.load(data / "vocabulary.csv").num_genres
    )


def test_run_suite_keeps_genre_heads_apart_from_the_class_models(data, tmp_path):
    pytest.importorskip("torch")
    heads = experiments.run_suite(
        "torch",
        ["logistic"],
        [0],
        profile="smoke",
        data_dir=data,
        results_dir=tmp_path,
        epochs=1,
        target="genres",
        verbose=False,
    )
    (head,) = heads
    assert head["target"] == "genres"
    folders = sorted(p.name for p in (tmp_path / "runs").glob("*/*/torch/*"))
    assert folders == ["logistic-raw-seed0-genres"]
    assert head["evaluations"]["test"]["predictions"] is None  # no Kaggle file of genres
    from yt8m_lib.runs import tables

    assert tables.load_records(tmp_path) == []  # not a chapter's class run


def test_the_head_architecture_is_the_same_model_in_both_frameworks():
    """A head is its architecture at width G: parity holds at the 2018 vocabulary's 25
    genres as it does for classes."""
    for name in ("logistic", "fc"):
        result = parity.check_parity(name, "smoke", num_classes=25)
        assert result["ok"] and result["keras_parameters"] == result["torch_parameters"]


def test_yt8m_evaluate_prints_a_heads_genre_report_and_refuses_a_kaggle_file(
    head_run, data, capsys
):
    """A head's genre block is scored like a rule's: against the class labels' majority
    genre and genre sets, with baselines from the training labels."""
    from yt8m_lib import cli

    name, trainer, out, record = head_run
    test = str(data / "video" / "test*.tfrecord")
    assert cli.main(["evaluate", str(out), "--data", test]) == 0
    printed = json.loads(capsys.readouterr().out)
    genre = printed["genre"]
    assert genre["rule"] == "head" and genre["baselines"]["source"] == "training labels"
    assert 0 <= genre["strict_accuracy"] <= genre["lenient_accuracy"] <= 1
    assert len(genre["per_genre"]) == Vocabulary.load(data / "vocabulary.csv").num_genres
    code = cli.main(["evaluate", str(out), "--data", test, "--predictions", "p.csv"])
    assert code == 2 and "genre head" in capsys.readouterr().err

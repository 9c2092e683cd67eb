"""yt8m_lib.data.datasets: the shards of each split, and the one way to find a dataset's
vocabulary and manifest, whether a dataset folder or its shard files are named."""

from __future__ import annotations

import json

import pytest
from conftest import empty_dataset

from yt8m_lib.data import datasets
from yt8m_lib.errors import DataError


def test_split_files_reads_the_synthetic_layout(tmp_path):
    empty_dataset(tmp_path, shards=3)
    files = datasets.split_files(tmp_path, "video")
    assert sorted(files) == ["test", "train", "validate"]
    assert [f.name for f in files["train"]] == [
        "train0000.tfrecord",
        "train0001.tfrecord",
        "train0002.tfrecord",
    ]
    assert datasets.split_files(tmp_path, "frame") == {}


def test_a_single_split_is_divided_by_file_so_no_video_is_in_two_splits(tmp_path):
    folder = tmp_path / "video_validate"
    folder.mkdir()
    for i in range(20):
        (folder / f"validate{i:04d}.tfrecord").write_bytes(b"")
    files = datasets.split_files(tmp_path, "video")
    assert {k: len(v) for k, v in files.items()} == {"train": 16, "validate": 2, "test": 2}
    every = [f for split in files.values() for f in split]
    assert len(set(every)) == 20


def test_data_tag_names_synthetic_and_real_folders(tmp_path):
    assert datasets.data_tag(empty_dataset(tmp_path / "a")) == "synthetic-smoke"
    assert datasets.data_tag(empty_dataset(tmp_path / "yt8m_real", manifest=False)) == "yt8m_real"


@pytest.mark.parametrize("layout", ["video/train0000.tfrecord", "video_train/x.tfrecord"])
def test_the_folder_and_its_shards_find_the_same_vocabulary_and_manifest(tmp_path, layout):
    """The notebooks name the dataset folder, the CLI commands its shard files: both find the
    files of the dataset folder, in either layout."""
    shard = tmp_path / layout
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"")
    (tmp_path / "vocabulary.csv").write_text("Index,Name\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"profile": "smoke", "num_classes": 7}))
    for data in (tmp_path, [str(shard)], [shard]):
        assert datasets.vocabulary_path(data) == tmp_path / "vocabulary.csv"
        assert datasets.load_manifest(data)["num_classes"] == 7
        assert datasets.manifest_classes(data) == 7
    # a file beside the shards themselves comes first
    (shard.parent / "vocabulary.csv").write_text("Index,Name\n")
    assert datasets.vocabulary_path([shard]) == shard.parent / "vocabulary.csv"
    assert datasets.vocabulary_path(tmp_path) == tmp_path / "vocabulary.csv"


def test_real_data_has_no_manifest_and_a_broken_one_gives_no_class_count(tmp_path):
    real = empty_dataset(tmp_path / "real", manifest=False)
    assert datasets.load_manifest(real) is None and datasets.manifest_classes(real) is None
    assert datasets.vocabulary_path(real) is None
    (real / "manifest.json").write_text("{not json")
    assert datasets.manifest_classes(real) is None
    (real / "manifest.json").write_text(json.dumps({"profile": "smoke"}))
    assert datasets.manifest_classes(real) is None


def test_a_vocabulary_given_must_exist_and_wins_over_the_datasets_own(tmp_path):
    data = empty_dataset(tmp_path / "data")
    (data / "vocabulary.csv").write_text("Index,Name\n")
    shards = sorted((data / "video").glob("train*.tfrecord"))
    assert datasets.resolve_vocabulary(None, shards) == data / "vocabulary.csv"
    other = tmp_path / "other.csv"
    other.write_text("Index,Name\n")
    assert datasets.resolve_vocabulary(str(other), shards) == other.resolve()
    with pytest.raises(DataError, match="vocabulary file not found"):
        datasets.resolve_vocabulary(tmp_path / "missing.csv", shards)


def test_num_classes_comes_from_the_manifest_else_the_vocabulary(data, tmp_path):
    assert datasets.num_classes_of(empty_dataset(tmp_path / "synth", num_classes=5)) == 5
    assert (data / "vocabulary.csv").is_file()
    real = empty_dataset(tmp_path / "real", manifest=False)
    (real / "vocabulary.csv").write_bytes((data / "vocabulary.csv").read_bytes())
    assert datasets.num_classes_of(real) == 30  # the tiny dataset's vocabulary rows
    (real / "vocabulary.csv").unlink()
    with pytest.raises(FileNotFoundError, match="no manifest.json and no vocabulary.csv"):
        datasets.num_classes_of(real)


def test_read_split_and_label_matrix_give_the_examples_and_their_labels(data):
    files = sorted((data / "video").glob("validate*.tfrecord"))
    examples = datasets.read_split(files, "video", num_classes=30)
    assert len(examples) == 24
    assert len(datasets.read_split(files, "video", num_classes=30, max_videos=5)) == 5
    y = datasets.label_matrix(examples, 30)
    assert y.shape == (24, 30) and y.dtype.name == "uint8"
    for row, example in zip(y, examples):
        assert sorted(row.nonzero()[0]) == sorted(example.labels)

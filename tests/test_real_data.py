"""yt8m_lib.data.splits and `yt8m real-data`: a folder of real shards split into train /
validate / test by shard, written as a manifest (split.json) with links to the shards, and
carried into the run records (``data.split``). Fake folders of small shards here; one test
makes the split of the real sample (skipped when it is absent)."""

from __future__ import annotations

import json

import pytest
from conftest import random_video_examples

from yt8m_lib import paths
from yt8m_lib.cli import main
from yt8m_lib.data import datasets, splits
from yt8m_lib.errors import ConfigError, DataError


def real_like_folder(folder, shards=8, videos=3, md5sums=True, vocabulary=True):
    """A folder laid out like the real sample: video_validate/validateNNNN.tfrecord (shard i
    holds 2 + i % ``videos`` videos), MD5SUMS and a vocabulary.csv."""
    from yt8m_lib.data.records import write_shard

    lines = []
    for i in range(shards):
        path = folder / "video_validate" / f"validate{i:04d}.tfrecord"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_shard(path, random_video_examples(2 + i % videos, seed=i, prefix=f"s{i}-"))
        lines.append(f"{splits.md5_file(path)}  video_validate/{path.name}")
    if md5sums:
        (folder / "MD5SUMS").write_text("\n".join(lines) + "\n")
    if vocabulary:
        (folder / "vocabulary.csv").write_text("Index,Name\n0,a\n")
    return folder


@pytest.fixture
def source(tmp_path):
    return real_like_folder(tmp_path / "real")


# --------------------------------------------------------------------------- the rule


def test_the_assignment_depends_on_the_names_and_the_seed_only():
    names = [f"validate{i:04d}.tfrecord" for i in range(80)]
    counts = {"train": 60, "validate": 10, "test": 10}
    first = splits.assign(names, counts, seed=0)
    assert splits.assign(list(reversed(names)), counts, seed=0) == first  # input order
    assert splits.assign(names, counts, seed=1) != first  # the seed matters
    assert {k: len(v) for k, v in first.items()} == {**counts, "unused": 0}
    every = [n for part in first.values() for n in part]
    assert sorted(every) == names  # each shard exactly once
    # not the name order: the held-out shards are spread over the numbering
    assert first["test"] != names[-10:] and first["validate"] != names[-20:-10]
    # the order of two shards does not depend on the others
    order = splits.shard_order(names, 0)
    fewer = splits.shard_order(names[::2], 0)
    assert fewer == [n for n in order if n in set(names[::2])]
    # shards beyond the counts stay unused
    part = splits.assign(names, {"train": 5, "validate": 1, "test": 1}, seed=0)
    assert len(part["unused"]) == 73 and part["train"] == sorted(order[:5])


def test_split_counts_default_to_six_one_one_and_reject_what_cannot_work():
    assert splits.split_counts(None, 80) == {"train": 60, "validate": 10, "test": 10}
    assert splits.split_counts(None, 4) == {"train": 2, "validate": 1, "test": 1}
    assert splits.split_counts("5/2/1", 8) == {"train": 5, "validate": 2, "test": 1}
    for text, message in [
        ("60/10", "three shard counts"),
        ("a/b/c", "three shard counts"),
        ("7/1/0", "the test split would have no shards"),
        ("6/2/2", "needs 10 shards, the folder has 8"),
    ]:
        with pytest.raises(ConfigError, match=message):
            splits.split_counts(text, 8)
    with pytest.raises(ConfigError, match="cannot be split"):
        splits.split_counts(None, 2)


# --------------------------------------------------------------------------- the manifest


def test_the_manifest_splits_by_shard_and_is_the_same_every_time(source, tmp_path):
    path = splits.make_real_data(source, tmp_path / "out", split="5/2/1", seed=3)
    manifest = splits.read_manifest(path)
    assert path == tmp_path / "out" / "split.json"
    assert manifest["format"] == "yt8m-shard-split" and manifest["version"] == 1
    assert manifest["source"] == str(source) and manifest["seed"] == 3
    assert manifest["md5_checked"] == 8 and manifest["unused"] == []
    names = {s: [x["name"] for x in manifest["splits"][s]["shards"]] for s in splits.SPLITS}
    assert {s: len(v) for s, v in names.items()} == {"train": 5, "validate": 2, "test": 1}
    assert len(set(sum(names.values(), []))) == 8  # no shard in two splits
    videos = {s: manifest["splits"][s]["num_videos"] for s in splits.SPLITS}
    assert sum(videos.values()) == manifest["totals"]["videos"] == sum(2 + i % 3 for i in range(8))
    shard = manifest["splits"]["test"]["shards"][0]
    assert shard["md5"] == splits.md5_file(source / shard["path"])
    assert shard["link"] == "video/test0000.tfrecord"
    # the same folder, counts and seed: the same bytes (no time stamp); another seed differs
    again = splits.make_real_data(source, tmp_path / "again", split="5/2/1", seed=3)
    assert again.read_bytes() == path.read_bytes()
    other = splits.make_real_data(source, tmp_path / "other", split="5/2/1", seed=4)
    assert splits.read_manifest(other)["id"] != manifest["id"]


def test_the_links_read_like_a_dataset_folder(source, tmp_path):
    out = tmp_path / "data" / "real"
    splits.make_real_data(source, out)  # default 6:1:1 of 8 shards
    found = datasets.split_files(out, "video")
    assert {s: len(f) for s, f in found.items()} == {"train": 6, "validate": 1, "test": 1}
    assert [f.name for f in found["train"]] == [f"train{i:04d}.tfrecord" for i in range(6)]
    assert all(f.is_symlink() for fs in found.values() for f in fs)
    assert (out / "vocabulary.csv").is_symlink()
    assert datasets.vocabulary_path(out) == out / "vocabulary.csv"
    manifest = splits.read_manifest(out)
    for split, files in splits.split_files(out).items():
        targets = [source / s["path"] for s in manifest["splits"][split]["shards"]]
        assert [f.resolve() for f in files] == [t.resolve() for t in targets]
        assert files == found[split]
    # made again with another split: the old links go, the new ones replace them
    splits.make_real_data(source, out, split="2/1/1")
    assert len(list((out / "video").glob("*.tfrecord"))) == 4
    # a regular file in the way is never overwritten
    (out / "video" / "train0000.tfrecord").unlink()
    (out / "video" / "train0000.tfrecord").write_bytes(b"downloaded")
    with pytest.raises(ConfigError, match="a file, not a link"):
        splits.make_real_data(source, out)


def test_without_md5sums_or_links_the_manifest_still_records_every_md5(tmp_path):
    folder = real_like_folder(tmp_path / "bare", shards=3, md5sums=False, vocabulary=False)
    path = splits.make_real_data(folder, tmp_path / "out", links=False)
    manifest = splits.read_manifest(path)
    assert manifest["md5_checked"] == 0 and manifest["vocabulary"] is None
    assert all(len(s["md5"]) == 32 for x in manifest["splits"].values() for s in x["shards"])
    assert not (tmp_path / "out" / "video").exists()
    files = splits.split_files(path)  # no links: the source shards
    assert files["test"][0].parent == folder / "video_validate"


def edit(path, change):
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    return splits.read_manifest(path)


def test_validation_names_each_problem_in_one_line(source, tmp_path):
    path = splits.make_real_data(source, tmp_path / "out", split="5/2/1")
    manifest = splits.read_manifest(path)
    splits.validate_manifest(manifest, path)  # as made: fine
    test_shard = manifest["splits"]["test"]["shards"][0]

    def shard_in_two(m):
        m["splits"]["train"]["shards"].append(m["splits"]["test"]["shards"][0])

    bad = edit(path, shard_in_two)
    with pytest.raises(DataError, match=f"shard {test_shard['name']} is in both train and test"):
        splits.validate_manifest(bad, path)

    def empty_validate(m):
        m["splits"]["validate"]["shards"] = []

    with pytest.raises(DataError, match="split 'validate' has no shards"):
        splits.validate_manifest(edit(path, empty_validate), path)

    path = splits.make_real_data(source, tmp_path / "out", split="5/2/1")
    target = source / test_shard["path"]
    target.write_bytes(target.read_bytes() + b"x")
    with pytest.raises(DataError, match="md5 mismatch: the manifest says") as caught:
        splits.validate_manifest(manifest, path)
    assert str(target) in str(caught.value) and "\n" not in str(caught.value)
    target.unlink()
    with pytest.raises(DataError, match="shard of the test split is missing"):
        splits.validate_manifest(manifest, path)
    with pytest.raises(DataError, match="not a split manifest"):
        edit(path, lambda m: m.update(format="other"))
    with pytest.raises(DataError, match="split manifest not found"):
        splits.read_manifest(tmp_path / "nowhere")


def test_a_shard_that_disagrees_with_md5sums_stops_the_manifest(source, tmp_path):
    sums = source / "MD5SUMS"
    sums.write_text(sums.read_text().replace(sums.read_text()[:32], "0" * 32, 1))
    with pytest.raises(DataError, match="validate0000.tfrecord: md5 mismatch: MD5SUMS says 0"):
        splits.make_real_data(source, tmp_path / "out")
    assert not (tmp_path / "out" / "split.json").exists()


# --------------------------------------------------------------------------- run records


def test_split_of_summarises_the_manifest_above_the_shards(source, tmp_path, monkeypatch):
    out = tmp_path / "data_real"
    path = splits.make_real_data(source, out, split="5/2/1")
    summary = splits.split_of(
        str(out / "video" / "train*.tfrecord"), [out / "video" / "test0000.tfrecord"]
    )
    assert summary["manifest"] == str(path) and summary["sha256"] == splits.sha256_file(path)
    assert summary["id"] == splits.read_manifest(path)["id"]
    assert summary["shards"] == {"train": 5, "validate": 2, "test": 1}
    assert summary["train_from"] == ["train"] and summary["val_from"] == ["test"]
    # relative paths find it too (the records keep the paths as given)
    monkeypatch.chdir(tmp_path)
    assert splits.split_of(["data_real/video/validate0001.tfrecord"])["train_from"] == ["validate"]
    # the source shards themselves have no manifest beside them
    assert splits.split_of([source / "video_validate" / "validate0000.tfrecord"]) is None


def test_a_training_record_carries_the_split(source, tmp_path):
    from yt8m_lib.config import get_profile
    from yt8m_lib.training import new_training_record

    out = tmp_path / "data_real"
    splits.make_real_data(source, out, split="5/2/1")
    settings = get_profile("smoke")

    def record(train, val):
        return new_training_record(
            framework="torch",
            model="fc",
            features="raw",
            profile="smoke",
            seed=0,
            model_config=settings.model,
            train_config=settings.train,
            train_paths=train,
            val_paths=val,
            level="video",
            num_classes=50,
            vocabulary=None,
        )

    video = out / "video"
    split = record(sorted(video.glob("train*")), sorted(video.glob("validate*")))["data"]["split"]
    assert split["manifest"] == str(out / "split.json")
    assert split["train_from"] == ["train"] and split["val_from"] == ["validate"]
    assert (
        split["videos"]["train"]
        == json.loads((out / "split.json").read_text())["splits"]["train"]["num_videos"]
    )
    plain = record(sorted((source / "video_validate").glob("*"))[:2], [])
    assert plain["data"]["split"] is None


# --------------------------------------------------------------------------- the command


def test_the_command_writes_the_split_and_says_what_it_made(source, tmp_path, capsys):
    out = tmp_path / "data" / "real"
    assert main(["real-data", str(source), "--out", str(out), "--split", "4/2/2"]) == 0
    printed = capsys.readouterr().out
    assert f"{out / 'split.json'}: train 4 shards" in printed and "test 2 shards" in printed
    assert len(list((out / "video").glob("validate*.tfrecord"))) == 2
    assert main(["real-data", str(source), "--out", str(out), "--split", "9/1/1"]) == 2
    assert "needs 11 shards, the folder has 8" in capsys.readouterr().err


def test_without_a_folder_the_command_finds_the_sample_or_says_how_to_get_it(
    source, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("YT8M_REAL_DIR", str(source))
    assert main(["real-data", "--out", str(tmp_path / "out"), "--no-links"]) == 0
    assert splits.read_manifest(tmp_path / "out")["source"] == str(source)
    monkeypatch.setenv("YT8M_REAL_DIR", str(tmp_path / "absent"))
    assert main(["real-data", "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "YT8M_REAL_DIR" in err and "yt8m download --partition 2/video/validate" in err


@pytest.mark.real_data
def test_the_real_sample_splits_60_10_10(tmp_path):
    real = paths.real_dir()
    if real is None or not list(real.glob("video_validate/*.tfrecord")):
        pytest.skip("real YouTube-8M shards not on this machine")
    manifest = splits.make_manifest(real, "60/10/10", seed=0)
    assert {s: manifest["splits"][s]["num_shards"] for s in splits.SPLITS} == {
        "train": 60,
        "validate": 10,
        "test": 10,
    }
    assert manifest["totals"] == {"shards": 80, "videos": 23091}
    assert manifest["md5_checked"] == 80 and manifest["unused"] == []
    assert splits.make_manifest(real, None, seed=0) == {**manifest, "requested": None}

"""`yt8m inspect` and `yt8m export`: summaries, .npz contents, and a non-zero exit with a
message naming file and record on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import random_frame_examples, random_video_examples

from yt8m_lib.cli import main
from yt8m_lib.data.features import dequantize
from yt8m_lib.data.records import write_shard


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def video_files(tmp_path):
    """Two video shards; the id 'v0001' appears in both (a duplicate)."""
    first = random_video_examples(4, num_classes=20, seed=1)
    second = random_video_examples(3, num_classes=20, seed=2, prefix="w")
    second[1].id = "v0001"
    first[0].labels = np.array([19])
    first[1].labels = np.zeros(0, np.int64)
    first[2].labels = np.array([0, 5])
    write_shard(tmp_path / "train0000.tfrecord", first)
    write_shard(tmp_path / "train0001.tfrecord", second)
    return tmp_path, first + second


@pytest.fixture
def frame_file(tmp_path):
    examples = random_frame_examples(3, num_classes=20, min_frames=2, max_frames=9)
    examples[0].labels = np.array([4, 11])
    path = tmp_path / "frame0000.tfrecord"
    write_shard(path, examples)
    return path, examples


def write_vocabulary(path, rows: int):
    lines = [
        "Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,"
        "Vertical3,WikiDescription"
    ]
    lines += [f'{i},10,/m/{i},"Name, {i}",,Games,,,"multi\nline"' for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_inspect_json_video(capsys, video_files):
    folder, examples = video_files
    code, out, _ = run_cli(capsys, "inspect", str(folder / "train*.tfrecord"), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["level"] == "video" and summary["files"] == 2
    assert summary["records"] == 7 and summary["videos"] == 6
    assert summary["duplicate_ids"] == 1 and summary["duplicate_id_examples"] == ["v0001"]
    counts = [len(ex.labels) for ex in examples]
    assert summary["labels_per_video"] == {
        "mean": round(float(np.mean(counts)), 4),
        "min": float(min(counts)),
        "max": float(max(counts)),
    }
    assert summary["videos_without_labels"] == counts.count(0) >= 1
    assert summary["label_range"] == {"min": 0, "max": 19}
    low = min(float(ex.mean_rgb.min()) for ex in examples)
    assert summary["value_ranges"]["rgb"]["min"] == pytest.approx(low, abs=1e-6)


def test_inspect_table_frame(capsys, frame_file):
    path, examples = frame_file
    code, out, _ = run_cli(capsys, "inspect", str(path))
    assert code == 0
    frames = [ex.num_frames for ex in examples]
    assert re.search(r"^level +frame$", out, re.M)
    assert re.search(
        rf"^frames per video +mean {np.mean(frames):.2f}, min {min(frames)}, "
        rf"max {max(frames)}$",
        out,
        re.M,
    )
    assert "rgb values (dequantized)" in out and "-1.99" in out


def test_inspect_checks_labels_against_the_vocabulary(capsys, video_files, tmp_path):
    folder, _ = video_files
    vocabulary = write_vocabulary(tmp_path / "vocabulary.csv", 19)  # label 19 is then invalid
    code, out, err = run_cli(
        capsys, "inspect", str(folder / "train0000.tfrecord"), "--vocabulary", str(vocabulary)
    )
    assert code == 2 and out == ""
    assert "train0000.tfrecord, record 0: label 19 is outside the vocabulary of 19" in err
    assert (
        run_cli(capsys, "inspect", str(folder / "train0000.tfrecord"), "--num-classes", "20")[0]
        == 0
    )


def test_inspect_exits_non_zero_on_a_corrupted_file(video_files):
    """Through the module entry point, as a user would run it."""
    folder, examples = video_files
    path = folder / "train0001.tfrecord"
    data = bytearray(path.read_bytes())
    # damage one float of record 1's mean_rgb: still a valid Example, so only the CRC sees it
    data[data.find(examples[5].mean_rgb[10:12].tobytes())] ^= 0x10
    path.write_bytes(bytes(data))
    command = [sys.executable, "-m", "yt8m_lib", "inspect", str(folder / "*.tfrecord")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert "train0001.tfrecord, record 1: bad CRC" in result.stderr
    assert "Traceback" not in result.stderr
    unchecked = subprocess.run(command + ["--no-verify-crc"], capture_output=True, text=True)
    assert unchecked.returncode == 0, unchecked.stderr


def test_inspect_missing_and_mixed_inputs(capsys, tmp_path, video_files, frame_file):
    code, _, err = run_cli(capsys, "inspect", str(tmp_path / "nothing*.tfrecord"))
    assert code == 2 and "no files match" in err
    folder, _ = video_files
    code, _, err = run_cli(capsys, "inspect", str(folder / "*.tfrecord"))
    assert code == 2 and "video-level file among frame-level files" in err


def test_export_video_level(capsys, video_files, tmp_path):
    folder, examples = video_files
    out = tmp_path / "out" / "video.npz"
    code, stdout, _ = run_cli(
        capsys, "export", str(folder / "train*.tfrecord"), "--out", str(out), "--num-classes", "25"
    )
    assert code == 0 and "wrote" in stdout
    data = np.load(out)
    assert set(data.files) == {"ids", "labels", "mean_rgb", "mean_audio"}
    assert data["ids"].tolist() == [ex.id for ex in examples]
    assert data["labels"].dtype == np.uint8 and data["labels"].shape == (7, 25)
    for row, ex in zip(data["labels"], examples):
        assert np.flatnonzero(row).tolist() == sorted(ex.labels.tolist())
    np.testing.assert_array_equal(data["mean_rgb"], np.stack([ex.mean_rgb for ex in examples]))
    np.testing.assert_array_equal(data["mean_audio"], np.stack([ex.mean_audio for ex in examples]))


def test_export_classes_from_vocabulary_or_largest_label(capsys, video_files, tmp_path):
    folder, _ = video_files
    vocabulary = write_vocabulary(tmp_path / "vocabulary.csv", 30)
    out = tmp_path / "a.npz"
    assert (
        main(
            [
                "export",
                str(folder / "*.tfrecord"),
                "--out",
                str(out),
                "--vocabulary",
                str(vocabulary),
            ]
        )
        == 0
    )
    assert np.load(out)["labels"].shape == (7, 30)
    assert main(["export", str(folder / "*.tfrecord"), "--out", str(out)]) == 0
    assert np.load(out)["labels"].shape[1] == 20  # largest label is 19


def test_export_frame_level(capsys, frame_file, tmp_path):
    path, examples = frame_file
    out = tmp_path / "frames.npz"
    assert main(["export", str(path), "--out", str(out)]) == 0
    data = np.load(out)
    assert data["rgb"].shape == (3, 300, 1024) and data["audio"].shape == (3, 300, 128)
    assert data["rgb"].dtype == np.float32
    assert data["num_frames"].tolist() == [ex.num_frames for ex in examples]
    for i, ex in enumerate(examples):
        n = ex.num_frames
        np.testing.assert_array_equal(data["rgb"][i, :n], dequantize(ex.rgb))
        np.testing.assert_array_equal(data["audio"][i, :n], dequantize(ex.audio))
        assert not data["rgb"][i, n:].any() and not data["audio"][i, n:].any()
    assert np.flatnonzero(data["labels"][0]).tolist() == [4, 11]


def test_export_fails_without_writing_on_bad_input(capsys, frame_file, tmp_path):
    path, _ = frame_file
    path.write_bytes(path.read_bytes()[:-3])
    out = tmp_path / "never.npz"
    code, _, err = run_cli(capsys, "export", str(path), "--out", str(out))
    assert code == 2 and "record 2: truncated" in err
    assert not out.exists()

"""The tf.data baseline (``benchmarks.tf_data``), which the benchmarks compare the project's
reader against: the same batches as the project's numpy path, and bad records named by file
and record there too."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import files  # noqa: E402

from benchmarks import tf_data as kdata  # noqa: E402
from yt8m_lib.data import features as F  # noqa: E402
from yt8m_lib.data.records import iter_examples, write_shard  # noqa: E402
from yt8m_lib.errors import DataError  # noqa: E402

pytestmark = pytest.mark.xdist_group("tf_data")
REPO = Path(__file__).resolve().parents[1]


def tf_batches(paths, level, **kwargs):
    dataset = kdata.make_dataset(paths, level, num_classes=30, batch_size=7, **kwargs)
    batches = list(kdata.iterate(dataset))
    out = {k: np.concatenate([b[k] for b in batches]) for k in batches[0] if k != "id"}
    out["id"] = sum((kdata.ids_to_str(b["id"]) for b in batches), [])
    return out


# ------------------------------------------------------------------ input pipeline


@pytest.mark.parametrize("mode", ["uniform", "random", "all"])
@pytest.mark.parametrize("readers", [1, 3])
def test_frame_batches_equal_the_numpy_path(data, mode, readers):
    """Same videos, same order (shuffle buffer off), same frames, same values."""
    paths = files(data, "frame", "train")
    for reader in range(readers):
        got = tf_batches(
            paths,
            "frame",
            seed=5,
            epoch=2,
            frames_per_video=8,
            frame_sampling=mode,
            reader_index=reader,
            num_readers=readers,
        )
        examples = list(
            iter_examples(
                paths,
                "frame",
                seed=5,
                epoch=2,
                reader_index=reader,
                num_readers=readers,
                max_frames=300,
            )
        )
        # the PyTorch pipeline's batch (yt8m_lib.torch.data collates with frame_batch)
        ref = F.frame_batch(examples, 30, 8, mode, [F.frame_rng(5, 2, ex.id) for ex in examples])
        assert got["id"] == ref["id"]
        np.testing.assert_array_equal(got["num_frames"], ref["num_frames"])
        np.testing.assert_array_equal(got["labels"], ref["labels"])
        for key in ("rgb", "audio", "mean_rgb", "mean_audio"):
            np.testing.assert_allclose(got[key], ref[key], atol=1e-6, err_msg=key)


def test_frame_batches_without_the_video_means(data):
    """video_means=False (every frame-level model but hybrid): the same batches, no means."""
    paths = files(data, "frame", "validate")
    full = tf_batches(paths, "frame", seed=None, frames_per_video=8)
    lean = tf_batches(paths, "frame", seed=None, frames_per_video=8, video_means=False)
    assert set(full) - set(lean) == {"mean_rgb", "mean_audio"}
    for key in ("rgb", "audio", "num_frames", "labels"):
        np.testing.assert_array_equal(lean[key], full[key], err_msg=key)


def test_video_batches_equal_the_numpy_path_and_shuffling_keeps_the_set(data):
    paths = files(data, "video", "train")
    got = tf_batches(paths, "video", seed=1, epoch=0)
    ref = F.video_batch(list(iter_examples(paths, "video", seed=1, epoch=0)), 30)
    assert got["id"] == ref["id"]
    np.testing.assert_allclose(got["rgb"], ref["rgb"], atol=1e-6)
    np.testing.assert_array_equal(got["labels"], ref["labels"])
    shuffled = tf_batches(paths, "video", seed=1, epoch=0, shuffle_buffer=32)["id"]
    assert shuffled != got["id"] and sorted(shuffled) == sorted(got["id"])
    assert tf_batches(paths, "video", seed=1, epoch=0, shuffle_buffer=32)["id"] == shuffled
    assert tf_batches(paths, "video", seed=1, epoch=1, shuffle_buffer=32)["id"] != shuffled


def test_a_label_outside_the_classes_names_the_file_and_record(tmp_path):
    from conftest import random_video_examples

    path = tmp_path / "bad.tfrecord"
    examples = random_video_examples(4, num_classes=5)
    examples[2].labels = np.array([1, 7])  # record 2, inside the batch of 4 parsed at once
    write_shard(path, examples)
    with pytest.raises(DataError) as info:
        list(kdata.iterate(kdata.make_dataset(path, "video", num_classes=5, batch_size=4)))
    assert info.value.path == str(path) and info.value.record == 2
    assert "label outside 0..4" in info.value.problem


def _frame_record_with(change) -> bytes:
    """A frame-level record of 3 frames, with ``change(SequenceExample)`` applied."""
    from conftest import random_frame_examples

    from yt8m_lib.data.records import SequenceExample, serialize_frame_example

    message = SequenceExample()
    message.ParseFromString(
        serialize_frame_example(
            random_frame_examples(1, num_classes=5, min_frames=3, max_frames=3)[0]
        )
    )
    change(message)
    return message.SerializeToString()


def _drop_last_audio_frame(message):
    del message.feature_lists.feature_list["audio"].feature[-1]


def _shorten_an_rgb_frame(message):
    frame = message.feature_lists.feature_list["rgb"].feature[1].bytes_list
    frame.value[0] = frame.value[0][:1000]


def _no_frames(message):
    for key in ("rgb", "audio"):
        del message.feature_lists.feature_list[key].feature[:]


@pytest.mark.parametrize(
    "bad_record, problem",
    [
        (lambda: _frame_record_with(lambda m: None)[:-60], "Invalid protocol message"),
        (lambda: _frame_record_with(_drop_last_audio_frame), "different numbers of frames"),
        (lambda: _frame_record_with(_shorten_an_rgb_frame), "rgb frame is not 1024 bytes"),
        (lambda: _frame_record_with(_no_frames), "no frames"),
    ],
    ids=["truncated", "frame counts", "frame size", "no frames"],
)
def test_a_bad_frame_record_inside_a_batch_names_its_file_and_record(tmp_path, bad_record, problem):
    """Frame-level records are parsed a batch at a time; the error still names record 2."""
    from conftest import random_frame_examples

    from yt8m_lib.data.records import serialize_frame_example
    from yt8m_lib.data.tfrecord import write_records

    good = [serialize_frame_example(ex) for ex in random_frame_examples(4, num_classes=5)]
    path = tmp_path / "bad.tfrecord"
    write_records(path, good[:2] + [bad_record()] + good[3:])
    with pytest.raises(DataError) as info:
        list(
            kdata.iterate(
                kdata.make_dataset(path, "frame", num_classes=5, batch_size=4, frames_per_video=2)
            )
        )
    assert (info.value.path, info.value.record) == (str(path), 2)
    assert problem in info.value.problem


def test_a_video_record_without_a_feature_names_its_file_and_record(tmp_path):
    from conftest import random_video_examples

    from yt8m_lib.data.records import serialize_video_example
    from yt8m_lib.data.tfrecord import write_records

    payloads = [serialize_video_example(ex) for ex in random_video_examples(4, num_classes=5)]
    payloads[1] = payloads[1].replace(b"mean_rgb", b"mean_xyz")
    path = tmp_path / "bad.tfrecord"
    write_records(path, payloads)
    with pytest.raises(DataError) as info:
        list(kdata.iterate(kdata.make_dataset(path, "video", num_classes=5, batch_size=4)))
    assert (info.value.path, info.value.record) == (str(path), 1)
    assert "mean_rgb" in info.value.problem


def test_a_truncated_video_record_is_a_clear_data_error(tmp_path):
    """TensorFlow's message quotes the record's bytes (not text): still a DataError."""
    from conftest import random_video_examples

    from yt8m_lib.data.records import serialize_video_example
    from yt8m_lib.data.tfrecord import write_records

    payloads = [serialize_video_example(ex) for ex in random_video_examples(4, num_classes=5)]
    payloads[2] = payloads[2][:-50]
    path = tmp_path / "bad.tfrecord"
    write_records(path, payloads)
    with pytest.raises(DataError, match="not a valid tf.train.Example"):
        list(kdata.iterate(kdata.make_dataset(path, "video", num_classes=5, batch_size=4)))


def test_frame_records_read_as_video_level_are_refused(data):
    with pytest.raises(DataError, match="mean_"):
        list(
            kdata.iterate(
                kdata.make_dataset(
                    files(data, "frame", "validate"), "video", num_classes=30, batch_size=4
                )
            )
        )

"""Model inputs from records: exact (de)quantization, frame sampling, normalisation, labels,
padding and batching."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import random_frame_examples, random_video_examples

from yt8m_lib.data.features import (
    dequantize,
    frame_batch,
    frame_inputs,
    frame_rng,
    l2_normalize,
    multi_hot,
    multi_hot_batch,
    quantize,
    sample_frame_indices,
    video_batch,
    video_inputs,
)
from yt8m_lib.data.records import FrameExample


def test_dequantize_is_the_official_formula():
    every = np.arange(256, dtype=np.uint8)
    out = dequantize(every)
    assert out.dtype == np.float32
    assert out[0] == -1.9921875 and out[255] == 2.0078125
    # float32 arithmetic as in the starter code (x * scalar + bias, both cast to float32) ...
    np.testing.assert_array_equal(
        out, every.astype(np.float32) * np.float32(4 / 255) + np.float32(4 / 512 - 2)
    )
    # ... which is the exact formula to within float32 rounding
    np.testing.assert_allclose(
        out, every.astype(np.float64) * 4 / 255 + 4 / 512 - 2, rtol=0, atol=4e-7
    )


def test_quantize_inverts_dequantize_for_every_byte():
    every = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(quantize(dequantize(every)), every)


def test_quantize_rounds_and_clips():
    assert quantize(np.array([-5.0, -2.0, 0.0, 2.0, 7.0])).tolist() == [0, 0, 128, 255, 255]
    assert quantize(np.array([-2 + 4 / 255 * 0.49, -2 + 4 / 255 * 0.51])).tolist() == [0, 1]
    assert quantize(np.zeros(3)).dtype == np.uint8


def test_uniform_sampling_spreads_over_the_real_frames():
    assert sample_frame_indices(10, 5, "uniform").tolist() == [1, 3, 5, 7, 9]
    idx = sample_frame_indices(300, 32, "uniform")
    assert len(idx) == 32 and np.all(np.diff(idx) > 0) and idx[0] < 10 and idx[-1] > 290
    assert sample_frame_indices(3, 8, "uniform").tolist() == [0, 1, 2]  # fewer frames than k


def test_all_sampling_takes_the_first_k():
    assert sample_frame_indices(10, 4, "all").tolist() == [0, 1, 2, 3]
    assert sample_frame_indices(2, 4, "all").tolist() == [0, 1]


def test_random_sampling_is_a_sorted_draw_without_replacement():
    idx = sample_frame_indices(100, 20, "random", frame_rng(0, 0, "abc"))
    assert len(set(idx.tolist())) == 20 and np.all(np.diff(idx) > 0) and idx.max() < 100
    again = sample_frame_indices(100, 20, "random", frame_rng(0, 0, "abc"))
    other = sample_frame_indices(100, 20, "random", frame_rng(0, 1, "abc"))
    assert idx.tolist() == again.tolist() != other.tolist()
    with pytest.raises(ValueError, match="rng"):
        sample_frame_indices(100, 20, "random")
    with pytest.raises(ValueError, match="unknown frame sampling"):
        sample_frame_indices(100, 20, "middle")


def test_frame_rng_is_the_same_in_another_process():
    code = (
        "from yt8m_lib.data.features import frame_rng; "
        "print(frame_rng(5, 2, 'video-x').integers(1 << 30, size=3).tolist())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    ).stdout.strip()
    assert other == str(frame_rng(5, 2, "video-x").integers(1 << 30, size=3).tolist())


def test_l2_normalize_uses_the_joint_norm():
    rng = np.random.default_rng(0)
    rgb, audio = rng.normal(size=(4, 1024)).astype(np.float32), rng.normal(size=(4, 128))
    rgb[3], audio[3] = 0, 0  # a padding row
    n_rgb, n_audio = l2_normalize(rgb, audio.astype(np.float32))
    norms = np.sqrt((n_rgb**2).sum(-1) + (n_audio**2).sum(-1))
    np.testing.assert_allclose(norms[:3], 1, rtol=1e-6)
    assert norms[3] == 0 and np.isfinite(n_rgb).all()
    # one factor for both streams: their ratio is unchanged
    np.testing.assert_allclose(n_rgb[0, 0] / n_audio[0, 0], rgb[0, 0] / audio[0, 0], rtol=1e-5)
    single_rgb, _ = l2_normalize(rgb[0], audio[0].astype(np.float32))
    np.testing.assert_allclose(single_rgb, n_rgb[0], rtol=1e-6)


def test_multi_hot():
    assert multi_hot([0, 3], 5).tolist() == [1, 0, 0, 1, 0]
    assert multi_hot(np.zeros(0, np.int64), 3).tolist() == [0, 0, 0]
    assert multi_hot([1], 2).dtype == np.float32
    with pytest.raises(ValueError):
        multi_hot([5], 5)


def test_video_inputs():
    ex = random_video_examples(1, num_classes=10)[0]
    ex.labels = np.array([2, 7])
    raw = video_inputs(ex, 10, normalize=False)
    assert raw["id"] == ex.id and raw["labels"].tolist() == multi_hot([2, 7], 10).tolist()
    np.testing.assert_array_equal(raw["rgb"], ex.mean_rgb)
    normalized = video_inputs(ex, 10, normalize=True)
    norm = np.sqrt((normalized["rgb"] ** 2).sum() + (normalized["audio"] ** 2).sum())
    assert abs(norm - 1) < 1e-5 and normalized["rgb"].shape == (1024,)


def test_frame_inputs_pad_sample_and_average_all_frames():
    ex = random_frame_examples(1, min_frames=6, max_frames=6)[0]
    ex.labels = np.array([1])
    out = frame_inputs(ex, 4, k=8, mode="all", normalize=False)
    assert out["rgb"].shape == (8, 1024) and out["audio"].shape == (8, 128)
    assert out["num_frames"] == 6 and out["labels"].tolist() == [0, 1, 0, 0]
    np.testing.assert_array_equal(out["rgb"][:6], dequantize(ex.rgb))
    assert not out["rgb"][6:].any() and not out["audio"][6:].any()
    # the means cover every real frame, even when only some are sampled
    few = frame_inputs(ex, 4, k=2, mode="uniform", normalize=False)
    assert few["num_frames"] == 2
    np.testing.assert_allclose(few["mean_rgb"], dequantize(ex.rgb).mean(0), atol=1e-6)
    np.testing.assert_allclose(few["mean_audio"], dequantize(ex.audio).mean(0), atol=1e-6)
    np.testing.assert_array_equal(few["rgb"], dequantize(ex.rgb[[1, 4]]))


@pytest.mark.parametrize("frames", [1, 257, 258, 600])
def test_video_means_are_exact_for_long_videos_of_bright_frames(frames):
    """The byte sums are accumulated in uint16 blocks: all-255 frames would overflow a block
    longer than 257 frames. The mean equals dequantize(float64 mean of the bytes)."""
    rgb = np.full((frames, 1024), 255, np.uint8)
    rgb[-1, :3] = (0, 1, 254)  # the last frame must count too
    audio = np.random.default_rng(frames).integers(0, 256, (frames, 128), dtype=np.uint8)
    ex = FrameExample(id="long", labels=np.array([1]), rgb=rgb, audio=audio, segments=None)
    out = frame_inputs(ex, 4, k=2, mode="uniform", normalize=False)
    for key, data in (("mean_rgb", rgb), ("mean_audio", audio)):
        # the float64 mean through dequantize's float32 constants
        mean = data.astype(np.float64).mean(0)
        expected = (mean * np.float32(4 / 255) + np.float32(4 / 512 - 2)).astype(np.float32)
        np.testing.assert_array_equal(out[key], expected)


def test_frame_inputs_leave_out_the_means_when_the_model_does_not_read_them():
    """Only hybrid reads the video means (config.reads_video_means); the others' pipelines
    skip the pass over every frame and hand out the very same frames and labels."""
    from yt8m_lib.config import MODEL_NAMES, reads_video_means

    assert [m for m in MODEL_NAMES if reads_video_means(m)] == ["hybrid"]
    ex = random_frame_examples(1, min_frames=9, max_frames=9)[0]
    full = frame_inputs(ex, 50, k=4, mode="uniform")
    lean = frame_inputs(ex, 50, k=4, mode="uniform", video_means=False)
    assert set(full) - set(lean) == {"mean_rgb", "mean_audio"}
    for key in lean:
        np.testing.assert_array_equal(np.asarray(lean[key]), np.asarray(full[key]), key)


def test_frame_inputs_normalize_frames_and_means():
    ex = random_frame_examples(1, min_frames=5, max_frames=5)[0]
    out = frame_inputs(ex, 50, k=7, mode="all", normalize=True)
    norms = np.sqrt((out["rgb"] ** 2).sum(-1) + (out["audio"] ** 2).sum(-1))
    np.testing.assert_allclose(norms[:5], 1, rtol=1e-5)
    assert not norms[5:].any()
    mean_norm = np.sqrt((out["mean_rgb"] ** 2).sum() + (out["mean_audio"] ** 2).sum())
    assert abs(mean_norm - 1) < 1e-5


def _stacked(items: list[dict]) -> dict:
    """Per-video inputs stacked into a batch by hand: the reference for the batch builders."""
    return {
        key: [item[key] for item in items]
        if key == "id"
        else np.stack([np.asarray(item[key]) for item in items])
        for key in items[0]
    }


@pytest.mark.parametrize("mode", ["uniform", "random", "all"])
@pytest.mark.parametrize("normalize", [True, False])
def test_a_batch_holds_each_video_exactly_as_alone(mode, normalize):
    """Whole-batch dequantization, normalisation and labels (what the PyTorch pipeline
    collates with) give every video the very values it gets in a batch of its own: videos
    shorter than k are padded with zeros, longer ones sampled, none leaks into another."""
    examples = random_frame_examples(6, min_frames=2, max_frames=20)
    assert len({ex.num_frames for ex in examples}) > 1
    rngs = lambda: [frame_rng(1, 0, ex.id) for ex in examples]  # noqa: E731
    batch = frame_batch(examples, 50, 8, mode, rngs() if mode == "random" else None, normalize)
    alone = _stacked(
        [
            frame_inputs(ex, 50, 8, mode, rng if mode == "random" else None, normalize)
            for ex, rng in zip(examples, rngs())
        ]
    )
    assert batch["id"] == alone["id"] and batch["num_frames"].dtype == np.int64
    for key in ("rgb", "audio", "num_frames", "mean_rgb", "mean_audio", "labels"):
        np.testing.assert_array_equal(batch[key], alone[key], err_msg=key)
        assert batch[key].dtype == alone[key].dtype, key
    short = batch["num_frames"] < 8
    assert short.any() and not batch["rgb"][0, batch["num_frames"][0] :].any()
    videos = random_video_examples(5)
    np.testing.assert_array_equal(
        video_batch(videos, 50, normalize)["rgb"],
        _stacked([video_inputs(ex, 50, normalize) for ex in videos])["rgb"],
    )


def test_multi_hot_batch_names_the_bad_labels():
    out = multi_hot_batch([[0, 2], [], [1]], 3)
    assert out.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]] and out.dtype == np.float32
    with pytest.raises(ValueError, match=r"labels \[1, 3\] outside 0..2"):
        multi_hot_batch([[0], [1, 3]], 3)
    with pytest.raises(ValueError, match="outside"):
        multi_hot_batch([[-1]], 3)


def test_dequantize_is_the_float32_affine_map_also_into_a_given_array():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = x.astype(np.float32) * np.float32(4 / 255) + np.float32(4 / 512 - 2)
    np.testing.assert_array_equal(dequantize(x), expected)
    out = np.empty((16, 16), np.float32)
    assert dequantize(x, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_batch_shapes_and_keys():
    examples = random_frame_examples(3)
    batch = frame_batch(examples, 50, k=4, mode="uniform")
    assert batch["id"] == [ex.id for ex in examples]
    assert batch["rgb"].shape == (3, 4, 1024) and batch["labels"].shape == (3, 50)
    assert batch["num_frames"].dtype == np.int64 and batch["num_frames"].tolist() == [4, 4, 4]
    assert batch["mean_audio"].shape == (3, 128)
    video = video_batch(random_video_examples(2), 50)
    assert set(video) == {"id", "rgb", "audio", "labels"} and video["rgb"].shape == (2, 1024)


def test_frame_example_num_frames():
    ex = FrameExample(
        "x", np.zeros(0, np.int64), np.zeros((9, 1024), np.uint8), np.zeros((9, 128), np.uint8)
    )
    assert ex.num_frames == 9


def test_the_data_layer_imports_no_framework():
    code = (
        "import sys, yt8m_lib.data.records, yt8m_lib.data.features, "
        "yt8m_lib.data.inspection, yt8m_lib.data.tfrecord; "
        "print(sorted(m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

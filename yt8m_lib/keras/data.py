"""tf.data input pipeline: the same batches as ``yt8m_lib.torch.data``, built with TensorFlow ops.

Per epoch and reader (reader = worker index of a multi-worker run):

1. files: sorted, then permuted by (seed, epoch) exactly as ``yt8m_lib.records.iter_examples``
   does; reader ``r`` of ``N`` takes whole files ``r, r+N, …`` when there are at least N
   files, otherwise every N-th record of the concatenated stream (the same rule);
2. ``TFRecordDataset`` over those files in that order, each record tagged with its file and
   index (so a bad record is reported by name), then a shuffle buffer seeded by
   (seed, epoch, reader) - tf.data's own shuffle, so the order within the buffer is not the
   PyTorch pipeline's; the set of videos per epoch and reader is the same;
3. parallel parsing (video level: a batch at a time with ``tf.io.parse_example``; frame
   level: per record with ``parse_single_sequence_example``,
   ``decode_raw``), dequantization ``x*4/255 + 4/512 - 2``, the SAME frame indices as
   ``yt8m_lib.features.sample_frame_indices`` ('uniform' and 'all' in TensorFlow ops with the
   same float64 arithmetic, 'random' through ``tf.numpy_function`` with ``frame_rng``), the
   video means over all real frames, L2 normalisation of concat(rgb, audio), right padding to
   k frames, multi-hot labels;
4. batching and prefetching.

Batches are dicts with the keys of the contract: ``id`` (bytes), ``rgb``, ``audio``,
``labels`` and, at frame level, ``num_frames`` (int32), ``mean_rgb``, ``mean_audio``.
"""

from __future__ import annotations

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (the real TensorFlow: absolute import)

from yt8m_lib import features as F  # noqa: E402
from yt8m_lib.config import AUDIO_DIM, MAX_FRAMES, RGB_DIM  # noqa: E402
from yt8m_lib.errors import DataError  # noqa: E402
from yt8m_lib.records import expand_paths  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
# the dequantization constants of yt8m_lib.features, as float32 like there
_SCALE = float(F._SCALE)
_BIAS = float(F._BIAS)
_MASK32 = 0xFFFFFFFF


def reader_files(paths, *, seed: int | None, epoch: int, reader_index: int = 0,
                 num_readers: int = 1) -> tuple[list[str], bool]:
    """(files of this reader in reading order, whether records are sharded instead of files):
    the rule of ``yt8m_lib.records.iter_examples``."""
    files = expand_paths(paths)
    if seed is not None:
        order = np.random.default_rng([int(seed) & _MASK32, int(epoch) & _MASK32]
                                      ).permutation(len(files))
        files = [files[i] for i in order]
    if len(files) >= num_readers:
        return [str(f) for f in files[reader_index::num_readers]], False
    return [str(f) for f in files], True


def _tagged_records(files: list[str]) -> tf.data.Dataset:
    """(file, record index in the file, payload) of every record, files in the given order."""
    def one_file(path):
        return tf.data.TFRecordDataset(path).enumerate().map(
            lambda index, payload: (path, index, payload))
    return tf.data.Dataset.from_tensor_slices(files).flat_map(one_file)


def _check(condition, path, index, problem: str):
    """An assertion whose failure names the file and the record (see ``data_error``)."""
    return tf.debugging.Assert(condition, ["bad record:", path, "record", index, problem],
                               summarize=1)


def _multi_hot(labels, num_classes: int, path, index):
    labels = tf.cast(labels, tf.int64)
    ok = tf.reduce_all((labels >= 0) & (labels < num_classes))
    with tf.control_dependencies([_check(ok, path, index,
                                         f"label outside 0..{num_classes - 1}")]):
        # sum of one-hot rows, capped at 1 (an empty label list gives zeros)
        return tf.minimum(tf.reduce_sum(tf.one_hot(labels, num_classes, dtype=tf.float32), 0),
                          1.0)


def _l2_normalize(rgb, audio):
    """As ``features.l2_normalize``: divide by the norm of concat(rgb, audio), eps-safe."""
    squared = (tf.reduce_sum(tf.square(rgb), -1, keepdims=True)
               + tf.reduce_sum(tf.square(audio), -1, keepdims=True))
    scale = 1.0 / tf.sqrt(tf.maximum(squared, F.L2_EPSILON))
    return rgb * scale, audio * scale


def _video_id(context):
    # the 2018 key is "id"; the 2017 release wrote "video_id"
    return tf.where(tf.strings.length(context["id"]) > 0, context["id"], context["video_id"])


_ID_FEATURES = {"id": tf.io.FixedLenFeature([], tf.string, default_value=""),
                "video_id": tf.io.FixedLenFeature([], tf.string, default_value="")}


def parse_video_batch(paths, indices, payloads, *, num_classes: int, normalize: bool) -> dict:
    """A batch of video-level records as model inputs, parsed at once
    (``tf.io.parse_example``): one op per batch instead of one per record, the vectorised
    map of the tf.data guide. A label out of range names its own file and record."""
    spec = dict(_ID_FEATURES, labels=tf.io.VarLenFeature(tf.int64),
                mean_rgb=tf.io.FixedLenFeature([RGB_DIM], tf.float32),
                mean_audio=tf.io.FixedLenFeature([AUDIO_DIM], tf.float32))
    ex = tf.io.parse_example(payloads, spec)
    rgb, audio = ex["mean_rgb"], ex["mean_audio"]
    if normalize:
        rgb, audio = _l2_normalize(rgb, audio)
    labels = ex["labels"]
    rows, values = labels.indices[:, 0], labels.values
    size = tf.shape(payloads, out_type=tf.int64)[0]
    bad = tf.math.unsorted_segment_max(
        tf.cast((values < 0) | (values >= num_classes), tf.int32), rows, size)
    first_bad = tf.argmax(tf.concat([bad, [0]], 0))  # 0 when none is bad
    check = _check(tf.reduce_all(bad <= 0), tf.gather(paths, first_bad, axis=0),
                   tf.gather(indices, first_bad, axis=0),
                   f"label outside 0..{num_classes - 1}")
    with tf.control_dependencies([check]):
        # a 1 at every (video, label), duplicates capped at 1 (an empty list gives zeros)
        hot = tf.scatter_nd(tf.stack([rows, values], 1), tf.ones_like(values, tf.float32),
                            tf.stack([size, num_classes]))
    return {"id": _video_id(ex), "rgb": rgb, "audio": audio,
            "labels": tf.ensure_shape(tf.minimum(hot, 1.0), [None, num_classes])}


def sample_indices_tf(num_frames, k: int, mode: str, video_id, seed: int, epoch: int):
    """The indices of ``features.sample_frame_indices`` (same arithmetic, int64)."""
    n = tf.cast(num_frames, tf.int64)
    if mode == "random":
        def draw(count, vid):
            vid = vid.decode("utf-8")
            return F.sample_frame_indices(int(count), k, "random",
                                          F.frame_rng(seed, epoch, vid)).astype(np.int64)
        out = tf.numpy_function(draw, [n, video_id], tf.int64, stateful=False)
        return tf.reshape(out, [-1])
    if mode not in F.SAMPLING_MODES:
        raise ValueError(f"unknown frame sampling {mode!r}; choose from {F.SAMPLING_MODES}")
    first = tf.range(tf.minimum(n, k))
    if mode == "all":
        return first
    # centres of k equal spans: ((j + 0.5) * (n / k)) in float64, truncated, as numpy does
    spans = tf.cast((tf.range(k, dtype=tf.float64) + 0.5)
                    * (tf.cast(n, tf.float64) / float(k)), tf.int64)
    return tf.cond(n <= k, lambda: first, lambda: spans)


def parse_frames(path, index, payload, *, num_classes: int, k: int, mode: str,
                 normalize: bool, seed: int, epoch: int, max_frames: int = MAX_FRAMES,
                 video_means: bool = True) -> dict:
    context, lists = tf.io.parse_single_sequence_example(
        payload,
        context_features=dict(_ID_FEATURES, labels=tf.io.VarLenFeature(tf.int64)),
        sequence_features={"rgb": tf.io.FixedLenSequenceFeature([], tf.string),
                           "audio": tf.io.FixedLenSequenceFeature([], tf.string)})
    video_id = _video_id(context)
    rgb_bytes = tf.reshape(tf.io.decode_raw(lists["rgb"], tf.uint8), [-1, RGB_DIM])
    audio_bytes = tf.reshape(tf.io.decode_raw(lists["audio"], tf.uint8), [-1, AUDIO_DIM])
    # YouTube-8M uses at most max_frames frames (the records reader's max_frames)
    rgb_bytes, audio_bytes = rgb_bytes[:max_frames], audio_bytes[:max_frames]
    count = tf.shape(rgb_bytes)[0]
    checks = [_check(tf.equal(count, tf.shape(audio_bytes)[0]), path, index,
                     "rgb and audio have different numbers of frames"),
              _check(count > 0, path, index, "video has no frames")]
    with tf.control_dependencies(checks):
        count = tf.identity(count)
    idx = sample_indices_tf(count, k, mode, video_id, seed, epoch)
    rgb = tf.cast(tf.gather(rgb_bytes, idx), tf.float32) * _SCALE + _BIAS
    audio = tf.cast(tf.gather(audio_bytes, idx), tf.float32) * _SCALE + _BIAS
    if normalize:
        rgb, audio = _l2_normalize(rgb, audio)
    n = tf.shape(idx)[0]
    rgb = tf.pad(rgb, [[0, k - n], [0, 0]])
    audio = tf.pad(audio, [[0, k - n], [0, 0]])
    inputs = {"id": video_id, "rgb": tf.ensure_shape(rgb, [k, RGB_DIM]),
              "audio": tf.ensure_shape(audio, [k, AUDIO_DIM]),
              "num_frames": tf.cast(n, tf.int32)}
    if video_means:  # only hybrid reads them (config.reads_video_means)
        # the mean over ALL real frames, in float64 then float32, as features.frame_inputs
        mean_rgb = tf.cast(tf.reduce_mean(tf.cast(rgb_bytes[:count], tf.float64), 0) * _SCALE
                           + _BIAS, tf.float32)
        mean_audio = tf.cast(tf.reduce_mean(tf.cast(audio_bytes[:count], tf.float64), 0)
                             * _SCALE + _BIAS, tf.float32)
        if normalize:
            mean_rgb, mean_audio = _l2_normalize(mean_rgb, mean_audio)
        inputs.update(mean_rgb=mean_rgb, mean_audio=mean_audio)
    inputs["labels"] = _multi_hot(context["labels"].values, num_classes, path, index)
    return inputs


def make_dataset(paths, level: str, *, num_classes: int, batch_size: int, seed: int | None = 0,
                 epoch: int = 0, shuffle_buffer: int = 0, frames_per_video: int = 32,
                 frame_sampling: str = "uniform", normalize: bool = True,
                 reader_index: int = 0, num_readers: int = 1, drop_remainder: bool = False,
                 parallel_calls=AUTOTUNE, video_means: bool = True) -> tf.data.Dataset:
    """One epoch of batches for one reader (see the module docstring). ``shuffle_buffer`` 0
    keeps the file/record order; the same (seed, epoch) gives the same batches.
    ``video_means`` False: frame-level batches without mean_rgb / mean_audio."""
    if level not in ("video", "frame"):
        raise ValueError(f"unknown level {level!r}; expected 'video' or 'frame'")
    if not 0 <= reader_index < num_readers:
        raise ValueError(f"reader_index {reader_index} is not in 0..{num_readers - 1}")
    files, by_record = reader_files(paths, seed=seed, epoch=epoch, reader_index=reader_index,
                                    num_readers=num_readers)
    ds = _tagged_records(files)
    if by_record:
        ds = ds.shard(num_readers, reader_index)
    if shuffle_buffer > 1:
        shuffle_seed = None if seed is None else int(np.random.default_rng(
            [int(seed) & _MASK32, int(epoch) & _MASK32, reader_index]).integers(2**31))
        ds = ds.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
    if level == "video":  # batched first, then parsed a batch at a time
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(lambda paths_, indices, payloads: parse_video_batch(
            paths_, indices, payloads, num_classes=num_classes, normalize=normalize),
            num_parallel_calls=parallel_calls, deterministic=True)
    else:
        def parse(path, index, payload):
            return parse_frames(path, index, payload, num_classes=num_classes,
                                k=frames_per_video, mode=frame_sampling, normalize=normalize,
                                seed=0 if seed is None else seed, epoch=epoch,
                                video_means=video_means)
        ds = ds.map(parse, num_parallel_calls=parallel_calls, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.deterministic = True
    # each worker reads its own files (see reader_files), tf.distribute must not re-shard
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(AUTOTUNE)


def iterate(dataset: tf.data.Dataset):
    """Iterate a dataset as numpy batch dicts, turning TensorFlow's data errors (bad CRC,
    truncated file, missing feature, label out of range) into DataError."""
    iterator = iter(dataset)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            raise data_error(error) from None
        yield {k: v.numpy() for k, v in batch.items()}


def data_error(error: Exception) -> DataError:
    """A DataError from a TensorFlow input error; the pipeline's own checks name the file and
    the record, TensorFlow's parser errors only the problem."""
    message = getattr(error, "message", str(error)).strip().splitlines()[0]
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    found = re.search(r"\[bad record:\] \[(.*?)\] \[record\] \[(\d+)\] \[(.*)\]", message)
    if found:
        return DataError(found.group(1), found.group(3), int(found.group(2)))
    return DataError("tf.data", message)


def ids_to_str(ids) -> list[str]:
    return [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in np.asarray(ids)]

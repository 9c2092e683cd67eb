"""tf.data input pipeline: the same batches as ``yt8m_lib.data.batches``, built with TensorFlow ops.

The Keras trainer trains on ``yt8m_lib.data.batches`` (the project's reader, as PyTorch does: on
2 cores a frame-level batch costs 3-6x less CPU there than here) and validates and evaluates
with this pipeline; ``make bench`` times both (``keras_pipeline``, ``keras_tf_data_pipeline``).

Per epoch and reader (reader = worker index of a multi-worker run):

1. files: sorted, then permuted by (seed, epoch) exactly as ``yt8m_lib.data.records.iter_examples``
   does; reader ``r`` of ``N`` takes whole files ``r, r+N, …`` when there are at least N
   files, otherwise every N-th record of the concatenated stream (the same rule);
2. ``TFRecordDataset`` over those files in that order, each record tagged with its file and
   index (so a bad record is reported by name), then a shuffle buffer seeded by
   (seed, epoch, reader) - tf.data's own shuffle, so the order within the buffer is not the
   PyTorch pipeline's; the set of videos per epoch and reader is the same;
3. batching, then parallel parsing a batch at a time (``tf.io.parse_example`` /
   ``parse_sequence_example``: one op per batch, not per record; each record named
   "<file> record <index>" so a parser error says which), ``decode_raw`` of the sampled
   frames only, dequantization ``x*4/255 + 4/512 - 2``, the SAME frame indices as
   ``yt8m_lib.data.features.sample_frame_indices`` ('uniform' and 'all' in TensorFlow ops with the
   same float64 arithmetic, 'random' through ``tf.numpy_function`` with ``frame_rng``), the
   video means over all real frames, L2 normalisation of concat(rgb, audio), right padding to
   k frames, multi-hot labels;
4. prefetching.

Batches are dicts with the keys of the contract: ``id`` (bytes), ``rgb``, ``audio``,
``labels`` and, at frame level, ``num_frames`` (int32), ``mean_rgb``, ``mean_audio``.
"""

from __future__ import annotations

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (the real TensorFlow: absolute import)

from yt8m_lib.config import AUDIO_DIM, MAX_FRAMES, RGB_DIM  # noqa: E402
from yt8m_lib.data import features as F  # noqa: E402
from yt8m_lib.data.records import reader_share  # noqa: E402
from yt8m_lib.errors import DataError  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
# the dequantization constants of yt8m_lib.data.features, as float32 like there
_SCALE = float(F._SCALE)
_BIAS = float(F._BIAS)


def reader_files(
    paths, *, seed: int | None, epoch: int, reader_index: int = 0, num_readers: int = 1
) -> tuple[list[str], bool]:
    """(files of this reader in reading order, whether records are sharded instead of files):
    ``yt8m_lib.data.records.reader_share``, the one rule."""
    files, by_record = reader_share(
        paths, seed=seed, epoch=epoch, reader_index=reader_index, num_readers=num_readers
    )
    return [str(f) for f in files], by_record


def _tagged_records(files: list[str]) -> tf.data.Dataset:
    """(file, record index in the file, payload) of every record, files in the given order.
    Zipped rather than mapped: no function call per record."""

    def one_file(path):
        return tf.data.Dataset.zip(
            (
                tf.data.Dataset.from_tensors(path).repeat(),
                tf.data.Dataset.range(tf.int64.max),
                tf.data.TFRecordDataset(path),
            )
        )

    return tf.data.Dataset.from_tensor_slices(files).flat_map(one_file)


def _check(condition, path, index, problem: str):
    """An assertion whose failure names the file and the record (see ``data_error``)."""
    return tf.debugging.Assert(
        condition, ["bad record:", path, "record", index, problem], summarize=1
    )


def _first_bad(bad, paths, indices, problem: str):
    """A check that no row of a batch is ``bad`` (bool, one per record); its failure names
    the first bad row's file and record."""
    bad = tf.cast(bad, tf.int32)
    first = tf.argmax(tf.concat([bad, [0]], 0))  # 0 when none is bad
    return _check(
        tf.reduce_all(bad <= 0),
        tf.gather(paths, first, axis=0),
        tf.gather(indices, first, axis=0),
        problem,
    )


def _multi_hot_batch(labels: tf.SparseTensor, paths, indices, num_classes: int):
    """[batch, num_classes] float32 with a 1 at every (video, label), duplicates capped at 1
    (an empty list gives zeros); a label out of range names its file and record."""
    rows, values = labels.indices[:, 0], labels.values
    size = tf.shape(paths, out_type=tf.int64)[0]
    bad = tf.math.unsorted_segment_max(
        tf.cast((values < 0) | (values >= num_classes), tf.int32), rows, size
    )
    check = _first_bad(bad > 0, paths, indices, f"label outside 0..{num_classes - 1}")
    with tf.control_dependencies([check]):
        hot = tf.scatter_nd(
            tf.stack([rows, values], 1),
            tf.ones_like(values, tf.float32),
            tf.stack([size, num_classes]),
        )
    return tf.ensure_shape(tf.minimum(hot, 1.0), [None, num_classes])


def _record_names(paths, indices):
    """ "<file> record <index>" per record: TensorFlow's parsers put it in their errors
    ("example id: ..."), so ``data_error`` can name a malformed record."""
    return tf.strings.join([paths, " record ", tf.strings.as_string(indices)])


def _l2_normalize(rgb, audio):
    """As ``features.l2_normalize``: divide by the norm of concat(rgb, audio), eps-safe."""
    squared = tf.reduce_sum(tf.square(rgb), -1, keepdims=True) + tf.reduce_sum(
        tf.square(audio), -1, keepdims=True
    )
    scale = 1.0 / tf.sqrt(tf.maximum(squared, F.L2_EPSILON))
    return rgb * scale, audio * scale


def _video_id(context):
    # the 2018 key is "id"; the 2017 release wrote "video_id"
    return tf.where(tf.strings.length(context["id"]) > 0, context["id"], context["video_id"])


_ID_FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "video_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def parse_video_batch(paths, indices, payloads, *, num_classes: int, normalize: bool) -> dict:
    """A batch of video-level records as model inputs, parsed at once
    (``tf.io.parse_example``): one op per batch instead of one per record, the vectorised
    map of the tf.data guide. A label out of range names its own file and record."""
    spec = dict(
        _ID_FEATURES,
        labels=tf.io.VarLenFeature(tf.int64),
        mean_rgb=tf.io.FixedLenFeature([RGB_DIM], tf.float32),
        mean_audio=tf.io.FixedLenFeature([AUDIO_DIM], tf.float32),
    )
    ex = tf.io.parse_example(payloads, spec, example_names=_record_names(paths, indices))
    rgb, audio = ex["mean_rgb"], ex["mean_audio"]
    if normalize:
        rgb, audio = _l2_normalize(rgb, audio)
    return {
        "id": _video_id(ex),
        "rgb": rgb,
        "audio": audio,
        "labels": _multi_hot_batch(ex["labels"], paths, indices, num_classes),
    }


def sample_indices_tf(num_frames, k: int, mode: str, video_ids, seed: int, epoch: int):
    """[batch, k] int64: row b holds ``features.sample_frame_indices`` of video b (same
    arithmetic) in its first min(k, num_frames[b]) places; the rest is 0 (padding)."""
    n = tf.cast(num_frames, tf.int64)[:, None]
    if mode == "random":

        def draw(counts, ids):
            out = np.zeros((len(counts), k), np.int64)
            for row, (count, vid) in enumerate(zip(counts, ids)):
                rng = F.frame_rng(seed, epoch, vid.decode("utf-8"))
                picked = F.sample_frame_indices(int(count), k, "random", rng)
                out[row, : len(picked)] = picked
            return out

        out = tf.numpy_function(draw, [n[:, 0], video_ids], tf.int64, stateful=False)
        return tf.reshape(out, [-1, k])
    if mode not in F.SAMPLING_MODES:
        raise ValueError(f"unknown frame sampling {mode!r}; choose from {F.SAMPLING_MODES}")
    first = tf.range(k, dtype=tf.int64)[None, :]
    first = tf.where(first < n, first, 0)
    if mode == "all":
        return first
    # centres of k equal spans: ((j + 0.5) * (n / k)) in float64, truncated, as numpy does
    spans = tf.cast(
        (tf.range(k, dtype=tf.float64)[None, :] + 0.5) * (tf.cast(n, tf.float64) / float(k)),
        tf.int64,
    )
    return tf.where(n <= k, first, spans)


def _frame_bytes(strings, width: int):
    """[..., width] uint8 of frame byte strings (padding "" gives zeros)."""
    return tf.io.decode_raw(strings, tf.uint8, fixed_length=width)


def parse_frame_batch(
    paths,
    indices,
    payloads,
    *,
    num_classes: int,
    k: int,
    mode: str,
    normalize: bool,
    seed: int,
    epoch: int,
    max_frames: int = MAX_FRAMES,
    video_means: bool = True,
) -> dict:
    """A batch of frame-level records as model inputs, parsed at once
    (``tf.io.parse_sequence_example``, one op per batch, as at video level). Only the k
    sampled frames of each video are decoded, except for the video means (all real frames).
    Bad records (frame counts or sizes, no frames, labels) name their file and record."""
    names = _record_names(paths, indices)
    context, lists, lengths = tf.io.parse_sequence_example(
        payloads,
        example_names=names,
        context_features=dict(_ID_FEATURES, labels=tf.io.VarLenFeature(tf.int64)),
        sequence_features={
            "rgb": tf.io.FixedLenSequenceFeature([], tf.string),
            "audio": tf.io.FixedLenSequenceFeature([], tf.string),
        },
    )
    video_ids = _video_id(context)
    # YouTube-8M uses at most max_frames frames (the records reader's max_frames)
    rgb_strings, audio_strings = lists["rgb"][:, :max_frames], lists["audio"][:, :max_frames]
    count = tf.minimum(lengths["rgb"], max_frames)
    real = tf.range(tf.shape(rgb_strings, out_type=tf.int64)[1])[None, :] < count[:, None]

    def wrong_size(strings, width):
        return tf.reduce_any(real & (tf.strings.length(strings) != width), axis=1)

    checks = [
        _first_bad(
            count != tf.minimum(lengths["audio"], max_frames),
            paths,
            indices,
            "rgb and audio have different numbers of frames",
        ),
        _first_bad(count <= 0, paths, indices, "video has no frames"),
        _first_bad(
            wrong_size(rgb_strings, RGB_DIM), paths, indices, f"an rgb frame is not {RGB_DIM} bytes"
        ),
        _first_bad(
            wrong_size(audio_strings, AUDIO_DIM),
            paths,
            indices,
            f"an audio frame is not {AUDIO_DIM} bytes",
        ),
    ]
    with tf.control_dependencies(checks):
        count = tf.identity(count)
    idx = sample_indices_tf(count, k, mode, video_ids, seed, epoch)
    kept = tf.minimum(count, k)
    mask = tf.cast(tf.range(k, dtype=tf.int64)[None, :] < kept[:, None], tf.float32)[..., None]
    rgb = (
        tf.cast(_frame_bytes(tf.gather(rgb_strings, idx, batch_dims=1), RGB_DIM), tf.float32)
        * _SCALE
        + _BIAS
    )
    audio = (
        tf.cast(_frame_bytes(tf.gather(audio_strings, idx, batch_dims=1), AUDIO_DIM), tf.float32)
        * _SCALE
        + _BIAS
    )
    if normalize:
        rgb, audio = _l2_normalize(rgb, audio)
    inputs = {
        "id": video_ids,
        "rgb": tf.ensure_shape(rgb * mask, [None, k, RGB_DIM]),
        "audio": tf.ensure_shape(audio * mask, [None, k, AUDIO_DIM]),
        "num_frames": tf.cast(kept, tf.int32),
    }
    if video_means:  # only hybrid reads them (config.reads_video_means)
        # the mean over ALL real frames: byte sums (padding decodes to zeros) as one batched
        # matmul, exact in float32 (integers below 300 x 255 < 2**24), then float64, as
        # features.frame_inputs
        ones = tf.cast(real, tf.float32)

        def byte_mean(strings, width):
            sums = tf.einsum("bt,btd->bd", ones, tf.cast(_frame_bytes(strings, width), tf.float32))
            mean = tf.cast(sums, tf.float64) / tf.cast(count, tf.float64)[:, None]
            return tf.cast(mean * _SCALE + _BIAS, tf.float32)

        mean_rgb, mean_audio = byte_mean(rgb_strings, RGB_DIM), byte_mean(audio_strings, AUDIO_DIM)
        if normalize:
            mean_rgb, mean_audio = _l2_normalize(mean_rgb, mean_audio)
        inputs.update(mean_rgb=mean_rgb, mean_audio=mean_audio)
    inputs["labels"] = _multi_hot_batch(context["labels"], paths, indices, num_classes)
    return inputs


def make_dataset(
    paths,
    level: str,
    *,
    num_classes: int,
    batch_size: int,
    seed: int | None = 0,
    epoch: int = 0,
    shuffle_buffer: int = 0,
    frames_per_video: int = 32,
    frame_sampling: str = "uniform",
    normalize: bool = True,
    reader_index: int = 0,
    num_readers: int = 1,
    drop_remainder: bool = False,
    parallel_calls=AUTOTUNE,
    video_means: bool = True,
) -> tf.data.Dataset:
    """One epoch of batches for one reader (see the module docstring). ``shuffle_buffer`` 0
    keeps the file/record order; the same (seed, epoch) gives the same batches.
    ``video_means`` False: frame-level batches without mean_rgb / mean_audio."""
    if level not in ("video", "frame"):
        raise ValueError(f"unknown level {level!r}; expected 'video' or 'frame'")
    if not 0 <= reader_index < num_readers:
        raise ValueError(f"reader_index {reader_index} is not in 0..{num_readers - 1}")
    files, by_record = reader_files(
        paths, seed=seed, epoch=epoch, reader_index=reader_index, num_readers=num_readers
    )
    ds = _tagged_records(files)
    if by_record:
        ds = ds.shard(num_readers, reader_index)
    if shuffle_buffer > 1:
        shuffle_seed = (
            None
            if seed is None
            else int(
                np.random.default_rng(
                    [int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, reader_index]
                ).integers(2**31)
            )
        )
        ds = ds.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
    # batched first, then parsed a batch at a time (one op per batch, not per record)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if level == "video":

        def parse(paths_, indices, payloads):
            return parse_video_batch(
                paths_, indices, payloads, num_classes=num_classes, normalize=normalize
            )
    else:

        def parse(paths_, indices, payloads):
            return parse_frame_batch(
                paths_,
                indices,
                payloads,
                num_classes=num_classes,
                k=frames_per_video,
                mode=frame_sampling,
                normalize=normalize,
                seed=0 if seed is None else seed,
                epoch=epoch,
                video_means=video_means,
            )

    ds = ds.map(parse, num_parallel_calls=parallel_calls, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    # each worker reads its own files (see reader_files), tf.distribute must not re-shard
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(AUTOTUNE)


def iterate(dataset: tf.data.Dataset):
    """Iterate a dataset as numpy batch dicts (input errors as DataError, see next_batch)."""
    iterator = iter(dataset)
    while True:
        try:
            batch = next_batch(iterator)
        except StopIteration:
            return
        yield {k: v.numpy() for k, v in batch.items()}


def next_batch(iterator):
    """``next(iterator)`` with TensorFlow's data errors (bad CRC, truncated file, malformed
    record, missing feature, label out of range) turned into a DataError that names the
    file and the record where TensorFlow's message allows (``data_error``)."""
    try:
        return next(iterator)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        raise data_error(error) from None
    except UnicodeDecodeError:
        raise unreadable_error() from None


def unreadable_error() -> DataError:
    """TensorFlow's video-level parser quotes a malformed record's raw bytes in its message,
    which then fails to decode as text: all that is left to say is what happened."""
    return DataError(
        "tf.data",
        "a record is not a valid tf.train.Example (TensorFlow's "
        "parser message quotes its bytes); `yt8m inspect` names it",
    )


_RECORD_NAME = r"(?P<path>.*) record (?P<record>\d+)"  # a name of _record_names
_PARSER_ERRORS = (
    re.compile(r"^(?P<problem>.*?),? example id: " + _RECORD_NAME + "$"),
    re.compile(r"^Name: " + _RECORD_NAME + r", (?P<problem>.*)$"),
)


def data_error(error: Exception) -> DataError:
    """A DataError from a TensorFlow input error, naming the file and the record where the
    message does: the pipeline's own checks ("bad record:") and TensorFlow's parsers (which
    quote the record names of ``_record_names``)."""
    message = getattr(error, "message", str(error)).strip().splitlines()[0]
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    message = re.sub(r"^Error in user-defined function .*? with iterator: \S+: ", "", message)
    message = re.sub(r"\s*\[Op:\w+\]$", "", message)
    found = re.search(r"\[bad record:\] \[(.*?)\] \[record\] \[(\d+)\] \[(.*)\]", message)
    if found:
        return DataError(found.group(1), found.group(3), int(found.group(2)))
    for pattern in _PARSER_ERRORS:
        found = pattern.match(message)
        if found:
            return DataError(found["path"], found["problem"].strip(), int(found["record"]))
    return DataError("tf.data", message)


def ids_to_str(ids) -> list[str]:
    return [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in np.asarray(ids)]

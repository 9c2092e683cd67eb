"""Section 1: reading records, one process, the same shards for every reader.

Cases (each reads every record of the same files once per call, into numpy):

* ``project_reader``: ``yt8m_lib.data.records.iter_examples`` as the pipelines use it: frame
  level, the quantized uint8 frames in numpy (video level: the float means);
* ``project_reader_dequantized`` (frame level): the same plus ``features.dequantize`` of
  every frame to float32 (what the tf.data comparison parses into);
* ``project_reader_no_crc`` (frame level): ``project_reader`` with ``verify_crc=False``, to
  show what the CRC checks cost against the floor (which does not check them);
* ``tf_data``: ``tf.data.TFRecordDataset`` -> ``tf.io.parse_single_(sequence_)example`` ->
  ``tf.io.decode_raw`` -> dequantize, map sequential (the target's reference), consumed as numpy;
* ``tf_data_autotune``: the same with ``num_parallel_calls=AUTOTUNE`` (an extra row);
* ``tf_data_in_graph``: the sequential pipeline consumed inside TensorFlow
  (``Dataset.reduce``): no Python or numpy per record, tf.data's best case (an extra row);
* ``torch_pipeline`` / ``keras_pipeline``: each trainer's input pipeline end to end (the
  project's reader, ``yt8m_lib.data.batches``, as PyTorch tensors / as TensorFlow tensors;
  profile ``default``), batches of 64 model inputs - frame sampling, video means,
  normalisation, multi-hot, collation included (so they do more work than the plain
  readers: not a like-for-like ratio); ``keras_tf_data_pipeline``: the same batches from
  the tf.data baseline (``benchmarks.tf_data``);
* ``raw_floor``: the TFRecord framing only (no CRC check) and a copy of each record's bytes
  into numpy - what any reader must at least do; like-for-like with ``project_reader``;
* ``raw_floor_dequantized`` (frame level): the floor plus dequantizing every byte, the floor
  for a reader that must hand out float32 (like-for-like with
  ``project_reader_dequantized``); ``raw_floor_crc_dequantized``: plus the CRC checks the
  project reader does by default.

The numpy cases (project reader, floors, PyTorch pipeline) and the TensorFlow cases are
timed in two separate processes (``bm.in_fresh_process``), each round-robin: the numpy code
never runs beside TensorFlow's thread pools, as in a PyTorch training process. Ratios within
a group are per round; the reader-vs-tf.data ratios are ratios of medians.

Targets (frame level): the dequantizing project reader >= 2.5x tf.data (which dequantizes
too); project reader <= 2x the raw floor (both uint8 bytes into numpy).
When a target is missed, a cProfile of the project reader is stored in the JSON.
"""

from __future__ import annotations

import cProfile
import io
import pstats

import numpy as np

from benchmarks import data
from yt8m_lib.config import AUDIO_DIM, RGB_DIM
from yt8m_lib.data.features import dequantize
from yt8m_lib.data.records import iter_examples
from yt8m_lib.data.tfrecord import read_records
from yt8m_lib.runs import benchmarking as bm

SIZES = {  # (shards, records per shard): frame level, video level
    "quick": {"frame": (2, 40), "video": (2, 1000), "repeats": 3},
    "full": {"frame": (3, 80), "video": (2, 2500), "repeats": 9},
}
_SCALE, _BIAS = np.float32(4 / 255), np.float32(4 / 512 - 2)


def project_reader(paths, level, dequant=False, verify_crc=True):
    def run():
        n = 0
        for ex in iter_examples(paths, level, verify_crc=verify_crc):
            if level == "frame" and dequant:
                dequantize(ex.rgb)
                dequantize(ex.audio)
            n += 1
        return n

    return run


def raw_floor(paths, dequant=False, crc=False):
    def run():
        n = 0
        for path in paths:
            for payload in read_records(path, verify_crc=crc):
                raw = np.frombuffer(payload, np.uint8).copy()
                if dequant:
                    dequantize(raw)
                n += 1
        return n

    return run


def tf_data(paths, level, parallel=False, in_graph=False):
    import tensorflow as tf

    def parse_frame(serialized):
        context, sequence = tf.io.parse_single_sequence_example(
            serialized,
            context_features={
                "id": tf.io.FixedLenFeature([], tf.string),
                "labels": tf.io.VarLenFeature(tf.int64),
            },
            sequence_features={
                "rgb": tf.io.FixedLenSequenceFeature([], tf.string),
                "audio": tf.io.FixedLenSequenceFeature([], tf.string),
            },
        )
        rgb = tf.reshape(tf.io.decode_raw(sequence["rgb"], tf.uint8), [-1, RGB_DIM])
        audio = tf.reshape(tf.io.decode_raw(sequence["audio"], tf.uint8), [-1, AUDIO_DIM])
        return (
            context["id"],
            context["labels"].values,
            tf.cast(rgb, tf.float32) * _SCALE + _BIAS,
            tf.cast(audio, tf.float32) * _SCALE + _BIAS,
        )

    def parse_video(serialized):
        f = tf.io.parse_single_example(
            serialized,
            {
                "id": tf.io.FixedLenFeature([], tf.string),
                "labels": tf.io.VarLenFeature(tf.int64),
                "mean_rgb": tf.io.FixedLenFeature([RGB_DIM], tf.float32),
                "mean_audio": tf.io.FixedLenFeature([AUDIO_DIM], tf.float32),
            },
        )
        return f["id"], f["labels"].values, f["mean_rgb"], f["mean_audio"]

    dataset = tf.data.TFRecordDataset([str(p) for p in paths]).map(
        parse_frame if level == "frame" else parse_video,
        num_parallel_calls=tf.data.AUTOTUNE if parallel else None,
    )

    if in_graph:  # consumed inside TensorFlow: no Python and no numpy per record

        def run():
            return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, *_: n + 1))

        return run

    def run():
        n = 0
        for _id, labels, rgb, audio in dataset:
            labels.numpy(), rgb.numpy(), audio.numpy()
            n += 1
        return n

    return run


def pipeline(framework, paths, level, batch_size):
    """(a case running an input pipeline end to end, None) or (None, why not); ``framework``:
    torch, keras or keras_tf_data (``benchmarks.adapters.{framework}_batches``)."""
    from benchmarks import adapters

    try:
        # tensors, as the trainers consume them
        make = getattr(adapters, f"{framework}_batches")(paths, level, batch_size=batch_size)
    except (ImportError, AttributeError, TypeError) as error:
        return None, f"yt8m_lib.{framework}.data not usable: {error!r}"

    def run():
        n = 0
        for batch in make():
            n += int(batch["labels"].shape[0])
        return n

    return run, None


def profile_text(fn, lines: int = 18) -> str:
    """The top of a cProfile of one call of ``fn``, by internal time."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


# Each group is timed in a process of its own (``bm.in_fresh_process``): the numpy readers
# and the PyTorch pipeline never run beside TensorFlow, as in a PyTorch training process.
GROUPS = ("numpy", "tensorflow")


def level_cases(group: str, level: str, paths) -> tuple[dict, list]:
    """(cases, failures) of one group for one level, in the order they are timed."""
    cases, failures = {}, []
    if group == "numpy":
        cases[f"{level}/project_reader"] = project_reader(paths, level)
        if level == "frame":
            cases[f"{level}/project_reader_dequantized"] = project_reader(paths, level, True)
            cases[f"{level}/project_reader_no_crc"] = project_reader(paths, level, verify_crc=False)
    else:
        cases[f"{level}/tf_data"] = tf_data(paths, level)
        cases[f"{level}/tf_data_autotune"] = tf_data(paths, level, parallel=True)
        cases[f"{level}/tf_data_in_graph"] = tf_data(paths, level, in_graph=True)
    for name in ("torch",) if group == "numpy" else ("keras", "keras_tf_data"):
        pipeline_run, error = pipeline(name, paths, level, batch_size=64)
        if pipeline_run is not None:
            cases[f"{level}/{name}_pipeline"] = pipeline_run
        else:
            failures.append({"case": f"{level}/{name}_pipeline", "error": error})
    if group == "numpy":
        cases[f"{level}/raw_floor"] = raw_floor(paths)
        if level == "frame":
            cases[f"{level}/raw_floor_dequantized"] = raw_floor(paths, dequant=True)
            cases[f"{level}/raw_floor_crc_dequantized"] = raw_floor(paths, True, crc=True)
    return cases, failures


def time_group(
    group: str, level: str, paths, *, repeats: int, videos: int, nbytes: float, progress: bool
) -> tuple[dict, list]:
    """In a child process: the group's cases timed round-robin; ({name: Timing}, failures)."""
    from tqdm.auto import tqdm

    bm.set_threads_as_parent("torch" if group == "numpy" else "tensorflow")
    cases, failures = level_cases(group, level, paths)
    # every case must see every record: a reader that skips some would look fast
    for name, fn in cases.items():
        count = fn()
        if count != videos:
            raise RuntimeError(f"{name} read {count} records, expected {videos}")
    with tqdm(
        total=repeats * len(cases), desc=f"read {level} {group}", disable=not progress
    ) as bar:
        timings = bm.compare(
            cases,
            repeats=repeats,
            warmup=1,
            progress=bar,
            items={n: videos for n in cases},
            nbytes={n: nbytes for n in cases},
        )
    return timings, failures


def run(mode: str, progress=True) -> dict:
    sizes = SIZES[mode]
    repeats = sizes["repeats"]
    result = bm.new_result(
        "read",
        mode=mode,
        settings={
            "repeats": repeats,
            "warmup": 1,
            "processes": "one per group: " + ", ".join(GROUPS),
        },
    )
    timings = {}
    for level in ("frame", "video"):
        shards, per_shard = sizes[level]
        paths = data.make_shards(data.data_folder(), level, shards=shards, per_shard=per_shard)
        nbytes = float(sum(p.stat().st_size for p in paths))
        videos = shards * per_shard
        result["settings"][level] = {
            "files": [str(p) for p in paths],
            "videos": videos,
            "bytes": nbytes,
        }
        level_timings = {}
        for group in GROUPS:
            group_timings, failures = bm.in_fresh_process(
                time_group,
                group,
                level,
                paths,
                repeats=repeats,
                videos=videos,
                nbytes=nbytes,
                progress=progress,
            )
            level_timings.update(group_timings)
            result["failures"] += failures
        timings.update(level_timings)
        result["rows"] += [t.to_dict() for t in level_timings.values()]

        ratios = result["ratios"]
        # vs tf.data, which dequantizes: the reader that dequantizes too
        reader = timings[
            f"{level}/project_reader_dequantized" if level == "frame" else f"{level}/project_reader"
        ]
        # (timed in different processes: ratios of medians, not per round)
        ratios[f"{level}_reader_vs_tf_data"] = bm.ratio(
            reader, timings[f"{level}/tf_data"], paired=False
        )
        ratios[f"{level}_reader_vs_tf_data_autotune"] = bm.ratio(
            reader, timings[f"{level}/tf_data_autotune"], paired=False
        )
        ratios[f"{level}_reader_vs_tf_data_in_graph"] = bm.ratio(
            reader, timings[f"{level}/tf_data_in_graph"], paired=False
        )
        # floor vs reader: how many times slower the reader is than the floor
        ratios[f"{level}_reader_over_raw_floor"] = bm.ratio(
            timings[f"{level}/raw_floor"], timings[f"{level}/project_reader"]
        )
        if level == "frame":
            ratios["frame_reader_over_raw_floor_dequantized"] = bm.ratio(
                timings["frame/raw_floor_dequantized"], timings["frame/project_reader_dequantized"]
            )
            ratios["frame_reader_over_raw_floor_crc_dequantized"] = bm.ratio(
                timings["frame/raw_floor_crc_dequantized"],
                timings["frame/project_reader_dequantized"],
            )
            # what the CRC checks cost: the same reader without them, against the floor
            ratios["frame_reader_no_crc_over_raw_floor"] = bm.ratio(
                timings["frame/raw_floor"], timings["frame/project_reader_no_crc"]
            )

    ratios = result["ratios"]
    vs_tf = ratios["frame_reader_vs_tf_data"]["median"]
    over_floor = ratios["frame_reader_over_raw_floor"]["median"]
    result["reader_vs_tf_data_ratio"] = vs_tf
    result["reader_over_raw_floor_ratio"] = over_floor
    result["targets"] = [
        bm.target("frame-level project reader vs tf.data parse (x faster)", vs_tf, at_least=2.5),
        bm.target(
            "frame-level project reader time / raw floor time",
            over_floor,
            at_most=2.0,
            note="both hand out uint8 bytes in numpy; floor = framing + byte copy (no "
            "CRC, no parse); dequantizing reader vs a floor that also dequantizes "
            "every byte: "
            f"{ratios['frame_reader_over_raw_floor_dequantized']['median']:.2f}, "
            "and also checks the CRCs: "
            f"{ratios['frame_reader_over_raw_floor_crc_dequantized']['median']:.2f}; "
            "the reader without its CRC checks (verify_crc=False) / floor: "
            f"{ratios['frame_reader_no_crc_over_raw_floor']['median']:.2f}",
        ),
    ]
    if not all(t["met"] for t in result["targets"]):
        frame_paths = [p for p in result["settings"]["frame"]["files"]]
        result["profile_project_reader"] = profile_text(project_reader(frame_paths, "frame"))
    return result

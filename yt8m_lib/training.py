"""The trainer contract: the one epoch loop both frameworks run (``fit``), what each
framework supplies to it (``Trainer``: ``yt8m_lib.torch.train`` and ``yt8m_lib.keras.train``
implement the same names), the run and input specs both take, the lock of a run folder, the
loop's callbacks, the run record of a training run and the clocks of a training loop (step
times, data wait, warm-up, throughput).

Files of a run folder: ``run.json`` (the run record, rewritten after every epoch), ``last.*``
(weights, optimizer and loop state: what resuming needs), ``best.*`` (weights of the epoch
with the best validation GAP; for the autoencoder, the lowest reconstruction error),
``tensorboard/`` (event files) and, while a run writes it, ``.lock``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import types
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from yt8m_lib.config import ModelConfig, TrainConfig
from yt8m_lib.data import records
from yt8m_lib.data.batches import InputSpec
from yt8m_lib.errors import ConfigError


def model_config_from_dict(values: dict) -> ModelConfig:
    values = dict(values)
    values["fc_hidden"] = tuple(values["fc_hidden"])
    return ModelConfig(**values)


def train_config_from_dict(values: dict) -> TrainConfig:
    values = dict(values)
    values["seeds"] = tuple(values["seeds"])
    return TrainConfig(**values)


# What the timings of a run record mean: the same in both trainers (notebook 05 compares
# them), written into every record as ``timing_definitions``.
TIMING_DEFINITIONS = {
    "median_step_s": "median wall time of one optimizer step on a batch already in memory "
    "(forward + backward + update, result materialised: the loss read back, "
    "after torch.cuda.synchronize on GPU / .numpy() in TensorFlow); data "
    "loading excluded; the first 3 steps (warm-up) left out",
    "step_s_p10": "10th percentile of the same step times",
    "step_s_p90": "90th percentile of the same step times",
    "steps": "optimizer steps taken (all epochs of the run)",
    "step_s_total": "sum of all step times (warm-up included)",
    "data_wait_s": "wall time the training loop waited for its next batch (input pipeline, "
    "host-to-device copy)",
    "data_wait_fraction": "data_wait_s / total_train_s",
    "warmup_s": "wall time from the start of the first epoch (of each process) to the end of "
    "its first step: pipeline start-up, tracing / first-call set-up",
    "train_examples_per_s": "examples / wall time of the training loops (input pipeline "
    "included, validation excluded), the warm-up (warmup_s and its "
    "batch) left out",
    "total_train_s": "wall time of the training loops of all epochs (validation excluded)",
    "inference_batch_latency_ms": "median wall time of the model's forward pass on one batch "
    "already in memory (eval mode, no gradients, synchronized; "
    "loss, metrics and copies to numpy excluded), first batch "
    "left out",
    "inference_videos_per_s": "videos / summed forward times of the same batches",
}
TIMING_STATE = {
    "step_times": [],
    "train_seconds": 0.0,
    "examples": 0,
    "data_wait_s": 0.0,
    "warmup_s": 0.0,
    "warmup_examples": 0,
}


class LoopClock:
    """The clocks of a training loop, kept in the trainer's resumable ``state`` dict (the
    keys of ``TIMING_STATE``). Both trainers call, per epoch::

        clock.start_epoch()
        for each batch:  (fetch it, copy it to the device)
            clock.batch_ready()      # data wait ends, the step's clock starts
            (step; read the loss back = wait for the step to finish)
            clock.step_done(n)       # n examples in the step (all replicas)
        clock.end_epoch()
    """

    def __init__(self, state: dict, replicas: int = 1):
        for key, value in TIMING_STATE.items():
            state.setdefault(key, list(value) if isinstance(value, list) else value)
        self.state = state
        self.replicas = replicas  # processes whose examples one step counts
        self.epoch_examples = 0
        self.first_step = True  # the warm-up of this process (trace, first-call set-up)
        self.epoch_start = self.mark = self.step_start = 0.0

    def start_epoch(self) -> None:
        self.epoch_examples = 0
        self.epoch_start = self.mark = time.perf_counter()

    def batch_ready(self) -> None:
        self.step_start = time.perf_counter()
        self.state["data_wait_s"] += self.step_start - self.mark

    def step_done(self, examples: int) -> float:
        now = time.perf_counter()
        seconds = now - self.step_start
        self.state["step_times"].append(seconds)
        self.epoch_examples += int(examples)
        if self.first_step:
            self.first_step = False
            self.state["warmup_s"] += now - self.epoch_start
            self.state["warmup_examples"] += int(examples) * self.replicas
        self.mark = now
        return seconds

    def end_epoch(self, examples: int | None = None) -> float:
        """``examples``: the epoch's examples over all processes (default: this one's)."""
        seconds = time.perf_counter() - self.epoch_start
        self.state["train_seconds"] += seconds
        self.state["examples"] += int(self.epoch_examples if examples is None else examples)
        return seconds


def training_timings(state: dict) -> dict:
    """The training half of a record's ``timings`` (see TIMING_DEFINITIONS) from a LoopClock
    state."""
    seconds = state.get("train_seconds", 0.0)
    examples = state.get("examples", 0)
    steady_s = seconds - state.get("warmup_s", 0.0)
    steady_examples = examples - state.get("warmup_examples", 0)
    if steady_s > 0 and steady_examples > 0:
        per_s = steady_examples / steady_s
    else:  # a single step: nothing after the warm-up
        per_s = examples / seconds if seconds else None
    step_times = state.get("step_times", [])
    wait = state.get("data_wait_s", 0.0)
    return {
        "train_examples_per_s": per_s,
        **step_statistics(step_times),
        "steps": len(step_times),
        "step_s_total": float(sum(step_times)),
        "data_wait_s": wait,
        "data_wait_fraction": wait / seconds if seconds else None,
        "warmup_s": state.get("warmup_s", 0.0),
        "total_train_s": seconds,
    }


def inference_timings(latencies, batch_sizes) -> dict:
    """``inference_videos_per_s`` and ``inference_batch_latency_ms`` from the forward time
    and size of every batch (the first batch, warm-up, left out when there are more)."""
    latencies, batch_sizes = list(latencies), list(batch_sizes)
    if len(latencies) > 1:
        latencies, batch_sizes = latencies[1:], batch_sizes[1:]
    total = sum(latencies)
    return {
        "inference_videos_per_s": sum(batch_sizes) / total if total > 0 else None,
        "inference_batch_latency_ms": 1000 * float(np.median(latencies)) if latencies else None,
    }


def step_statistics(step_times, warmup: int = 3) -> dict:
    """Median and spread of the training step times, after the first ``warmup`` steps."""
    times = np.asarray(list(step_times)[warmup:] or list(step_times), dtype=np.float64)
    if times.size == 0:
        return {"median_step_s": None, "step_s_p10": None, "step_s_p90": None}
    return {
        "median_step_s": float(np.median(times)),
        "step_s_p10": float(np.percentile(times, 10)),
        "step_s_p90": float(np.percentile(times, 90)),
    }


def new_training_record(
    *,
    framework: str,
    model: str,
    features: str,
    profile: str,
    seed: int,
    model_config,
    train_config,
    train_paths,
    val_paths,
    level: str,
    num_classes: int,
    vocabulary,
    autoencoder_dir=None,
    distributed: dict | None = None,
    data_normalize=None,
    target: str = "classes",
) -> dict:
    """The run record of a training run before its first epoch (both trainers fill it in).
    ``target`` "genres": a genre head (``config.model.num_classes`` is then the number of
    genres; ``data.num_classes`` stays the data's)."""
    from yt8m_lib.config import to_dict
    from yt8m_lib.data.splits import split_of
    from yt8m_lib.runs.run_record import new_run_record

    record = new_run_record(
        framework=framework,
        model=model,
        features=features,
        profile=profile,
        seed=seed,
        config={
            "model": to_dict(model_config),
            "train": to_dict(train_config),
            "autoencoder": None if autoencoder_dir is None else str(autoencoder_dir),
        },
        data={
            "train": [str(p) for p in train_paths],
            "val": [str(p) for p in val_paths],
            "level": level,
            "num_train_videos": records.count_examples(train_paths),
            "num_val_videos": records.count_examples(val_paths),
            "num_classes": num_classes,
            "vocabulary": None if vocabulary is None else str(vocabulary),
        },
        distributed=distributed or {"world_size": 1, "backend": None},
    )
    record["timing_definitions"] = dict(TIMING_DEFINITIONS)
    record["config"]["data_normalize"] = data_normalize
    record["target"] = target
    # the train/validate/test split by shard, when the shards sit under a split manifest
    record["data"]["split"] = split_of(train_paths, val_paths)
    return record


# ------------------------------------------------------------------ the run of a model


TARGETS = ("classes", "genres")


def class_genres(vocabulary, num_classes: int) -> tuple[int, ...]:
    """Each class's genre index (``Vertical1``, in the vocabulary's genre order) from the
    vocabulary.csv at ``vocabulary``: the targets of a genre head."""
    from yt8m_lib.evaluation.genres import Vocabulary

    if vocabulary is None:
        raise ConfigError("a genre head (target genres) needs the dataset's vocabulary.csv")
    vocab = Vocabulary.load(vocabulary)
    if vocab.num_classes != num_classes:
        raise ConfigError(f"{vocabulary} has {vocab.num_classes} classes, the data {num_classes}")
    return tuple(int(g) for g in vocab.class_genre)


@dataclass(frozen=True)
class RunSpec:
    """What is trained: built once from (profile, model, overrides), taken by both trainers
    and written into the run record. ``model`` is a classifier name or "autoencoder"."""

    model: str
    level: str
    profile: str
    seed: int
    num_classes: int
    model_config: ModelConfig
    train_config: TrainConfig
    features: str = "raw"
    autoencoder_dir: str | None = None
    vocabulary: str | None = None
    target: str = "classes"  # or "genres": a genre head over the vocabulary's Vertical1 genres
    label_genres: tuple[int, ...] | None = None  # each class's genre index (genre heads)

    @classmethod
    def create(
        cls,
        model: str,
        *,
        profile: str,
        seed: int,
        num_classes: int,
        level: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        features: str = "raw",
        autoencoder_dir=None,
        vocabulary=None,
        target: str = "classes",
    ) -> RunSpec:
        from yt8m_lib.config import get_profile, model_level, with_overrides

        if target not in TARGETS:
            raise ConfigError(f"unknown target {target!r}; choose {' or '.join(TARGETS)}")
        label_genres, outputs = None, num_classes
        if target == "genres":
            if model == "autoencoder":
                raise ConfigError("the autoencoder has no labels to target")
            label_genres = class_genres(vocabulary, num_classes)
            outputs = max(label_genres) + 1
        if features not in ("raw", "autoencoder"):
            raise ConfigError(f"unknown features {features!r}; choose raw or autoencoder")
        if features == "autoencoder" and autoencoder_dir is None:
            raise ConfigError("--features autoencoder needs --autoencoder RUN_DIR")
        settings = get_profile(profile)
        train = with_overrides(
            settings.train_for(model),
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            learning_rate=learning_rate,
        )
        if model == "autoencoder":
            if level is None:
                raise ConfigError("an autoencoder run needs a level (video or frame)")
            # the autoencoder learns un-normalised features, for its own number of epochs
            train = with_overrides(
                train, epochs=epochs or settings.train.ae_epochs, normalize=False
            )
        else:
            level = model_level(model)
        return cls(
            model,
            level,
            profile,
            seed,
            num_classes,
            with_overrides(settings.model, num_classes=outputs),
            train,
            features,
            None if autoencoder_dir is None else str(autoencoder_dir),
            None if vocabulary is None else str(vocabulary),
            target,
            label_genres,
        )

    @property
    def is_autoencoder(self) -> bool:
        return self.model == "autoencoder"

    @property
    def outputs(self) -> int:
        """The model's output width: classes, or genres for a genre head."""
        return self.model_config.num_classes

    @property
    def validation_vocabulary(self) -> str | None:
        """The vocabulary validation scores genres with; None for a genre head, whose
        outputs are genres already (chapter 08 scores them: ``genre_study``)."""
        return None if self.target == "genres" else self.vocabulary

    def with_codes(self, rgb_dim: int, audio_dim: int) -> RunSpec:
        """The spec of a model that reads an autoencoder's codes instead of raw features."""
        from yt8m_lib.config import with_overrides

        return replace(
            self,
            model_config=with_overrides(self.model_config, rgb_dim=rgb_dim, audio_dim=audio_dim),
        )

    def inputs(
        self,
        train_paths,
        val_paths,
        *,
        normalize: bool | None = None,
        batch_size: int | None = None,
    ) -> tuple[InputSpec, InputSpec]:
        """(training stream, validation stream) of this run; ``batch_size``: per reader."""
        from yt8m_lib.config import reads_video_means

        means = False if self.is_autoencoder else reads_video_means(self.model)
        train = InputSpec.for_training(
            train_paths,
            self.level,
            self.train_config,
            num_classes=self.num_classes,
            seed=self.seed,
            normalize=normalize,
            video_means=means,
            batch_size=batch_size,
            label_genres=self.label_genres,
        )
        val = InputSpec.for_evaluation(
            val_paths,
            self.level,
            self.train_config,
            num_classes=self.num_classes,
            normalize=normalize,
            video_means=means,
            label_genres=self.label_genres,
        )
        return train, val

    def new_record(
        self, framework: str, train: InputSpec, val: InputSpec, *, distributed: dict
    ) -> dict:
        return new_training_record(
            framework=framework,
            model=self.model,
            features=self.features,
            profile=self.profile,
            seed=self.seed,
            model_config=self.model_config,
            train_config=self.train_config,
            train_paths=train.paths,
            val_paths=val.paths,
            level=self.level,
            num_classes=self.num_classes,
            vocabulary=self.vocabulary,
            autoencoder_dir=self.autoencoder_dir,
            distributed=distributed,
            data_normalize=train.normalize,
            target=self.target,
        )


# ------------------------------------------------------------------ output biases at the prior

# The layers whose biases are a class's logit, by model, in both frameworks' names (Keras
# layer name, PyTorch module path); ``moe``'s experts are class-major (unit c*M + m).
OUTPUT_BIAS_LAYERS = {
    "logistic": [("classifier", "classifier")],
    "moe": [("experts", "experts")],
    "fc": [("classifier", "classifier")],
    "gated_moe": [("experts", "experts")],
    "bilstm": [("head_output", "head.3")],
    "stream_lstm": [("rgb_head_output", "rgb_head.3"), ("audio_head_output", "audio_head.3")],
    "hybrid": [("head_output", "head.3")],
}


def class_prior_logits(paths, level: str, num_classes: int, label_genres=None) -> np.ndarray:
    """float32 (C,) log-odds of each class's frequency over the videos of ``paths``, half a
    video added to every count (a class never seen gets log(0.5 / (N + 0.5)), not -inf).
    With ``label_genres`` (each class's genre index): (G,) log-odds of each genre's."""
    from yt8m_lib.data.records import iter_examples

    genres = None if label_genres is None else np.asarray(label_genres, dtype=np.int64)
    counts = np.zeros(num_classes if genres is None else int(genres.max()) + 1, np.float64)
    videos = 0
    for example in iter_examples([str(p) for p in paths], level, num_classes=num_classes):
        labels = np.asarray(example.labels, dtype=np.int64)
        counts[labels if genres is None else np.unique(genres[labels])] += 1
        videos += 1
    p = (counts + 0.5) / (videos + 1.0)
    return np.log(p / (1.0 - p)).astype(np.float32)


def output_biases(spec: RunSpec, train_paths) -> dict[tuple[str, str], np.ndarray] | None:
    """{(keras name, torch path): bias} to start a classifier from, or None (zero biases)."""
    if spec.is_autoencoder or not spec.model_config.output_bias_prior:
        return None
    logits = class_prior_logits(train_paths, spec.level, spec.num_classes, spec.label_genres)
    if spec.model in ("moe", "gated_moe"):
        logits = np.repeat(logits, spec.model_config.moe_mixtures)  # class-major experts
    return {names: logits for names in OUTPUT_BIAS_LAYERS[spec.model]}


# ------------------------------------------------------------------ one writer per run folder

LOCK_FILE = ".lock"


class RunLock:
    """Holds a run folder while a run writes it: a second run into the same folder is
    refused with one line naming the holder (process id, host, start time), and the first
    run loses nothing. A lock left by a process that no longer runs (on this host) is
    taken over."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK_FILE
        self.held = False

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder() or {}
                if holder.get("host") == me["host"] and not _alive(holder.get("pid")):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise ConfigError(
                    f"{self.path.parent} is being written by another run (pid "
                    f"{holder.get('pid', '?')} on {holder.get('host', '?')} since "
                    f"{holder.get('since', '?')}); choose another --out or wait for it"
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
            self.held = True
            return

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------ callbacks of the loop


class Callback:
    """Hooks of ``fit``; every method is optional. Tests use them to stop a run early (a
    "kill"), to see which videos each process trained on, and to keep each process's final
    weights."""

    def on_train_batch(self, trainer, epoch: int, ids) -> None:
        """Before the step on a batch (``ids``: the videos this process trains on)."""

    def on_epoch_end(self, trainer, epoch: int, entry: dict | None) -> bool:
        """After an epoch (``epoch`` counted from 1); True stops the run there."""
        return False

    def on_train_end(self, trainer) -> None:
        """After the last epoch, on every process."""


class StopAfterEpochs(Callback):
    """End the run after ``epochs`` epochs of this call, as if the process had died there
    (the checkpoint of the last finished epoch is on disk)."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.done = 0

    def on_epoch_end(self, trainer, epoch, entry):
        self.done += 1
        return self.done >= self.epochs


class RecordTrainedIds(Callback):
    """Every (epoch, video id) this process trained on, in order."""

    def __init__(self):
        self.seen: list[tuple[int, str]] = []

    def on_train_batch(self, trainer, epoch, ids):
        self.seen.extend((epoch, str(i)) for i in ids)


# ------------------------------------------------------------------ the epoch loop


class Trainer:
    """What a framework supplies to ``fit``: ``yt8m_lib.torch.train.Trainer`` and
    ``yt8m_lib.keras.train.Trainer`` implement these names, so the two read side by side.

    Attributes: ``framework``, ``rank`` and ``world_size`` (processes), ``is_main``,
    ``LAST``/``BEST`` (checkpoint file names), ``skips_single_video_batches`` (a model with
    BatchNorm cannot train on one video), ``lower_is_better`` (validation score)."""

    framework: str
    LAST: str
    BEST: str
    rank = 0
    world_size = 1
    skips_single_video_batches = False
    lower_is_better = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def epoch_batches(self, epoch: int):
        """(this process's training batches of ``epoch``, batches the other processes skip
        so that every process takes the same number of steps)."""
        raise NotImplementedError

    def batch_ids(self, batch) -> list:
        return batch["id"]

    def examples_in_step(self, batch) -> int:
        """Videos one step trains on, over all processes."""
        raise NotImplementedError

    def train_step(self, batch) -> float:
        raise NotImplementedError

    def end_epoch(self, loss_sum: float, count: int) -> tuple[float, int]:
        """Sums over processes; BatchNorm statistics made equal on every process."""
        return loss_sum, count

    def validate(self) -> tuple[dict, dict, dict]:
        """(history fields, evaluation of the validation set, inference timings)."""
        raise NotImplementedError

    def save_weights(self, path: Path, epoch: int | None = None) -> None:
        """The model's weights (and the epoch they are of)."""
        raise NotImplementedError

    def save_checkpoint(self, path: Path, state: dict) -> None:
        """Weights, optimizer and the loop's ``state``: what resuming needs."""
        raise NotImplementedError

    def load_checkpoint(self, path: Path) -> dict:
        """Restore what ``save_checkpoint`` wrote; returns the loop state."""
        raise NotImplementedError

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        """Leave the process group this trainer joined (if any)."""

    def hardware_monitor(self):
        """The CPU / memory / GPU sampler of this framework's runs."""
        from yt8m_lib.runs.hardware import HardwareMonitor

        return HardwareMonitor(framework=self.framework)


class ScalarWriter:
    """TensorBoard scalars, written by tensorboard's own event writer: the same files from
    both frameworks, and no TensorFlow imported for it. tensorboard imports TensorFlow when
    it is installed unless the marker module ``tensorboard.compat.notf`` exists (then it uses
    its own stub); the marker is set only while TensorFlow is not loaded already."""

    def __init__(self, log_dir):
        if "tensorflow" not in sys.modules:
            sys.modules.setdefault(
                "tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf")
            )
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self.writer = EventFileWriter(str(log_dir))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
        self.writer.add_event(Event(summary=summary, step=int(step), wall_time=time.time()))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


LOG_EVERY = 10  # steps between TensorBoard loss points


def validation_entry(loss: float, metrics: dict) -> dict:
    """The history fields of a classifier's validation: its loss and the official metrics."""
    return {
        "val_loss": loss,
        "val_gap": metrics["gap"],
        "val_hit_at_1": metrics["hit_at_1"],
        "val_perr": metrics["perr"],
        "val_map": metrics["map"],
    }


def mean_reconstruction_errors(batch_errors) -> dict:
    """The validation entry of an autoencoder from ``batch_errors``, one (rgb mean squared
    error, audio mean squared error, videos) per batch: the means over the videos of rgb,
    audio and their sum (``val_loss``, what the loop keeps the best epoch by)."""
    sums = np.zeros(3)
    for rgb, audio, n in batch_errors:
        sums += [float(rgb) * n, float(audio) * n, n]
    n = max(sums[2], 1)
    return {
        "val_loss": (sums[0] + sums[1]) / n,
        "val_rgb_mse": sums[0] / n,
        "val_audio_mse": sums[1] / n,
        "num_videos": int(sums[2]),
    }


def fresh_state() -> dict:
    return {
        "epoch": 0,
        "history": [],
        "best_epoch": None,
        "best_score": None,
        "evaluation": None,
        "inference": {},
        "skipped_batches": {"single_video": 0, "uneven_shards": 0},
        "stopped_early": None,  # the epoch after which early stopping ended the run
        "patience_from": None,  # the last epoch that counted as progress for early stopping
        **{k: list(v) if isinstance(v, list) else v for k, v in TIMING_STATE.items()},
    }


def fit(
    trainer: Trainer,
    record: dict,
    run_dir,
    *,
    epochs: int,
    resume: bool = True,
    progress: bool = True,
    callbacks=(),
    desc: str = "",
) -> dict:
    """The epoch loop of both frameworks: steps, per-epoch validation (main process),
    TensorBoard, best and last checkpoints, exact resume (same weights, same ``run_id``),
    stop conditions, skipped-batch accounting and the run record (rewritten after every
    epoch). Returns the loop state."""
    from tqdm.auto import tqdm

    from yt8m_lib.runs import run_record

    run_dir = Path(run_dir)
    main = trainer.is_main
    state = fresh_state()
    last = run_dir / trainer.LAST
    if resume and last.exists():
        state = {**fresh_state(), **trainer.load_checkpoint(last)}
        if main and (run_dir / run_record.RUN_FILE).is_file():
            previous = run_record.read_run_record(run_dir)  # a resumed run keeps its identity
            record.update(run_id=previous["run_id"], created=previous["created"])
        if main:
            print(f"resuming {run_dir} after epoch {state['epoch']}", file=sys.stderr)
    patience = trainer.spec.train_config.early_stopping_patience
    # the autoencoder converges when its loss stops falling by a relative margin; every model
    # counts any better validation score as progress
    min_improvement = (
        trainer.spec.train_config.ae_min_improvement if trainer.spec.is_autoencoder else 0.0
    )
    if patience is not None and trainer.world_size > 1:
        raise ConfigError(
            "early stopping decides on the main process's validation and is not broadcast: "
            "train distributed runs with early_stopping_patience=None"
        )
    clock = LoopClock(state, trainer.world_size)
    writer = ScalarWriter(run_dir / "tensorboard") if main else None
    skipped = state["skipped_batches"]
    try:
        for epoch in range(state["epoch"] if state["stopped_early"] is None else epochs, epochs):
            epoch_start = time.perf_counter()
            clock.start_epoch()
            batches, uneven = trainer.epoch_batches(epoch)
            loss_sum, count = 0.0, 0
            bar = tqdm(
                batches,
                desc=f"{desc} epoch {epoch + 1}/{epochs}".strip(),
                unit="batch",
                disable=not (progress and main),
                leave=False,
            )
            for batch in bar:
                ids = trainer.batch_ids(batch)
                if trainer.skips_single_video_batches and len(ids) == 1:
                    # BatchNorm cannot normalise one video: skipped, counted in the record
                    skipped["single_video"] += 1
                    continue
                for callback in callbacks:
                    callback.on_train_batch(trainer, epoch, ids)
                clock.batch_ready()
                loss = trainer.train_step(batch)  # a float: the step has finished
                n = trainer.examples_in_step(batch)
                clock.step_done(n)
                loss_sum += loss * n
                count += n
                if writer is not None and len(state["step_times"]) % LOG_EVERY == 0:
                    writer.add_scalar("train/step_loss", loss, len(state["step_times"]))
                bar.set_postfix(loss=f"{loss:.4f}")
            bar.close()
            loss_sum, count = trainer.end_epoch(loss_sum, count)
            clock.end_epoch(int(count))
            skipped["uneven_shards"] += uneven
            entry = None
            if main:
                values, evaluation, inference = trainer.validate()
                entry = {
                    "epoch": epoch + 1,
                    "train_loss": loss_sum / max(count, 1),
                    **values,
                    "epoch_seconds": time.perf_counter() - epoch_start,
                }
                state["history"].append(entry)
                state["inference"] = inference
                score = entry["val_loss"] if trainer.lower_is_better else entry["val_gap"]
                best = state["best_score"]
                if best is None or (score < best if trainer.lower_is_better else score > best):
                    margin = None if best is None else abs(score - best) / max(abs(best), 1e-12)
                    if margin is None or margin > min_improvement:
                        state["patience_from"] = epoch + 1
                    state.update(best_score=score, best_epoch=epoch + 1, evaluation=evaluation)
                    trainer.save_weights(run_dir / trainer.BEST, epoch + 1)
                for key, value in entry.items():
                    if key != "epoch" and isinstance(value, (int, float)):
                        writer.add_scalar(f"epoch/{key}", value, epoch + 1)
                writer.flush()
            state["epoch"] = epoch + 1
            # a checkpoint written before patience_from existed counts from its best epoch
            progress_epoch = state.get("patience_from") or state["best_epoch"]
            stop = patience is not None and state["epoch"] - progress_epoch >= patience
            if stop:
                state["stopped_early"] = state["epoch"]
            if main:
                trainer.save_checkpoint(last, state)
                fill_record(record, state)
                run_record.write_run_record(run_dir, record)
                if progress:
                    print(
                        f"{desc} epoch {epoch + 1}: ".lstrip()
                        + ", ".join(
                            f"{k} {v:.4f}"
                            for k, v in entry.items()
                            if k != "epoch" and isinstance(v, float)
                        ),
                        file=sys.stderr,
                    )
            trainer.barrier()
            if any([callback.on_epoch_end(trainer, epoch + 1, entry) for callback in callbacks]):
                break
            if stop:
                if main and progress:
                    rule = f", gains under {min_improvement:.1%}" if min_improvement else ""
                    print(
                        f"{desc} early stop after epoch {epoch + 1}: no better validation "
                        f"score for {patience} epochs (best epoch {state['best_epoch']}"
                        f"{rule})".lstrip(),
                        file=sys.stderr,
                    )
                break
    finally:
        if writer is not None:
            writer.close()
    for callback in callbacks:
        callback.on_train_end(trainer)
    if main:
        fill_record(record, state)  # also when a resumed run had nothing left to train
    return state


def fill_record(record: dict, state: dict) -> None:
    """The loop's results in the run record: history, best epoch, validation evaluation of
    the best epoch, timings, skipped batches."""
    record["history"] = state["history"]
    record["best_epoch"] = state["best_epoch"]
    record["epochs_trained"] = state["epoch"]
    record["stopped_early"] = state.get("stopped_early")
    record["skipped_batches"] = dict(state["skipped_batches"])
    if state["evaluation"] is not None:
        record["evaluations"]["validate"] = dict(
            state["evaluation"], data=record["data"]["val"], epoch=state["best_epoch"]
        )
    record["timings"] = {**training_timings(state), **state["inference"]}


def run(
    trainer: Trainer, out_dir, *, resume: bool = True, progress: bool = True, callbacks=()
) -> dict | None:
    """A whole training run: the run folder locked (main process), the record created, the
    loop run under the hardware monitor, the final record written. Returns the record on the
    main process, None on the others."""
    from yt8m_lib.runs import run_record

    out_dir = Path(out_dir)
    main = trainer.is_main
    lock = RunLock(out_dir) if main else contextlib.nullcontext()
    with lock:
        record = trainer.new_record() if main else {"evaluations": {}}
        monitor = trainer.hardware_monitor() if main else contextlib.nullcontext()
        with monitor:
            fit(
                trainer,
                record,
                out_dir,
                epochs=trainer.spec.train_config.epochs,
                resume=resume,
                progress=progress,
                callbacks=callbacks,
                desc=trainer.spec.model,
            )
        if not main:
            return None
        record["hardware"] = monitor.to_record()
        run_record.write_run_record(out_dir, record)
        return record


def train_spec(
    trainer_class,
    spec: RunSpec,
    train_paths,
    val_paths,
    out_dir,
    *,
    device: str | None = None,
    mixed_precision: bool = False,
    resume: bool = True,
    progress: bool = True,
    callbacks=(),
) -> dict | None:
    """Train ``spec`` (a classifier or the autoencoder) with a framework's ``Trainer``."""
    trainer = trainer_class(
        spec, train_paths, val_paths, device=device, mixed_precision=mixed_precision
    )
    try:
        return run(trainer, out_dir, resume=resume, progress=progress, callbacks=callbacks)
    finally:
        trainer.close()


def train_classifier(
    trainer_class,
    *,
    model: str,
    train_paths,
    val_paths,
    out_dir,
    profile: str,
    seed: int,
    num_classes: int,
    features: str = "raw",
    autoencoder_dir=None,
    vocabulary=None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    target: str = "classes",
    **options,
) -> dict | None:
    """Train one classifier (``target`` "genres": a genre head); its run record (None on
    processes other than the main one). ``options``: those of ``train_spec``."""
    spec = RunSpec.create(
        model,
        profile=profile,
        seed=seed,
        num_classes=num_classes,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        features=features,
        autoencoder_dir=autoencoder_dir,
        vocabulary=vocabulary,
        target=target,
    )
    return train_spec(trainer_class, spec, train_paths, val_paths, out_dir, **options)


def train_autoencoder(
    trainer_class,
    *,
    level: str,
    train_paths,
    val_paths,
    out_dir,
    profile: str,
    seed: int,
    num_classes: int | None = None,
    vocabulary=None,
    epochs: int | None = None,
    batch_size: int | None = None,
    **options,
) -> dict | None:
    """Train the denoising autoencoder of ``level`` (labels are read and checked, not used:
    ``num_classes`` defaults to the 2018 vocabulary's); the best weights are those of the
    lowest validation reconstruction error."""
    from yt8m_lib.config import NUM_CLASSES_2018

    spec = RunSpec.create(
        "autoencoder",
        level=level,
        profile=profile,
        seed=seed,
        num_classes=num_classes or NUM_CLASSES_2018,
        epochs=epochs,
        batch_size=batch_size,
        vocabulary=vocabulary,
    )
    return train_spec(trainer_class, spec, train_paths, val_paths, out_dir, **options)


def evaluation_input(record: dict, data_paths) -> InputSpec:
    """The evaluation stream of a trained run on other data: its level, classes, features
    and normalisation as it was trained."""
    from yt8m_lib.config import reads_video_means

    train_config = train_config_from_dict(record["config"]["train"])
    normalize = record["config"].get("data_normalize")
    num_classes = record["data"]["num_classes"]
    genre_head = record.get("target", "classes") == "genres"
    return InputSpec.for_evaluation(
        data_paths,
        record["data"]["level"],
        train_config,
        num_classes=num_classes,
        normalize=normalize,
        video_means=reads_video_means(record["model"]),
        label_genres=class_genres(record["data"]["vocabulary"], num_classes)
        if genre_head
        else None,
    )


class ScoreCollector:
    """Keeps every video's id and full score row, for ``predict_scores`` of both frameworks:
    it is the ``evaluator`` (``add``) and the ``writer`` (``write``) of their ``predict``."""

    def __init__(self):
        self.ids: list[str] = []
        self.scores: list[np.ndarray] = []

    def add(self, p, labels) -> None:
        self.scores.append(np.asarray(p, dtype=np.float32))

    def write(self, ids, p) -> None:
        self.ids.extend(i.decode() if isinstance(i, bytes) else str(i) for i in ids)

    def result(self) -> dict:
        return {}

    def arrays(self) -> tuple[list[str], np.ndarray]:
        scores = np.concatenate(self.scores) if self.scores else np.zeros((0, 0), np.float32)
        if len(self.ids) != scores.shape[0]:
            raise RuntimeError(f"{len(self.ids)} ids for {scores.shape[0]} score rows")
        return self.ids, scores


GENRE_PRIOR_BATCH = 4096  # training videos per label batch of the genre prior


def evaluation_evaluator(record: dict, vocabulary=None):
    """The ``StreamingEvaluator`` of ``evaluate`` for a trained run: with ``vocabulary`` it
    scores genres, and the genre baselines come from the run's *training* labels
    (``record["data"]["train"]``), streamed once (labels only; video-level records parse at
    about 10,000 videos/s on one core).  When those files are not on this machine the
    baselines fall back to the evaluated set, the report's ``baselines.source`` says so, and a
    line on stderr says why.  Validation during training does not pay this: only ``evaluate``
    calls this."""
    from yt8m_lib.errors import DataError
    from yt8m_lib.evaluation.genres import GenrePrior, Vocabulary
    from yt8m_lib.evaluation.metrics import StreamingEvaluator

    num_classes = record["data"]["num_classes"]
    if record.get("target", "classes") == "genres":
        # a genre head: its metrics are over genres; genre_study scores it as a genre answer
        return StreamingEvaluator(record["config"]["model"]["num_classes"])
    if vocabulary is None:
        return StreamingEvaluator(num_classes)
    if not isinstance(vocabulary, Vocabulary):
        vocabulary = Vocabulary.load(vocabulary)
    train = record["data"].get("train") or []
    try:
        paths = records.expand_paths([train] if isinstance(train, str) else train)
    except DataError:  # a training file is missing here
        paths = []
    if not paths:
        print(
            "genre baselines: the run's training files are not on this machine; "
            "using the evaluated set's own frequencies (optimistic)",
            file=sys.stderr,
        )
        return StreamingEvaluator(num_classes, vocabulary=vocabulary)

    def label_batches():
        examples = records.iter_examples(
            paths, record["data"]["level"], num_classes=num_classes, verify_crc=False, max_frames=1
        )
        while True:
            batch = np.zeros((GENRE_PRIOR_BATCH, num_classes), dtype=bool)
            n = 0
            for n, example in enumerate(examples, start=1):
                batch[n - 1, example.labels] = True
                if n == GENRE_PRIOR_BATCH:
                    break
            if n:
                yield batch[:n]
            if n < GENRE_PRIOR_BATCH:
                return

    prior = GenrePrior.from_labels(label_batches(), vocabulary)
    return StreamingEvaluator(num_classes, vocabulary=vocabulary, genre_prior=prior)


def evaluate_keras_style(
    run_dir, record: dict, data_paths, score, *, predictions_path, vocabulary, split_name, device
) -> dict:
    """The evaluation of a trained Keras run on either backend: the evaluator (genres with
    ``vocabulary``) and the predictions file around ``score(data, evaluator, writer)`` (the
    backend's ``predict`` over ``data``: loss, timings and ``metrics``), then the metrics
    written into the record (``write_evaluation``) and returned. A failed pass leaves no
    half-written predictions file."""
    from yt8m_lib.evaluation.predictions import PredictionWriter

    data = evaluation_input(record, data_paths)
    evaluator = evaluation_evaluator(record, vocabulary)
    writer = (
        PredictionWriter(predictions_path, vocabulary=evaluator.vocabulary)
        if predictions_path
        else None
    )
    with writer if writer is not None else contextlib.nullcontext():  # aborted on error
        out = score(data, evaluator, writer)
    metrics = {
        **out["metrics"],
        "loss": out["loss"],
        "inference_videos_per_s": out["inference_videos_per_s"],
        "inference_batch_latency_ms": out["inference_batch_latency_ms"],
        "inference_batch_size": data.batch_size,
    }
    write_evaluation(
        run_dir,
        record,
        split_name,
        metrics,
        data_paths=data_paths,
        predictions_path=predictions_path,
        vocabulary=vocabulary,
        device=device,
    )
    return metrics


def collect_scores(record: dict, data_paths, score) -> tuple[list[str], np.ndarray]:
    """``predict_scores`` of every adapter: ``score(data, evaluator, writer)`` (the adapter's
    pass over a trained run's ``data``) with a ``ScoreCollector`` as both, on ``data_paths``;
    returns (video ids, (N, outputs) float32 scores) in file order."""
    collector = ScoreCollector()
    score(evaluation_input(record, data_paths), collector, collector)
    return collector.arrays()


def write_evaluation(
    run_dir,
    record: dict,
    split_name: str,
    metrics: dict,
    *,
    data_paths,
    predictions_path,
    vocabulary,
    device: str,
) -> None:
    """``evaluations[split_name]`` of a run record: the metrics and where they came from
    (``genre_predictions``: the genre predictions file written beside the predictions file
    when there is a vocabulary)."""
    from yt8m_lib.evaluation.predictions import genre_predictions_path
    from yt8m_lib.runs import run_record

    with_genres = predictions_path is not None and vocabulary is not None
    record.setdefault("evaluations", {})[split_name] = dict(
        metrics,
        data=[str(p) for p in data_paths],
        predictions=None if predictions_path is None else str(predictions_path),
        genre_predictions=str(genre_predictions_path(predictions_path)) if with_genres else None,
        vocabulary=None if vocabulary is None else str(vocabulary),
        device=device,
    )
    run_record.write_run_record(run_dir, record)

"""The training commands, framework-neutral: check the inputs, then hand over to
``yt8m_lib.{torch,keras}.train`` (imported only then, so a missing framework gives a clear
message and the other framework is never imported).

Checked before any training starts (each a one-line ConfigError/DataError, exit status 2):
an unknown model name, a glob that matches nothing, records of the wrong level for the model,
a vocabulary whose number of rows differs from ``--num-classes`` or from the number of
classes of the data's manifest, labels outside the vocabulary (first records of the first
training file), ``--features autoencoder`` without a matching trained autoencoder.

Also here: pieces both trainers share (the run record skeleton, step-time statistics,
reading a run's configs back, the vocabulary found beside the data).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from yt8m_lib import records
from yt8m_lib.config import (FRAMEWORKS, MODEL_NAMES, NUM_CLASSES_2018, ModelConfig,
                             TrainConfig, model_level)
from yt8m_lib.errors import ConfigError, DataError, MissingFrameworkError

VOCABULARY_FILE = "vocabulary.csv"
MANIFEST_FILE = "manifest.json"
LABEL_CHECK_RECORDS = 64  # records of the first training file whose labels are checked up front
FRAMEWORK_PACKAGES = {"torch": ("torch",), "keras": ("tensorflow", "keras")}


# ------------------------------------------------------------------ dispatch

def load_framework(framework: str):
    """``yt8m_lib.{framework}.train``; MissingFrameworkError when the framework is absent."""
    if framework not in FRAMEWORKS:
        raise ConfigError(f"unknown framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")
    try:
        return importlib.import_module(f"yt8m_lib.{framework}.train")
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in FRAMEWORK_PACKAGES[framework]:
            raise MissingFrameworkError(
                f"--framework {framework} needs {' and '.join(FRAMEWORK_PACKAGES[framework])}, "
                f"which is not installed ({error}); run `make setup`") from None
        raise


# ------------------------------------------------------------------ inputs

def _data_folders(paths) -> list[Path]:
    """The folder of the data and the one above it (where vocabulary.csv usually sits)."""
    first = Path(paths[0]).resolve()
    return [first.parent, first.parent.parent]


def find_beside_data(paths, name: str) -> Path | None:
    for folder in _data_folders(paths):
        if (folder / name).is_file():
            return folder / name
    return None


def resolve_vocabulary(vocabulary, data_paths) -> Path | None:
    """The vocabulary given, else ``vocabulary.csv`` in the data's folder or the one above."""
    if vocabulary:
        path = Path(vocabulary)
        if not path.is_file():
            raise DataError(path, "vocabulary file not found")
        return path.resolve()
    return find_beside_data(data_paths, VOCABULARY_FILE)


def manifest_classes(data_paths) -> int | None:
    """num_classes of a synthetic dataset's manifest beside the data, if there is one."""
    path = find_beside_data(data_paths, MANIFEST_FILE)
    if path is None:
        return None
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["num_classes"])
    except (ValueError, KeyError, TypeError):
        return None


def resolve_num_classes(vocabulary: Path | None, num_classes: int | None, data_paths) -> int:
    """Classes of the run: the vocabulary's rows, checked against --num-classes and the
    manifest; without a vocabulary --num-classes, the manifest's, or the 2018 vocabulary's."""
    from yt8m_lib.genres import Vocabulary

    from_manifest = manifest_classes(data_paths)
    if vocabulary is not None:
        rows = Vocabulary.load(vocabulary).num_classes
        if num_classes is not None and num_classes != rows:
            raise ConfigError(f"the vocabulary {vocabulary} has {rows} classes but "
                              f"--num-classes is {num_classes}")
        if from_manifest is not None and from_manifest != rows:
            raise ConfigError(f"the vocabulary {vocabulary} has {rows} classes but the data's "
                              f"manifest says {from_manifest}")
        return rows
    if num_classes is not None:
        if num_classes < 1:
            raise ConfigError(f"--num-classes must be positive, not {num_classes}")
        return num_classes
    if from_manifest is not None:
        return from_manifest
    print(f"no vocabulary found beside the data; assuming {NUM_CLASSES_2018} classes "
          "(give --vocabulary or --num-classes)", file=sys.stderr)
    return NUM_CLASSES_2018


def check_level(paths, level: str, what: str) -> None:
    """Every file must hold records of ``level`` (only the first record of each is read)."""
    for path in paths:
        found = records.detect_level(path)
        if found != level:
            raise DataError(path, f"{what} holds {found}-level records, but {level}-level "
                                  "records are needed here")


def check_labels(paths, num_classes: int) -> None:
    """Parse the first records of the first file so a wrong vocabulary fails before training."""
    examples = records.iter_examples(paths[:1], records.detect_level(paths[0]),
                                     num_classes=num_classes)
    for _, _ in zip(range(LABEL_CHECK_RECORDS), examples):
        pass


def check_autoencoder(autoencoder_dir, framework: str, level: str) -> Path:
    from yt8m_lib.results import read_run_record

    if not autoencoder_dir:
        raise ConfigError("--features autoencoder needs --autoencoder RUN_DIR "
                          "(a run of `yt8m autoencoder`)")
    path = Path(autoencoder_dir).resolve()
    record = read_run_record(path)
    if record.get("model") != "autoencoder":
        raise ConfigError(f"{path} is not an autoencoder run (model {record.get('model')!r})")
    if record.get("framework") != framework:
        raise ConfigError(f"{path} was trained with {record.get('framework')}, not {framework}")
    if record.get("data", {}).get("level") != level:
        raise ConfigError(f"{path} is a {record['data'].get('level')}-level autoencoder; this "
                          f"model needs a {level}-level one")
    return path


def prepare_training(args, level: str) -> dict:
    """Checked keyword arguments shared by train and train_autoencoder."""
    train_paths = records.expand_paths(args.train_data)
    val_paths = records.expand_paths(args.val_data)
    check_level(train_paths, level, "training data")
    check_level(val_paths, level, "validation data")
    vocabulary = resolve_vocabulary(args.vocabulary, train_paths)
    num_classes = resolve_num_classes(vocabulary, args.num_classes, train_paths)
    check_labels(train_paths, num_classes)
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be positive, not {args.epochs}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, not {args.batch_size}")
    return dict(train_paths=train_paths, val_paths=val_paths, out_dir=Path(args.out),
                profile=args.profile, seed=args.seed, vocabulary=vocabulary,
                num_classes=num_classes, device=args.device,
                mixed_precision=args.mixed_precision, resume=not args.no_resume,
                progress=not args.no_progress, epochs=args.epochs,
                batch_size=args.batch_size)


# ------------------------------------------------------------------ commands

def cli_train(args) -> int:
    if args.model not in MODEL_NAMES:
        raise ConfigError(f"unknown model {args.model!r}; choose from {', '.join(MODEL_NAMES)}")
    level = model_level(args.model)
    kwargs = prepare_training(args, level)
    autoencoder_dir = None
    if args.features == "autoencoder":
        autoencoder_dir = check_autoencoder(args.autoencoder, args.framework, level)
    framework = load_framework(args.framework)
    record = framework.train(model=args.model, features=args.features,
                             autoencoder_dir=autoencoder_dir, **kwargs)
    if record is not None:  # None on the non-zero ranks of a distributed run
        print(json.dumps(summary(record), indent=1))
    return 0


def cli_autoencoder(args) -> int:
    kwargs = prepare_training(args, args.level)
    framework = load_framework(args.framework)
    record = framework.train_autoencoder(level=args.level, **kwargs)
    if record is not None:
        print(json.dumps(summary(record), indent=1))
    return 0


def cli_evaluate(args) -> int:
    from yt8m_lib.results import read_run_record

    record = read_run_record(args.run_dir)
    model = record.get("model")
    if model not in MODEL_NAMES:
        raise ConfigError(f"{args.run_dir} is not a classifier run (model {model!r})")
    data_paths = records.expand_paths(args.data)
    check_level(data_paths, model_level(model), "the data")
    num_classes = record["data"]["num_classes"]
    vocabulary = resolve_vocabulary(args.vocabulary, data_paths) or record["data"].get("vocabulary")
    if vocabulary is not None and not Path(vocabulary).is_file():
        vocabulary = None  # the training run's vocabulary is not on this machine
    if vocabulary is not None:
        from yt8m_lib.genres import Vocabulary

        rows = Vocabulary.load(vocabulary).num_classes
        if rows != num_classes:
            raise ConfigError(f"the vocabulary {vocabulary} has {rows} classes but the model "
                              f"of {args.run_dir} predicts {num_classes}")
    framework = load_framework(record["framework"])
    metrics = framework.evaluate(args.run_dir, data_paths, predictions_path=args.predictions,
                                 vocabulary=vocabulary, device=args.device,
                                 split_name=args.split_name)
    print(metrics_json(metrics))
    return 0


# ------------------------------------------------------------------ shared by the trainers

def metrics_json(metrics: dict) -> str:
    """Valid JSON with one key per line (the genre confusion matrix stays on one line)."""
    lines = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in metrics.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def summary(record: dict) -> dict:
    """What the train command prints: the run, its best epoch and its validation metrics."""
    validate = {k: v for k, v in record.get("evaluations", {}).get("validate", {}).items()
                if not isinstance(v, (list, dict))}
    return {"run_id": record.get("run_id"), "framework": record.get("framework"),
            "model": record.get("model"), "best_epoch": record.get("best_epoch"),
            "parameters": record.get("parameters"), "validate": validate,
            "timings": record.get("timings")}


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
TIMING_STATE = {"step_times": [], "train_seconds": 0.0, "examples": 0, "data_wait_s": 0.0,
                "warmup_s": 0.0, "warmup_examples": 0}


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
    return {"train_examples_per_s": per_s, **step_statistics(step_times),
            "steps": len(step_times), "step_s_total": float(sum(step_times)),
            "data_wait_s": wait, "data_wait_fraction": wait / seconds if seconds else None,
            "warmup_s": state.get("warmup_s", 0.0), "total_train_s": seconds}


def inference_timings(latencies, batch_sizes) -> dict:
    """``inference_videos_per_s`` and ``inference_batch_latency_ms`` from the forward time
    and size of every batch (the first batch, warm-up, left out when there are more)."""
    latencies, batch_sizes = list(latencies), list(batch_sizes)
    if len(latencies) > 1:
        latencies, batch_sizes = latencies[1:], batch_sizes[1:]
    total = sum(latencies)
    return {"inference_videos_per_s": sum(batch_sizes) / total if total > 0 else None,
            "inference_batch_latency_ms": 1000 * float(np.median(latencies))
            if latencies else None}


def step_statistics(step_times, warmup: int = 3) -> dict:
    """Median and spread of the training step times, after the first ``warmup`` steps."""
    times = np.asarray(list(step_times)[warmup:] or list(step_times), dtype=np.float64)
    if times.size == 0:
        return {"median_step_s": None, "step_s_p10": None, "step_s_p90": None}
    return {"median_step_s": float(np.median(times)),
            "step_s_p10": float(np.percentile(times, 10)),
            "step_s_p90": float(np.percentile(times, 90))}


def new_training_record(*, framework: str, model: str, features: str, profile: str, seed: int,
                        model_config, train_config, train_paths, val_paths, level: str,
                        num_classes: int, vocabulary, autoencoder_dir=None,
                        distributed: dict | None = None) -> dict:
    """The run record of a training run before its first epoch (both trainers fill it in)."""
    from yt8m_lib.config import to_dict
    from yt8m_lib.results import new_run_record

    record = new_run_record(
        framework=framework, model=model, features=features, profile=profile, seed=seed,
        config={"model": to_dict(model_config), "train": to_dict(train_config),
                "autoencoder": None if autoencoder_dir is None else str(autoencoder_dir)},
        data={"train": [str(p) for p in train_paths], "val": [str(p) for p in val_paths],
              "level": level, "num_train_videos": records.count_examples(train_paths),
              "num_val_videos": records.count_examples(val_paths),
              "num_classes": num_classes,
              "vocabulary": None if vocabulary is None else str(vocabulary)},
        distributed=distributed or {"world_size": 1, "backend": None})
    record["timing_definitions"] = dict(TIMING_DEFINITIONS)
    return record

"""The commands that train and score (``yt8m train``, ``autoencoder``, ``evaluate``),
framework-neutral: check the inputs, then hand over to ``yt8m_lib.{torch,keras}.train``
(imported only then, so a missing framework gives a clear message and the other framework
is never imported).

Checked before any training starts (each a one-line ConfigError/DataError, exit status 2):
an unknown model name, a glob that matches nothing, records of the wrong level for the model,
a vocabulary whose number of rows differs from ``--num-classes`` or from the number of
classes of the data's manifest, labels outside the vocabulary (first records of the first
training file), ``--features autoencoder`` without a matching trained autoencoder.

The epoch loop both frameworks run lives in ``yt8m_lib.training``.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

from yt8m_lib.config import FRAMEWORKS, MODEL_NAMES, NUM_CLASSES_2018, model_level
from yt8m_lib.data import records
from yt8m_lib.data.datasets import manifest_classes, resolve_vocabulary
from yt8m_lib.errors import ConfigError, DataError, MissingFrameworkError

LABEL_CHECK_RECORDS = 64  # records of the first training file whose labels are checked up front
FRAMEWORK_PACKAGES = {"torch": ("torch",), "keras": ("tensorflow", "keras")}


# ------------------------------------------------------------------ dispatch


KERAS_BACKENDS = ("tensorflow", "torch")


def load_framework(framework: str, keras_backend: str | None = None):
    """``yt8m_lib.{framework}.train`` (Keras on the torch backend: ``yt8m_lib.keras.
    torch_train``); MissingFrameworkError when the framework is absent."""
    if framework not in FRAMEWORKS:
        raise ConfigError(f"unknown framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")
    module, packages = f"yt8m_lib.{framework}.train", FRAMEWORK_PACKAGES[framework]
    if keras_backend not in (None, *KERAS_BACKENDS):
        raise ConfigError(f"unknown Keras backend {keras_backend!r}; choose {KERAS_BACKENDS}")
    if keras_backend == "torch":
        from yt8m_lib.parity import use_keras_backend

        if framework != "keras":
            raise ConfigError("--keras-backend is for --framework keras (PyTorch is native)")
        if not use_keras_backend("torch"):
            raise ConfigError(
                "Keras is already running on another backend in this process; Keras on torch "
                "needs a fresh process (yt8m train ... --keras-backend torch)"
            )
        module, packages = "yt8m_lib.keras.torch_train", ("keras", "torch")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in packages:
            raise MissingFrameworkError(
                f"--framework {framework} needs {' and '.join(packages)}, "
                f"which is not installed ({error}); run `make setup`"
            ) from None
        raise


# ------------------------------------------------------------------ inputs


def resolve_num_classes(vocabulary: Path | None, num_classes: int | None, data_paths) -> int:
    """Classes of the run: the vocabulary's rows, checked against --num-classes and the
    manifest; without a vocabulary --num-classes, the manifest's, or the 2018 vocabulary's."""
    from yt8m_lib.evaluation.genres import Vocabulary

    from_manifest = manifest_classes(data_paths)
    if vocabulary is not None:
        rows = Vocabulary.load(vocabulary).num_classes
        if num_classes is not None and num_classes != rows:
            raise ConfigError(
                f"the vocabulary {vocabulary} has {rows} classes but --num-classes is {num_classes}"
            )
        if from_manifest is not None and from_manifest != rows:
            raise ConfigError(
                f"the vocabulary {vocabulary} has {rows} classes but the data's "
                f"manifest says {from_manifest}"
            )
        return rows
    if num_classes is not None:
        if num_classes < 1:
            raise ConfigError(f"--num-classes must be positive, not {num_classes}")
        return num_classes
    if from_manifest is not None:
        return from_manifest
    print(
        f"no vocabulary found beside the data; assuming {NUM_CLASSES_2018} classes "
        "(give --vocabulary or --num-classes)",
        file=sys.stderr,
    )
    return NUM_CLASSES_2018


def check_level(paths, level: str, what: str) -> None:
    """Every file must hold records of ``level`` (only the first record of each is read)."""
    for path in paths:
        found = records.detect_level(path)
        if found != level:
            raise DataError(
                path,
                f"{what} holds {found}-level records, but {level}-level records are needed here",
            )


def check_labels(paths, num_classes: int) -> None:
    """Parse the first records of the first file so a wrong vocabulary fails before training."""
    examples = records.iter_examples(
        paths[:1], records.detect_level(paths[0]), num_classes=num_classes
    )
    for _, _ in zip(range(LABEL_CHECK_RECORDS), examples):
        pass


def check_autoencoder(autoencoder_dir, framework: str, level: str) -> Path:
    from yt8m_lib.runs.run_record import read_run_record

    if not autoencoder_dir:
        raise ConfigError(
            "--features autoencoder needs --autoencoder RUN_DIR (a run of `yt8m autoencoder`)"
        )
    path = Path(autoencoder_dir).resolve()
    record = read_run_record(path)
    if record.get("model") != "autoencoder":
        raise ConfigError(f"{path} is not an autoencoder run (model {record.get('model')!r})")
    if record.get("framework") != framework:
        raise ConfigError(f"{path} was trained with {record.get('framework')}, not {framework}")
    if record.get("data", {}).get("level") != level:
        raise ConfigError(
            f"{path} is a {record['data'].get('level')}-level autoencoder; this "
            f"model needs a {level}-level one"
        )
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
    learning_rate = getattr(args, "learning_rate", None)
    if learning_rate is not None and not learning_rate > 0:
        raise ConfigError(f"--learning-rate must be positive, not {learning_rate}")
    extra = {} if learning_rate is None else {"learning_rate": learning_rate}
    if getattr(args, "target", "classes") != "classes":
        extra["target"] = args.target
    return dict(
        train_paths=train_paths,
        val_paths=val_paths,
        out_dir=Path(args.out),
        profile=args.profile,
        seed=args.seed,
        vocabulary=vocabulary,
        num_classes=num_classes,
        device=args.device,
        mixed_precision=args.mixed_precision,
        resume=not args.no_resume,
        progress=not args.no_progress,
        epochs=args.epochs,
        batch_size=args.batch_size,
        **extra,
    )


# ------------------------------------------------------------------ commands


def cli_train(args) -> int:
    if args.model not in MODEL_NAMES:
        raise ConfigError(f"unknown model {args.model!r}; choose from {', '.join(MODEL_NAMES)}")
    level = model_level(args.model)
    kwargs = prepare_training(args, level)
    autoencoder_dir = None
    if args.features == "autoencoder":
        autoencoder_dir = check_autoencoder(args.autoencoder, args.framework, level)
    framework = load_framework(args.framework, args.keras_backend)
    record = framework.train(
        model=args.model, features=args.features, autoencoder_dir=autoencoder_dir, **kwargs
    )
    if record is not None:  # None on the non-zero ranks of a distributed run
        print(json.dumps(summary(record), indent=1))
    return 0


def cli_autoencoder(args) -> int:
    kwargs = prepare_training(args, args.level)
    framework = load_framework(args.framework, args.keras_backend)
    record = framework.train_autoencoder(level=args.level, **kwargs)
    if record is not None:
        print(json.dumps(summary(record), indent=1))
    return 0


def cli_evaluate(args) -> int:
    from yt8m_lib.runs.run_record import read_run_record

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
        from yt8m_lib.evaluation.genres import Vocabulary

        rows = Vocabulary.load(vocabulary).num_classes
        if rows != num_classes:
            raise ConfigError(
                f"the vocabulary {vocabulary} has {rows} classes but the model "
                f"of {args.run_dir} predicts {num_classes}"
            )
    head = record.get("target", "classes") == "genres"
    if head and args.predictions:
        raise ConfigError(
            f"{args.run_dir} is a genre head: it predicts genres, not classes, so it has no "
            "Kaggle predictions file (leave out --predictions)"
        )
    # the backend Keras trained on, unless --keras-backend says otherwise
    backend = args.keras_backend or record.get("keras_backend")
    framework = load_framework(
        record["framework"], backend if record["framework"] == "keras" else None
    )
    metrics = framework.evaluate(
        args.run_dir,
        data_paths,
        predictions_path=args.predictions,
        vocabulary=None if head else vocabulary,
        device=args.device,
        split_name=args.split_name,
    )
    if head and vocabulary is not None:  # its metrics are over genres; the genre report too
        from yt8m_lib.genre_study import head_report

        metrics["genre"] = head_report(
            {**record, "run_dir": str(args.run_dir)}, data_paths, vocabulary, device=args.device
        )
    print(metrics_json(printed_metrics(metrics)))
    return 0


# ------------------------------------------------------------------ output


def printed_metrics(metrics: dict) -> dict:
    """What ``yt8m evaluate`` prints: the metrics, with ``genre`` cut down to the headline
    numbers, the baselines and the per-genre rows (``genres.report_summary``; the run record
    keeps the whole report)."""
    if not isinstance(metrics.get("genre"), dict):
        return metrics
    from yt8m_lib.evaluation.genres import report_summary

    return {**metrics, "genre": report_summary(metrics["genre"])}


def metrics_json(metrics: dict, expand: int = 3) -> str:
    """Valid JSON with one key per line: objects nested less than ``expand`` deep are opened
    one key per line, lists of objects one object per line (the per-genre rows); anything
    else (the genre confusion matrix, a baseline's numbers) stays on one line.  NaN and
    infinities (a genre accuracy without labelled videos) become null."""
    return _json_lines(_finite(metrics), " ", expand)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _json_lines(value, indent: str, expand: int) -> str:
    if isinstance(value, dict) and value and expand > 0:
        items = [
            f"{indent}{json.dumps(key)}: {_json_lines(item, indent + ' ', expand - 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{indent[:-1]}}}"
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return "[\n" + ",\n".join(indent + json.dumps(item) for item in value) + f"\n{indent[:-1]}]"
    return json.dumps(value, allow_nan=False)


def summary(record: dict) -> dict:
    """What the train command prints: the run, its best epoch and its validation metrics."""
    validate = {
        k: v
        for k, v in record.get("evaluations", {}).get("validate", {}).items()
        if not isinstance(v, (list, dict))
    }
    return {
        "run_id": record.get("run_id"),
        "framework": record.get("framework"),
        "model": record.get("model"),
        "best_epoch": record.get("best_epoch"),
        "parameters": record.get("parameters"),
        "validate": validate,
        "timings": record.get("timings"),
    }

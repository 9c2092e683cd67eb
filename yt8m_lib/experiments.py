"""Suites of runs, and which runs may be reused: what notebooks 02-05 train.

Every number a notebook shows comes from a run record (``run.json``) written by the trainers
(``yt8m_lib.torch.train`` / ``yt8m_lib.keras.train``); this module only decides *which*
runs to make and skips the ones already done. Finding the data is ``yt8m_lib.data.datasets``'
job, multi-process runs are ``yt8m_lib.launch``'s, and tables of the records
``yt8m_lib.runs.tables``'.

Layout of the runs (under ``results_dir``, default ``yt8m_lib.paths.results_dir()``)::

    runs/<profile>/<data tag>/<framework>/<model>-<features>-seed<N>/run.json
        (<framework>: keras, torch, or keras-torch for Keras on the PyTorch backend)
    runs/<profile>/<data tag>/<framework>/autoencoder-<level>-seed<N>/run.json
    scaling/<profile>/<data tag>/<torch-ddp|keras-multiworker>/<model>-world<N>-seed<S>/run.json

A run is reused (not retrained) only when its ``experiment_key.json`` matches what a rerun
would do: the profile's whole configuration, epochs, batch size, features, the autoencoder it
used, a fingerprint of the data (shard names and sizes, and the synthetic manifest with
every file's md5) and one of the code that trains and scores it (``code_files``). A run
folder made with another key (regenerated data, a changed profile or model) is deleted before
training, so its checkpoints are never resumed; ``force=True`` retrains.

Imports no framework: trainers are imported only when a run must be made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np

from yt8m_lib import paths
from yt8m_lib.config import model_level, to_dict, with_overrides
from yt8m_lib.data.datasets import (
    MANIFEST_FILE,
    SPLITS,
    data_tag,
    find_in_dataset,
    num_classes_of,
    split_files,
    vocabulary_path,
)
from yt8m_lib.data.splits import SPLIT_FILE
from yt8m_lib.runs.run_record import RUN_FILE, read_run_record
from yt8m_lib.runs.tables import KERAS_TORCH_FOLDER  # the runs of Keras on the torch backend
from yt8m_lib.training import RunSpec


def run_path(results_dir, profile: str, tag: str, framework: str, name: str) -> Path:
    return Path(results_dir) / "runs" / profile / tag / framework / name


def framework_folder(framework: str, keras_backend: str | None = None) -> str:
    """The folder of a framework's runs: ``keras`` (on TensorFlow), ``torch``, or
    ``keras-torch`` (the same Keras code on the PyTorch backend)."""
    return KERAS_TORCH_FOLDER if framework == "keras" and keras_backend == "torch" else framework


GENRE_HEAD_SUFFIX = "-genres"  # the folder of a genre head: <model>-<features>-seed<n>-genres


def run_name(model: str, seed: int, features: str = "raw") -> str:
    return f"{model}-{features}-seed{seed}"


def _read_record(run_dir: Path) -> dict | None:
    """The run record with ``run_dir`` added (where its checkpoints and predictions are), or
    None when the run has not written one yet."""
    if not (Path(run_dir) / RUN_FILE).is_file():
        return None
    return {**read_run_record(run_dir), "run_dir": str(Path(run_dir))}


KEY_FILE = "experiment_key.json"


def finished(record: dict | None) -> bool:
    """Whether a run record is of a finished training run: every epoch trained or stopped
    early, and the final record written (its hardware summary comes last). An interrupted
    run has validation results too, but it is resumed, not reused."""
    if not record or not record.get("hardware"):  # {} until the run's last write
        return False
    epochs = ((record.get("config") or {}).get("train") or {}).get("epochs")
    return record.get("stopped_early") is not None or record.get("epochs_trained") == epochs


def data_fingerprint(data_dir, level: str) -> str:
    """Names the exact data of one level: its shards' split, name and size, plus the
    synthetic manifest and the real data's split manifest (each holds every file's md5), so
    regenerated or re-split data never passes for the old."""
    digest = hashlib.sha256()
    for name in (MANIFEST_FILE, SPLIT_FILE):
        manifest = find_in_dataset(data_dir, name)
        if manifest is not None:
            digest.update(manifest.read_bytes())
    for split, files in sorted(split_files(data_dir, level).items()):
        for path in files:
            digest.update(f"{split}/{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:20]


# The package files that train and score a run, per engine: editing one retrains the runs
# of the engines that use it, and only those (editing the notebooks, plots, README or
# benchmarks retrains nothing; a fix to Keras on torch leaves the PyTorch runs alone). A test
# imports each engine's trainer and checks that every package file it loads is listed here
# (or is one of NOT_TRAINING_CODE). Finding the data (data/datasets.py) is not among them:
# what it decides, which shard belongs to which split, is in the data's fingerprint. The
# profiles (config.py) are not among them either: the key holds every resolved model and
# training setting, so a changed profile value changes the key, and a new profile or comment
# does not retrain the others.
COMMON_CODE_FILES = (
    "data/features.py",
    "data/records.py",
    "data/frame_layout.py",
    "data/tfrecord.py",
    "data/batches.py",
    "evaluation/*.py",
    "training.py",
)
ENGINE_CODE_FILES = {
    "torch": ("torch/*.py",),
    "keras": (
        "keras/checkpoints.py",
        "keras/data.py",
        "keras/models.py",
        "keras/train.py",
    ),
    # the Keras models and checkpoints, the torch-backend loop, and the PyTorch trainer's
    # distribution and seeding helpers that it calls
    KERAS_TORCH_FOLDER: (
        "keras/checkpoints.py",
        "keras/models.py",
        "keras/torch_step.py",
        "keras/torch_train.py",
        "torch/*.py",
    ),
}
# package files a trainer loads that cannot change what a run learns or scores: package
# docstrings, settings (their values are in the key), errors, paths and the writing of the
# run record
NOT_TRAINING_CODE = (
    "__init__.py",
    "data/__init__.py",
    "keras/__init__.py",
    "config.py",
    "errors.py",
    "paths.py",
    "runs/*.py",
)


def code_files(engine: str) -> tuple[str, ...]:
    """The patterns of the package files that train and score a run of ``engine`` (a run
    folder's framework name: ``torch``, ``keras`` or ``keras-torch``)."""
    if engine not in ENGINE_CODE_FILES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINE_CODE_FILES)}")
    return COMMON_CODE_FILES + ENGINE_CODE_FILES[engine]


def code_fingerprint(engine: str, package=None) -> str:
    """Names the code of ``code_files(engine)`` (paths and contents) in ``package``
    (yt8m_lib)."""
    package = Path(package) if package is not None else paths.PACKAGE_DIR
    digest = hashlib.sha256()
    for pattern in code_files(engine):
        for path in sorted(package.glob(pattern)):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def run_key(spec: RunSpec, data_dir, *, engine: str, **settings) -> dict:
    """What a run depends on: its ``RunSpec`` (profile, model, the model and training
    configuration with every override, features), the data, the code of ``engine`` that
    trains and scores it, and ``settings`` (world size, threads, the autoencoder's own key,
    ...)."""
    return {
        "profile": spec.profile,
        "model": spec.model,
        "features": spec.features,
        "config": json.loads(json.dumps(_key_config(spec))),
        "data": data_fingerprint(data_dir, spec.level),
        "code": code_fingerprint(engine),
        **({} if spec.target == "classes" else {"target": spec.target}),
        **settings,
    }


def _key_config(spec: RunSpec) -> dict:
    """The model and training settings a run's key holds: all of them, except that only the
    autoencoder's own run holds the autoencoder's settings (``ae_*``). A classifier on codes
    holds the autoencoder's key instead (``settings``), so training the autoencoder longer
    retrains the runs that read its codes and none of the others."""

    def kept(config) -> dict:
        fields = to_dict(config)
        if spec.is_autoencoder:
            return fields
        return {name: value for name, value in fields.items() if not name.startswith("ae_")}

    return {"model": kept(spec.model_config), "train": kept(spec.train_config)}


def has_key(run_dir: Path, key: dict) -> bool:
    """Whether ``run_dir`` was made with ``key`` (read only)."""
    key_path = Path(run_dir) / KEY_FILE
    return key_path.is_file() and json.loads(key_path.read_text(encoding="utf-8")) == key


def reusable_record(run_dir: Path, key: dict, force: bool) -> dict | None:
    """The record of ``run_dir`` if it was made with ``key`` (possibly unfinished: the
    trainer resumes it); otherwise the folder is emptied and None returned. The key is
    written before training, so an interrupted run resumes only under the same key."""
    same = not force and has_key(run_dir, key)
    if not same and run_dir.exists():
        shutil.rmtree(run_dir)
    if not same:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / KEY_FILE).write_text(json.dumps(key, indent=1, sort_keys=True), encoding="utf-8")
        return None
    return _read_record(run_dir)


def _trainer(framework: str, keras_backend: str | None = None):
    """The framework's train module, imported only now (a notebook may use one framework)."""
    from yt8m_lib.commands import load_framework

    return load_framework(framework, keras_backend)


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(message, flush=True)


def run_one(
    framework: str,
    model: str,
    seed: int,
    *,
    profile: str,
    data_dir,
    results_dir=None,
    features: str = "raw",
    autoencoder_dir=None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    run_label: str = "",
    train_shards: int | None = None,
    score_test: bool = True,
    target: str = "classes",
    keras_backend: str | None = None,
    force: bool = False,
    verbose: bool = True,
) -> dict:
    """Train one (framework, model, seed) and score it on the test split; returns its record.

    Reuses the run when its record already has a test evaluation made with the same settings.
    ``learning_rate`` overrides the profile's; ``train_shards`` trains on the first n train
    shards only (learning curves); ``run_label`` is appended to the run folder's name;
    ``score_test=False`` (tuning) stops after training: the test split is not read;
    ``target="genres"`` trains a genre head (folder ``<name>-genres``; no predictions file:
    its outputs are genres, scored by ``genre_study``); ``keras_backend="torch"`` trains the
    Keras model on the PyTorch backend (folder ``keras-torch``; this process's Keras must run
    on torch: ``run_suite`` starts a process for it when it does not).
    """
    keras_backend = _checked_backend(framework, keras_backend)
    data_dir = Path(data_dir).resolve()  # records name their files absolutely, wherever run
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    vocab = vocabulary_path(data_dir)
    spec = RunSpec.create(
        model,
        profile=profile,
        seed=seed,
        num_classes=num_classes_of(data_dir),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        features=features,
        autoencoder_dir=None if autoencoder_dir is None else str(autoencoder_dir),
        vocabulary=None if vocab is None else str(vocab),
        target=target,
    )
    if target == "genres":
        run_label = GENRE_HEAD_SUFFIX + run_label
    run_dir = run_path(
        results_dir,
        profile,
        data_tag(data_dir),
        framework_folder(framework, keras_backend),
        run_name(model, seed, features) + run_label,
    )
    label = f"{framework_folder(framework, keras_backend):5s} {model:11s} {features} seed {seed}"
    label += run_label
    settings = {"autoencoder": None if autoencoder_dir is None else _key_of(autoencoder_dir)}
    if keras_backend == "torch":
        settings["keras_backend"] = keras_backend
    if train_shards is not None:
        settings["train_shards"] = train_shards
    key = run_key(spec, data_dir, engine=framework_folder(framework, keras_backend), **settings)
    if not force and not run_dir.exists():
        adopt_twin(run_dir, key, verbose)
    record = reusable_record(run_dir, key, force)
    needed = "test" if score_test else "validate"
    if finished(record) and needed in (record.get("evaluations") or {}):
        _log(f"{label}: reused {run_dir}", verbose)
        return record

    files = split_files(data_dir, model_level(model))
    missing = [s for s in SPLITS if s not in files]
    if missing:
        raise FileNotFoundError(
            f"{data_dir}: no {model_level(model)}-level shards for {', '.join(missing)}"
        )
    if train_shards is not None:  # a learning curve: the first n train shards (nested)
        if not 1 <= train_shards <= len(files["train"]):
            raise ValueError(
                f"train_shards={train_shards}: {data_dir} has {len(files['train'])} train shards"
            )
        files["train"] = files["train"][:train_shards]
    trainer = _trainer(framework, keras_backend)
    start = time.perf_counter()
    if not finished(record):
        trainer.run(
            spec,
            [str(f) for f in files["train"]],
            [str(f) for f in files["validate"]],
            str(run_dir),
            resume=True,
            progress=False,
        )
    if not score_test:  # tuning: chosen on validate, the test split is not read
        record = _read_record(run_dir)
        _log(
            f"{label}: {time.perf_counter() - start:6.1f} s, validate GAP "
            f"{record['evaluations']['validate']['gap']:.3f}",
            verbose,
        )
        return record
    trainer.evaluate(
        str(run_dir),
        [str(f) for f in files["test"]],
        predictions_path=None if target == "genres" else str(run_dir / "test_predictions.csv"),
        vocabulary=None if vocab is None else str(vocab),
        split_name="test",
    )
    record = _read_record(run_dir)
    test = record["evaluations"]["test"]
    _log(f"{label}: {time.perf_counter() - start:6.1f} s, test GAP {test['gap']:.3f}", verbose)
    return record


def adopt_twin(run_dir: Path, key: dict, verbose: bool = True) -> dict | None:
    """A finished tuning run (``<name>-lr<rate>``) with exactly this run's key is the same
    computation (same settings, seed, data and code): its folder is copied to ``run_dir``
    instead of training again. Returns the adopted record, or None."""
    for twin in sorted(run_dir.parent.glob(run_dir.name + "-lr*")):
        # read only: a twin of another key is left as it is
        if has_key(twin, key) and finished(_read_record(twin)):
            shutil.copytree(twin, run_dir, ignore=shutil.ignore_patterns(".lock"))
            _log(f"{run_dir.name}: the tuning run {twin.name} has the same key: adopted", verbose)
            return _read_record(run_dir)
    return None


FRAME_DOWNLOAD_HINT = (
    "yt8m download --partition 2/frame/train --fraction 1/1000 --out {data}/frame_train"
)


def runnable_models(models, data_dir, *, verbose: bool = True) -> list[str]:
    """The models whose level has train, validate and test shards in ``data_dir``; the
    others are skipped with one printed line that names the download (the real sample holds
    video-level shards only)."""
    data_dir = Path(data_dir)
    usable = {}
    for level in sorted({model_level(m) for m in models}):
        try:
            usable[level] = set(SPLITS) <= set(split_files(data_dir, level))
        except ValueError:  # one split of too few files to divide
            usable[level] = False
    skipped = [m for m in models if not usable[model_level(m)]]
    if skipped and verbose:
        levels = ", ".join(sorted({model_level(m) for m in skipped}))
        print(
            f"{data_dir} has no {levels}-level shards: skipping {', '.join(skipped)} "
            f"(get them with: {FRAME_DOWNLOAD_HINT.format(data=data_dir)})"
        )
    return [m for m in models if m not in skipped]


def run_suite(
    framework: str,
    models,
    seeds,
    *,
    profile: str,
    data_dir,
    results_dir=None,
    features: str = "raw",
    autoencoder_dirs: dict | None = None,
    epochs=None,
    learning_rates: dict | None = None,
    target: str = "classes",
    keras_backend: str | None = None,
    force: bool = False,
    verbose: bool = True,
) -> list[dict]:
    """Train and test every (model, seed) in one framework; returns their run records.

    ``autoencoder_dirs`` maps a level ('video'/'frame') to a trained autoencoder's run folder
    (needed with ``features='autoencoder'``); ``learning_rates`` maps a model to the rate
    it trains with instead of the profile's (the tuning protocol's choices); ``target``
    "genres" trains genre heads instead of class models (``run_one``);
    ``keras_backend="torch"``: Keras on the PyTorch backend, in a process of its own unless
    this one already runs Keras on torch (Keras binds its backend once, at import, and a
    notebook's Keras runs on TensorFlow).
    """
    keras_backend = _checked_backend(framework, keras_backend)
    if keras_backend == "torch" and not _keras_runs_on_torch_here():
        if autoencoder_dirs:
            raise ValueError("Keras on the torch backend trains on raw features only")
        return _suite_in_keras_torch_process(
            framework=framework,
            models=list(models),
            seeds=[int(s) for s in seeds],
            profile=profile,
            data_dir=str(Path(data_dir).resolve()),
            results_dir=str(results_dir if results_dir is not None else paths.results_dir()),
            features=features,
            epochs=epochs,
            learning_rates=learning_rates,
            target=target,
            keras_backend=keras_backend,
            force=force,
            verbose=verbose,
        )
    records = []
    for model in models:
        for seed in seeds:
            ae_dir = (autoencoder_dirs or {}).get(model_level(model))
            if features == "autoencoder" and ae_dir is None:
                raise ValueError(
                    f"features='autoencoder' needs autoencoder_dirs[{model_level(model)!r}]"
                )
            records.append(
                run_one(
                    framework,
                    model,
                    seed,
                    profile=profile,
                    data_dir=data_dir,
                    results_dir=results_dir,
                    features=features,
                    autoencoder_dir=ae_dir,
                    epochs=epochs,
                    learning_rate=(learning_rates or {}).get(model),
                    target=target,
                    keras_backend=keras_backend,
                    force=force,
                    verbose=verbose,
                )
            )
    return records


def _checked_backend(framework: str, keras_backend: str | None) -> str | None:
    """None for PyTorch and for Keras on TensorFlow (the folders and keys of before the torch
    backend), "torch" for Keras on torch; anything else is refused."""
    if keras_backend in (None, "tensorflow"):
        return None
    if keras_backend != "torch":
        raise ValueError(f"keras_backend={keras_backend!r}: choose 'tensorflow' or 'torch'")
    if framework != "keras":
        raise ValueError("keras_backend is for framework='keras' (PyTorch is native)")
    return keras_backend


def _keras_runs_on_torch_here() -> bool:
    """Whether Keras runs (or, not yet imported, will run) on torch in this process; an
    unset KERAS_BACKEND means TensorFlow, and importing Keras would bind a notebook to it."""
    if "keras" not in sys.modules:
        return os.environ.get("KERAS_BACKEND") == "torch"
    from yt8m_lib.parity import keras_backend

    return keras_backend() == "torch"


CHILD_FLAG = "YT8M_KERAS_TORCH_CHILD"  # set in the child: it must never start another


CHILD_TAIL_LINES = 40  # the lines of a failed child process quoted in the error


def _suite_in_keras_torch_process(**arguments) -> list[dict]:
    """``run_suite(**arguments)`` in a fresh interpreter with ``KERAS_BACKEND=torch``; its
    output is printed as it comes (a notebook shows the runs' lines), its records returned."""
    if os.environ.get(CHILD_FLAG):
        raise RuntimeError("the Keras-on-torch process cannot run Keras on torch")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "records.json"
        code = (
            "import json, sys; from yt8m_lib import experiments; "
            "records = experiments.run_suite(**json.loads(sys.argv[1])); "
            "open(sys.argv[2], 'w').write(json.dumps(records))"
        )
        command = [sys.executable, "-c", code, json.dumps(arguments), str(out)]
        env = {**os.environ, "KERAS_BACKEND": "torch", CHILD_FLAG: "1"}
        tail: deque = deque(maxlen=CHILD_TAIL_LINES)
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as child:
            for line in child.stdout:
                tail.append(line)
                if arguments.get("verbose", True):
                    print(line, end="", flush=True)
        if child.returncode != 0:
            raise RuntimeError(
                f"the Keras-on-torch runs failed in their own process (exit {child.returncode});"
                " its last lines:\n" + "".join(tail)
            )
        return json.loads(out.read_text(encoding="utf-8"))


def ensure_autoencoder(
    framework: str,
    level: str,
    *,
    profile: str,
    data_dir,
    seed: int = 0,
    results_dir=None,
    force: bool = False,
    verbose: bool = True,
    code_sizes: tuple[int, int] | None = None,
) -> Path:
    """Train the denoising autoencoder of one level once; returns its run folder.

    ``code_sizes`` (rgb, audio) replaces the profile's code sizes (chapter 02's sweep); such
    a run gets its own folder, ``...-code<rgb>x<audio>``."""
    data_dir = Path(data_dir)
    results_dir = Path(results_dir) if results_dir is not None else paths.results_dir()
    name = f"autoencoder-{level}-seed{seed}"
    spec = RunSpec.create(
        "autoencoder", level=level, profile=profile, seed=seed, num_classes=num_classes_of(data_dir)
    )
    if code_sizes is not None:
        rgb_code, audio_code = (int(size) for size in code_sizes)
        if min(rgb_code, audio_code) < 1:
            raise ValueError(f"code sizes must be positive, got {code_sizes}")
        name += f"-code{rgb_code}x{audio_code}"
        spec = replace(
            spec,
            model_config=with_overrides(
                spec.model_config, ae_rgb_code=rgb_code, ae_audio_code=audio_code
            ),
        )
    run_dir = run_path(results_dir, profile, data_tag(data_dir), framework, name)
    record = reusable_record(run_dir, run_key(spec, data_dir, engine=framework), force)
    if record is not None and record.get("history"):
        _log(f"{framework} autoencoder {level}: reused {run_dir}", verbose)
        return run_dir
    files = split_files(data_dir, level)
    start = time.perf_counter()
    _trainer(framework).run(
        spec,
        [str(f) for f in files["train"]],
        [str(f) for f in files["validate"]],
        str(run_dir),
        progress=False,
    )
    _log(f"{framework} autoencoder {level}: {time.perf_counter() - start:.1f} s", verbose)
    return run_dir


def _key_of(run_dir) -> dict | None:
    path = Path(run_dir) / KEY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_run_record(run_dir) -> dict:
    """The run record of a run folder (``run_dir`` added); FileNotFoundError if none."""
    record = _read_record(Path(run_dir))
    if record is None:
        raise FileNotFoundError(f"{run_dir} holds no run.json")
    return record


def encode_with_autoencoder(
    framework: str, run_dir, rgb: np.ndarray, audio: np.ndarray, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """The codes (rgb, audio) of raw feature rows under a trained autoencoder (eval mode: no
    noise), as numpy arrays."""
    rgb, audio = np.asarray(rgb, np.float32), np.asarray(audio, np.float32)
    out_rgb, out_audio = [], []
    if framework == "torch":
        import torch

        from yt8m_lib.torch.train import load_autoencoder

        autoencoder, _ = load_autoencoder(run_dir, torch.device("cpu"))
        with torch.no_grad():
            for start in range(0, len(rgb), batch_size):
                r, a = autoencoder.encode(
                    torch.from_numpy(rgb[start : start + batch_size]),
                    torch.from_numpy(audio[start : start + batch_size]),
                )
                out_rgb.append(r.numpy())
                out_audio.append(a.numpy())
    elif framework == "keras":  # on the backend this process's Keras runs on
        import keras

        from yt8m_lib.keras.checkpoints import load_encoder

        encoder = load_encoder(run_dir)[0]
        for start in range(0, len(rgb), batch_size):
            r, a = encoder.encode(
                rgb[start : start + batch_size], audio[start : start + batch_size]
            )
            out_rgb.append(keras.ops.convert_to_numpy(r))
            out_audio.append(keras.ops.convert_to_numpy(a))
    else:
        raise ValueError(f"unknown framework {framework!r}")
    return np.concatenate(out_rgb), np.concatenate(out_audio)

"""Checkpoints of Keras models, on either backend: every variable's value in order, in one
``.npz`` (``last.npz``: model, optimizer and loop state; ``best.npz``: the model of the best
epoch). No TensorFlow here, so Keras on the torch backend (``yt8m_lib.keras.torch_train``)
writes and reads the same files as Keras on TensorFlow (``yt8m_lib.keras.train``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from yt8m_lib.errors import ConfigError

LAST, BEST = "last.npz", "best.npz"


def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def save_variables(path: Path, variables, extra: dict | None = None, **more_lists) -> None:
    """Every variable's value, in order (plus other lists of variables and a JSON dict)."""
    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    for prefix, items in more_lists.items():
        arrays.update({f"{prefix}{i}": np.asarray(v.numpy()) for i, v in enumerate(items)})
    arrays["meta"] = np.array(json.dumps(extra or {}))
    _atomic_savez(path, **arrays)


def load_variables(path: Path, variables, **more_lists) -> dict:
    """Assign saved values to the same variables (same model and order); returns the JSON."""
    with np.load(path, allow_pickle=False) as data:
        for prefix, items in (("v", variables), *more_lists.items()):
            for i, v in enumerate(items):
                value = data[f"{prefix}{i}"]
                if tuple(value.shape) != tuple(v.shape):
                    raise ConfigError(
                        f"{path}: variable {v.path} has shape {tuple(v.shape)}, "
                        f"the checkpoint {value.shape}"
                    )
                v.assign(value)
        return json.loads(str(data["meta"]))


def load_encoder(autoencoder_dir):
    """(frozen trained Keras autoencoder of a run folder (best weights), its model config, its
    run record), on the backend Keras runs on: the file is the same for both."""
    from yt8m_lib import training
    from yt8m_lib.keras.models import Autoencoder
    from yt8m_lib.runs import run_record

    run_dir = Path(autoencoder_dir)
    record = run_record.read_run_record(run_dir)
    if record.get("framework") != "keras" or record.get("model") != "autoencoder":
        raise ConfigError(f"{run_dir} is not a Keras autoencoder run")
    config = training.model_config_from_dict(record["config"]["model"])
    encoder = Autoencoder(config)
    load_variables(run_dir / BEST, encoder.variables)
    encoder.trainable = False
    return encoder, config, record


def encoder_for(spec):
    """What a classifier on autoencoder codes needs, the same on both backends: (the frozen
    encoder, ``spec`` with the code sizes as its inputs, the normalisation the autoencoder was
    trained with). Raw features: (None, ``spec``, None)."""
    if spec.features != "autoencoder":
        return None, spec, None
    encoder, config, record = load_encoder(spec.autoencoder_dir)
    spec = spec.with_codes(config.ae_rgb_code, config.ae_audio_code)
    return encoder, spec, bool(record["config"]["train"]["normalize"])

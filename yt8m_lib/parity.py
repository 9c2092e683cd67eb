"""Proof that the Keras and PyTorch models are the same architecture (`yt8m parity`).

For each model: build it in both frameworks, give the Keras model random weights (every
kernel, bias, LSTM gate and BatchNorm statistic, so a transposed or misplaced tensor cannot
hide), copy them into the PyTorch model, run one batch of variable-length sequences in
inference mode through both, and compare the trainable parameter counts and the outputs.

Weight mapping (Keras -> PyTorch):

* Dense kernel (in, out) -> Linear weight (out, in) (transpose); bias -> bias.
* LSTM kernel (in, 4u) and recurrent kernel (u, 4u), gates i, f, c, o -> ``weight_ih``
  (4u, in) and ``weight_hh`` (4u, u), gates i, f, g, o: same order, transposed; the Keras
  bias -> ``bias_ih``; ``bias_hh`` = 0 (frozen on the PyTorch side). A Bidirectional's
  backward layer -> the ``*_reverse`` tensors.
* BatchNorm gamma, beta, moving mean, moving variance -> weight, bias, running_mean,
  running_var.

``train_both`` also trains both frameworks from the same initial weights on the same batches
(dropout off) and returns their losses, step by step; ``check_steps`` judges them.

Keras runs on the backend it was imported with: TensorFlow by default, or PyTorch
(``--keras-backend torch``: the same model code, ``keras.ops`` on torch tensors, trained by
``yt8m_lib.keras.torch_step``). PyTorch is always native. Every result row names the Keras
backend (``keras_backend``).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from yt8m_lib.config import MODEL_NAMES, get_profile, model_level, with_overrides
from yt8m_lib.errors import ConfigError

# max abs difference of float32 outputs for "the same model" (times the largest output when
# that exceeds 1: only the autoencoder's reconstructions do)
TOLERANCE = 1e-5
PARITY_NAMES = MODEL_NAMES + ("autoencoder",)
# the training half (check_steps): this many steps with the profile's settings, losses within
# STEP_TOLERANCE
STEPS = 5
STEP_TOLERANCE = 1e-5
KERAS_BACKENDS = ("tensorflow", "torch")


# ---------------------------------------------------------------- weight mapping
def layer_pairs(name: str, config) -> list[tuple[str, str]]:
    """(Keras layer name, PyTorch sub-module path) of every layer with weights."""
    trunk = []
    for i in range(len(config.fc_hidden)):
        trunk += [(f"trunk_dense_{i}", f"trunk.{4 * i}"), (f"trunk_bn_{i}", f"trunk.{4 * i + 1}")]

    def head(keras_prefix, torch_path):
        return [
            (f"{keras_prefix}_hidden", f"{torch_path}.0"),
            (f"{keras_prefix}_output", f"{torch_path}.3"),
        ]

    streams = [("rgb_lstm", "rgb_lstm.lstm"), ("audio_lstm", "audio_lstm.lstm")]
    moe = [("gates", "gates"), ("experts", "experts")]
    return {
        "logistic": [("classifier", "classifier")],
        "moe": moe,
        "fc": trunk + [("classifier", "classifier")],
        "gated_moe": moe + [("context_gate", "context_gate"), ("context_norm", "context_norm")],
        "bilstm": [("lstm", "lstm.lstm")] + head("head", "head"),
        "stream_lstm": streams + head("rgb_head", "rgb_head") + head("audio_head", "audio_head"),
        "hybrid": trunk + streams + head("head", "head"),
        "autoencoder": [
            (n, n) for n in ("rgb_encoder", "rgb_decoder", "audio_encoder", "audio_decoder")
        ],
    }[name]


def to_numpy(value) -> np.ndarray:
    """A Keras tensor or variable as a numpy array, on any backend (on the torch backend a
    tensor may require grad or sit on a GPU, which ``np.asarray`` refuses)."""
    import keras

    if isinstance(value, keras.Variable):
        return np.asarray(value.numpy())
    return np.asarray(keras.ops.convert_to_numpy(value))


def keras_backend() -> str:
    """The backend Keras runs on in this process (imports Keras: it is fixed from then on)."""
    import keras

    return keras.backend.backend()


def _get_keras_layer(model, name):
    if hasattr(model, "get_layer") and not hasattr(model, "rgb_encoder"):
        return model.get_layer(name)
    return getattr(model, name)


def copy_keras_to_torch(keras_model, torch_model, name: str, config) -> None:
    """Overwrite the PyTorch model's weights with the Keras model's (see module docstring)."""
    import torch
    from keras import layers

    def put(tensor, array):
        array = np.asarray(array, dtype=np.float32)
        if tuple(tensor.shape) != array.shape:
            raise ValueError(f"shape mismatch: torch {tuple(tensor.shape)} vs keras {array.shape}")
        with torch.no_grad():
            tensor.copy_(torch.from_numpy(array))

    def put_lstm(module, keras_lstm, suffix=""):
        cell = keras_lstm.cell
        put(getattr(module, f"weight_ih_l0{suffix}"), to_numpy(cell.kernel).T)
        put(getattr(module, f"weight_hh_l0{suffix}"), to_numpy(cell.recurrent_kernel).T)
        put(getattr(module, f"bias_ih_l0{suffix}"), to_numpy(cell.bias))
        put(getattr(module, f"bias_hh_l0{suffix}"), np.zeros_like(to_numpy(cell.bias)))

    for keras_name, torch_path in layer_pairs(name, config):
        layer = _get_keras_layer(keras_model, keras_name)
        module = torch_model.get_submodule(torch_path)
        if isinstance(layer, layers.Bidirectional):
            put_lstm(module, layer.forward_layer)
            put_lstm(module, layer.backward_layer, "_reverse")
        elif isinstance(layer, layers.LSTM):
            put_lstm(module, layer)
        elif isinstance(layer, layers.BatchNormalization):
            put(module.weight, to_numpy(layer.gamma))
            put(module.bias, to_numpy(layer.beta))
            put(module.running_mean, to_numpy(layer.moving_mean))
            put(module.running_var, to_numpy(layer.moving_variance))
        elif isinstance(layer, layers.Dense):
            put(module.weight, to_numpy(layer.kernel).T)
            put(module.bias, to_numpy(layer.bias))
        else:
            raise TypeError(f"no weight mapping for Keras layer {keras_name!r} ({type(layer)})")


def randomize_weights(keras_model, seed: int = 0) -> None:
    """Random values in every Keras weight, so the comparison exercises every tensor's
    placement, not just the (mostly zero) initial biases and statistics. Kernels get
    std 1/sqrt(fan_in), so activations keep the size they have in a trained model at any
    width (an unrealistically large scale would only measure float32 round-off of huge
    pre-activations); variances stay positive."""
    rng = np.random.default_rng(seed)
    for variable in keras_model.weights:
        if "seed_generator" in variable.path:
            continue
        shape = tuple(variable.shape)
        if variable.path.endswith(("moving_variance", "gamma")):
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) == 2:  # Dense or LSTM kernel (fan_in, units)
            value = rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape)
        else:  # biases, beta, moving mean
            value = rng.normal(0.0, 0.1, shape)
        variable.assign(value.astype(np.float32))


# ---------------------------------------------------------------- batches
def random_batch(
    name: str, config, batch_size: int = 6, frames: int = 8, seed: int = 0, labels: bool = True
) -> dict:
    """A batch dict like the pipelines make, with variable lengths (0 .. frames, both ends
    included; a video without frames counts as one zero frame in both frameworks) and zero
    padding."""
    rng = np.random.default_rng(seed)

    def features(*shape):
        return rng.normal(0.0, 0.5, shape).astype(np.float32)

    batch = {}
    if name == "autoencoder" or model_level(name) == "video":
        batch["rgb"] = features(batch_size, config.rgb_dim)
        batch["audio"] = features(batch_size, config.audio_dim)
    else:
        lengths = rng.integers(1, frames + 1, batch_size)
        lengths[0], lengths[1], lengths[-1] = frames, 0, 1
        mask = (np.arange(frames)[None, :] < lengths[:, None])[..., None]
        batch["rgb"] = features(batch_size, frames, config.rgb_dim) * mask
        batch["audio"] = features(batch_size, frames, config.audio_dim) * mask
        batch["num_frames"] = lengths.astype(np.int32)
        batch["mean_rgb"] = features(batch_size, config.rgb_dim)
        batch["mean_audio"] = features(batch_size, config.audio_dim)
    if labels and name != "autoencoder":
        batch["labels"] = (rng.random((batch_size, config.num_classes)) < 0.05).astype(np.float32)
    return batch


def _torch_batch(batch: dict) -> dict:
    import torch

    return {
        k: torch.from_numpy(np.asarray(v)).long()
        if k == "num_frames"
        else torch.from_numpy(np.asarray(v))
        for k, v in batch.items()
        if k != "id"
    }


def _build_pair(name: str, config, seed: int):
    """(keras model, torch model) of one architecture, the torch one holding Keras' weights."""
    import keras
    import torch

    from yt8m_lib.keras import models as keras_models
    from yt8m_lib.torch import models as torch_models

    keras.utils.set_random_seed(seed)
    torch.manual_seed(seed)
    if name == "autoencoder":
        keras_model = keras_models.build_autoencoder(config)
        torch_model = torch_models.build_autoencoder(config)
    else:
        keras_model = keras_models.build_model(name, config)
        torch_model = torch_models.build_model(name, config)
    return keras_model, torch_model


def _outputs(name, keras_model, torch_model, batch):
    """Inference-mode outputs of both models on a batch, as numpy arrays."""
    import torch

    from yt8m_lib.keras.models import select_inputs

    torch_model.eval()
    tb = _torch_batch(batch)
    with torch.no_grad():
        if name == "autoencoder":
            t_out = torch.cat(
                [
                    torch.cat(torch_model.encode(tb["rgb"], tb["audio"]), -1),
                    torch.cat(torch_model(tb["rgb"], tb["audio"]), -1),
                ],
                -1,
            )
        else:
            t_out = torch_model(tb)
    if name == "autoencoder":
        codes = keras_model.encode(batch["rgb"], batch["audio"])
        recs = keras_model(batch["rgb"], batch["audio"], training=False)
        k_out = np.concatenate(
            [
                np.concatenate([to_numpy(c) for c in codes], -1),
                np.concatenate([to_numpy(r) for r in recs], -1),
            ],
            -1,
        )
    else:
        k_out = to_numpy(keras_model(select_inputs(keras_model, batch), training=False))
    return k_out, t_out.numpy()


def check_parity(
    model_name: str, profile: str = "smoke", num_classes: int | None = None, seed: int = 0
) -> dict:
    """Build one model in both frameworks, copy the weights, compare counts and outputs."""
    from yt8m_lib.keras.models import count_parameters as keras_count
    from yt8m_lib.torch.models import count_parameters as torch_count

    prof = get_profile(profile)
    config = with_overrides(prof.model, num_classes=num_classes)
    keras_model, torch_model = _build_pair(model_name, config, seed)
    randomize_weights(keras_model, seed)
    copy_keras_to_torch(keras_model, torch_model, model_name, config)
    batch = random_batch(
        model_name, config, frames=prof.train.frames_per_video, seed=seed, labels=False
    )
    k_out, t_out = _outputs(model_name, keras_model, torch_model, batch)
    result = {
        "model": model_name,
        "keras_backend": keras_backend(),
        "profile": profile,
        "num_classes": config.num_classes,
        "keras_parameters": keras_count(keras_model),
        "torch_parameters": torch_count(torch_model),
        "max_abs_diff": float(np.max(np.abs(k_out - t_out))),
        # probabilities are <= 1; the autoencoder's reconstructions are not, and float32
        # round-off grows with the size of the values compared
        "output_scale": float(max(1.0, np.max(np.abs(k_out)))),
        "output_shape": list(k_out.shape),
        "sequence_lengths": (batch["num_frames"].tolist() if "num_frames" in batch else None),
    }
    result["ok"] = bool(
        result["keras_parameters"] == result["torch_parameters"]
        and k_out.shape == t_out.shape
        and result["max_abs_diff"] <= TOLERANCE * result["output_scale"]
    )
    return result


# ---------------------------------------------------------------- training side by side
def train_both(
    model_name: str,
    batches: list[dict],
    profile: str = "smoke",
    seed: int = 0,
    num_classes: int | None = None,
    global_clipnorm: float | None = None,
) -> dict:
    """Train both frameworks one step per batch, from the same initial weights (Keras',
    copied), with dropout off; returns {"keras": [losses], "torch": [losses]}.
    ``global_clipnorm`` replaces the profile's (None: keep it).

    Keras runs its trainer's step on TensorFlow (``yt8m_lib.keras.train.make_train_step``:
    Adam with the config's epsilon, clipped BCE, global clipping) and the same step written
    for torch autograd on the torch backend (``yt8m_lib.keras.torch_step``); PyTorch runs its
    trainer's step (``yt8m_lib.torch.train.make_optimizer`` and ``train_step``, which ``fit``
    takes).
    """
    from yt8m_lib.torch import train as torch_train

    prof = get_profile(profile)
    config = with_overrides(prof.model, num_classes=num_classes, dropout=0.0)
    train_config = with_overrides(prof.train, global_clipnorm=global_clipnorm)
    keras_model, torch_model = _build_pair(model_name, config, seed)
    copy_keras_to_torch(keras_model, torch_model, model_name, config)

    if keras_backend() == "torch":
        from yt8m_lib.keras import torch_step as keras_train
    else:
        from yt8m_lib.keras import train as keras_train
    keras_optimizer = keras_train.make_optimizer(train_config)
    keras_optimizer.build(keras_model.trainable_variables)
    keras_step = keras_train.make_train_step(keras_model, keras_optimizer, train_config)
    torch_optimizer = torch_train.make_optimizer(torch_model, train_config)
    torch_model.train()
    losses = {"keras": [], "torch": []}
    for batch in batches:
        losses["keras"].append(float(keras_step(batch)))
        losses["torch"].append(
            torch_train.train_step(torch_model, torch_optimizer, _torch_batch(batch), train_config)
        )
    return losses


def check_steps(
    model_name: str,
    profile: str = "smoke",
    steps: int = STEPS,
    batch_size: int = 16,
    num_classes: int | None = None,
    seed: int = 0,
) -> dict:
    """The training half of the proof for one classifier: ``steps`` optimizer steps in both
    frameworks from the same weights on the same random batches, with the profile's settings
    (Adam's epsilon included): the losses must agree within ``STEP_TOLERANCE``.

    Epsilon is where Keras' stock Adam and PyTorch's differ (before or after the bias
    correction); the Keras trainers use ``keras.models.CorrectedEpsilonAdam``, PyTorch's
    rule, so these steps check it too: with the stock Keras Adam the losses of 5 steps at
    3,862 classes differ by about 1e-3, far outside the tolerance.
    """
    prof = get_profile(profile)
    config = with_overrides(prof.model, num_classes=num_classes)
    batches = [
        random_batch(
            model_name,
            config,
            batch_size=batch_size,
            frames=prof.train.frames_per_video,
            seed=seed + step,
        )
        for step in range(steps)
    ]
    losses = train_both(model_name, batches, profile, seed, num_classes)
    difference = float(np.max(np.abs(np.subtract(losses["keras"], losses["torch"]))))
    return {
        "steps": steps,
        "step_batch_size": batch_size,
        "step_losses": losses,
        "max_step_loss_diff": difference,
        "steps_ok": bool(difference <= STEP_TOLERANCE),
    }


# ---------------------------------------------------------------- CLI
def use_keras_backend(backend: str) -> bool:
    """Make Keras run on ``backend`` in this process if it still can: True when it does.

    Keras reads ``KERAS_BACKEND`` once, when it is first imported, and cannot switch after.
    The ``yt8m`` command dispatches before anything imports Keras (``yt8m_lib.cli``; this
    module imports no framework at import time), so a command-line run sets the variable
    here and runs in this process; ``--keras-backend`` wins over an inherited
    ``KERAS_BACKEND``. False when Keras is already imported with another backend (a notebook
    or a test process): the caller then runs the command in a child process."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
    return keras_backend() == backend


def _run_in_child(args) -> int:
    """The same parity command in a fresh interpreter with ``KERAS_BACKEND`` set; its output
    is passed on (through sys.stdout/sys.stderr, so callers that capture them see it)."""
    import subprocess

    command = [sys.executable, "-m", "yt8m_lib", "parity", "--model", args.model]
    command += ["--profile", args.profile, "--keras-backend", args.keras_backend]
    command += ["--json"] if args.json else []
    env = {**os.environ, "KERAS_BACKEND": args.keras_backend}
    child = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    sys.stdout.write(child.stdout)
    sys.stderr.write(child.stderr)
    return child.returncode


def parity_row(name: str, profile: str) -> dict:
    """One model's proof: ``check_parity`` (counts, outputs) and, for the classifiers,
    ``check_steps`` (losses over the first training steps); ``ok`` needs both."""
    row = check_parity(name, profile)
    if name in MODEL_NAMES:
        row.update(check_steps(name, profile))
        row["ok"] = bool(row["ok"] and row["steps_ok"])
    return row


def cli_main(args) -> int:
    """`yt8m parity [--model NAME|all] [--json] [--profile P] [--keras-backend B]`: non-zero
    unless every model has equal parameter counts, outputs within TOLERANCE and (classifiers)
    training losses within STEP_TOLERANCE. Keras runs on ``--keras-backend`` (default
    tensorflow); every row records it (``keras_backend``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    names = PARITY_NAMES if args.model == "all" else (args.model,)
    for name in names:
        if name not in PARITY_NAMES:
            raise ConfigError(
                f"unknown model {name!r}; choose from {', '.join(PARITY_NAMES)} or all"
            )
    backend = getattr(args, "keras_backend", KERAS_BACKENDS[0])
    if backend not in KERAS_BACKENDS:
        raise ConfigError(
            f"unknown Keras backend {backend!r}; choose from {', '.join(KERAS_BACKENDS)}"
        )
    if not use_keras_backend(backend):
        return _run_in_child(args)
    results = [parity_row(name, args.profile) for name in names]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"{'model':<12} {'keras on':<10} {'keras params':>13} {'torch params':>13} "
            f"{'max |diff|':>11} {'step |diff|':>11}  ok"
        )
        for r in results:
            step = (
                f"{r['max_step_loss_diff']:>11.2e}" if "max_step_loss_diff" in r else "          -"
            )
            print(
                f"{r['model']:<12} {r['keras_backend']:<10} {r['keras_parameters']:>13,} "
                f"{r['torch_parameters']:>13,} {r['max_abs_diff']:>11.2e} {step}  "
                f"{'yes' if r['ok'] else 'NO'}"
            )
    if not all(r["ok"] for r in results):
        print(
            f"parity: FAILED (counts differ, outputs differ by more than {TOLERANCE:g} or "
            f"training losses by more than {STEP_TOLERANCE:g})",
            file=sys.stderr,
        )
        return 1
    return 0

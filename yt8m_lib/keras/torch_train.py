"""The Keras adapter of the trainer contract on the PyTorch backend (``KERAS_BACKEND=torch``):
the same Keras model code as ``yt8m_lib.keras.train`` (``yt8m_lib.keras.models``), trained by
the one epoch loop (``yt8m_lib.training.fit``) with the step of ``yt8m_lib.keras.torch_step``
(torch autograd, the Keras Adam), read side by side with ``yt8m_lib.keras.train`` and
``yt8m_lib.torch.train``: the same public names (``Trainer``, ``train``, ``run``,
``load_trained``, ``evaluate``, ``predict_scores``).

It imports no TensorFlow, so it also runs where only PyTorch is installed (the lent GPU
machines): ``yt8m train --framework keras --keras-backend torch``. The batches are the
project's reader's (``InputSpec.batches``), the same videos in the same order as the other
two trainers; the checkpoints have the format of ``yt8m_lib.keras.checkpoints`` (every
variable in order), and the run record says ``"keras_backend": "torch"``.

Not yet here (``docs/methods.md``): several processes (Keras on torch under ``torchrun``),
autoencoder codes as inputs and training the autoencoder, mixed precision.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import keras
import numpy as np
import torch

from yt8m_lib import training
from yt8m_lib.data.batches import BackgroundLoader
from yt8m_lib.errors import ConfigError
from yt8m_lib.evaluation.metrics import StreamingEvaluator
from yt8m_lib.keras.checkpoints import BEST, LAST, load_variables, save_variables
from yt8m_lib.keras.models import build_model, clipped_bce, count_parameters, make_optimizer
from yt8m_lib.keras.torch_step import make_train_step, require_torch_backend, to_model_batch
from yt8m_lib.runs import run_record
from yt8m_lib.training import RunSpec

KERAS_BACKEND = "torch"


# ---------------------------------------------------------------- set-up
def device_scope(device: str | None):
    """Where Keras puts its tensors: its own choice (a GPU when torch sees one) unless
    ``device`` names one (``cpu``, ``cuda``, ``cuda:1``)."""
    if device is None:
        return contextlib.nullcontext()
    if device.startswith(("cuda", "gpu")) and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: torch sees no GPU")
    return keras.device(device.replace("gpu", "cuda"))


def setup(seed: int) -> None:
    """Backend check, one process, seeds (Python, numpy, torch) and full float32 matmuls."""
    require_torch_backend()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            "Keras on the torch backend trains in one process here; run the distributed "
            "comparison with --framework torch (DDP) or Keras on TensorFlow"
        )
    keras.utils.set_random_seed(seed)
    torch.backends.cuda.matmul.allow_tf32 = False  # as the other two trainers: no TF32
    torch.backends.cudnn.allow_tf32 = False


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def device_name() -> str:
    return "gpu" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------- forward and scoring
def predict(model, batches, *, evaluator=None, writer=None, bce_epsilon: float = 1e-7) -> dict:
    """Scores batches: mean loss, the official metrics, timings; optional predictions file
    (the names and results of ``yt8m_lib.keras.train.predict``)."""
    loss_sum, count, latencies, sizes = 0.0, 0, [], []
    with torch.no_grad():
        for batch in batches:
            inputs, labels = to_model_batch(model, batch)
            sync()
            start = time.perf_counter()
            p = model(inputs, training=False)
            sync()
            latencies.append(time.perf_counter() - start)
            p = keras.ops.cast(p, "float32")
            n = int(p.shape[0])
            sizes.append(n)
            loss_sum += float(clipped_bce(p, labels, bce_epsilon)) * n
            count += n
            p_np = keras.ops.convert_to_numpy(p)
            if evaluator is not None:
                evaluator.add(p_np, np.asarray(batch["labels"]))
            if writer is not None:
                writer.write(batch["id"], p_np)
    if count == 0:
        raise ConfigError("no videos to evaluate")
    out = {"loss": loss_sum / count, "num_videos": count}
    out.update(training.inference_timings(latencies, sizes))
    if evaluator is not None:
        out["metrics"] = evaluator.result()
    return out


# ---------------------------------------------------------------- the adapter
class Trainer(training.Trainer):
    """What the epoch loop needs from Keras on the PyTorch backend, for a classifier."""

    framework = "keras"
    keras_backend = KERAS_BACKEND
    LAST, BEST = LAST, BEST

    def __init__(
        self,
        spec: RunSpec,
        train_paths,
        val_paths,
        *,
        device: str | None = None,
        mixed_precision: bool = False,
    ):
        if spec.is_autoencoder or spec.features == "autoencoder":
            raise ConfigError(
                "Keras on the torch backend trains classifiers on raw features; the "
                "autoencoder runs in PyTorch or Keras on TensorFlow"
            )
        if mixed_precision:
            raise ConfigError("mixed precision is not offered for Keras on the torch backend")
        setup(spec.seed)
        self.rank, self.world_size = 0, 1
        self.spec = spec
        self.device = device  # keras.device scopes are one-shot: a new one per use
        config = spec.train_config
        with device_scope(self.device):
            self.model = build_model(spec.model, spec.model_config)
            self.set_output_biases(training.output_biases(spec, train_paths))
            self.optimizer = make_optimizer(config)
            self.step = make_train_step(self.model, self.optimizer, config)
        self.train_input, self.val_input = spec.inputs(train_paths, val_paths)
        self.skips_single_video_batches = any(
            isinstance(layer, keras.layers.BatchNormalization) for layer in self.model.layers
        )
        self.lower_is_better = False

    def set_output_biases(self, biases) -> None:
        """Start the classifier's output biases at the class prior (None: keep zero)."""
        for (name, _), values in (biases or {}).items():
            self.model.get_layer(name).bias.assign(values)

    # the record
    def new_record(self) -> dict:
        record = self.spec.new_record(
            self.framework,
            self.train_input,
            self.val_input,
            distributed={"world_size": 1, "backend": None},
        )
        record["framework_version"] = keras.__version__
        record["keras_backend"] = self.keras_backend
        record["parameters"] = count_parameters(self.model)
        return record

    # the loop's names
    def epoch_batches(self, epoch: int):
        return BackgroundLoader(self.train_input.batches(epoch), 2), 0

    def batch_ids(self, batch) -> list:
        return batch["id"]

    def examples_in_step(self, batch) -> int:
        return len(batch["id"])

    def train_step(self, batch) -> float:
        with device_scope(self.device):
            return self.step(batch)  # a float: the step has finished

    def end_epoch(self, loss_sum, count):
        return loss_sum, count

    def validate(self):
        with device_scope(self.device):
            out = predict(
                self.model,
                self.val_input.batches(),
                evaluator=StreamingEvaluator(
                    self.spec.outputs, vocabulary=self.spec.validation_vocabulary
                ),
                bce_epsilon=self.spec.train_config.bce_epsilon,
            )
        m = out["metrics"]
        inference = {k: out[k] for k in ("inference_videos_per_s", "inference_batch_latency_ms")}
        inference["inference_batch_size"] = self.val_input.batch_size
        return training.validation_entry(out["loss"], m), m, inference

    def save_weights(self, path: Path, epoch: int | None = None) -> None:
        save_variables(path, self.model.variables, {"epoch": epoch})

    def save_checkpoint(self, path: Path, state: dict) -> None:
        save_variables(path, self.model.variables, state, o=self.optimizer.variables)

    def load_checkpoint(self, path: Path) -> dict:
        with device_scope(self.device):
            return load_variables(path, self.model.variables, o=self.optimizer.variables)


# ---------------------------------------------------------------- public functions
def train(**kwargs) -> dict | None:
    """Train one classifier: ``yt8m_lib.training.train_classifier`` with this adapter."""
    return training.train_classifier(Trainer, **kwargs)


def run(spec: RunSpec, train_paths, val_paths, out_dir, **options) -> dict | None:
    """Train a ``RunSpec``: ``yt8m_lib.training.train_spec`` with this adapter."""
    return training.train_spec(Trainer, spec, train_paths, val_paths, out_dir, **options)


def load_trained(run_dir, device=None):
    """(model with its best weights, None (no encoder), run record)."""
    run_dir = Path(run_dir)
    record = run_record.read_run_record(run_dir)
    setup(int(record.get("seed") or 0))
    with device_scope(device):
        net = build_model(
            record["model"], training.model_config_from_dict(record["config"]["model"])
        )
        load_variables(run_dir / BEST, net.variables)
    return net, None, record


def scorer(run_dir, device=None):
    """(run record, ``score(data, evaluator, writer)``): one pass of a trained run's best
    weights over ``data`` (as ``yt8m_lib.keras.train.scorer``)."""
    net, _, record = load_trained(run_dir, device)

    def score(data, evaluator, writer):
        with device_scope(device):
            return predict(
                net,
                data.batches(),
                writer=writer,
                evaluator=evaluator,
                bce_epsilon=record["config"]["train"]["bce_epsilon"],
            )

    return record, score


def evaluate(
    run_dir, data_paths, *, predictions_path=None, vocabulary=None, device=None, split_name="test"
) -> dict:
    """Score a trained run's best weights on ``data_paths`` (as ``yt8m_lib.keras.train``)."""
    record, score = scorer(run_dir, device)
    return training.evaluate_keras_style(
        run_dir,
        record,
        data_paths,
        score,
        predictions_path=predictions_path,
        vocabulary=vocabulary,
        split_name=split_name,
        device=device_name(),
    )


def predict_scores(run_dir, data_paths, *, device: str | None = None):
    """(video ids, (N, outputs) float32 scores) of a trained run's best weights on
    ``data_paths``, in file order (as ``yt8m_lib.keras.train.predict_scores``)."""
    record, score = scorer(run_dir, device)
    return training.collect_scores(record, data_paths, score)

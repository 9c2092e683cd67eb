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

Several processes (``torchrun``, gloo on CPU and nccl on CUDA; ``Distributed`` of
``yt8m_lib.torch.train``): data parallel as PyTorch's DDP computes it, written out for Keras'
variables. Each process reads its own share of the records with batch_size / N of the global
batch; after ``loss.backward()`` the gradients are summed over the processes in one
all-reduce and divided by N, and every process applies the same averaged gradient, so the
weights stay identical. A process whose share has run out (shares are uneven) takes *shadow
steps*: it adds zero gradients to the others' all-reduce and applies the same average, as
DDP's ``join`` does, so every record is trained on once per epoch. BatchNorm statistics are
broadcast from rank 0 after every epoch; only rank 0 validates and writes. Not DDP's module
wrapper: its gradient hooks see only a forward through the wrapper, and the late-fusion
models' loss calls the model through a second Keras model of its heads.

The denoising autoencoder trains here too (``yt8m autoencoder --framework keras
--keras-backend torch``), and a classifier reads a Keras autoencoder's codes
(``--features autoencoder``; the checkpoint is the same file on either backend). Not yet here
(``docs/methods.md``): mixed precision.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import torch
import torch.distributed as dist

from yt8m_lib import training
from yt8m_lib.data.batches import BackgroundLoader
from yt8m_lib.errors import ConfigError
from yt8m_lib.evaluation.metrics import StreamingEvaluator
from yt8m_lib.keras.checkpoints import (
    BEST,
    LAST,
    encoder_for,
    load_encoder,
    load_variables,
    save_variables,
)
from yt8m_lib.keras.models import (
    Autoencoder,
    build_model,
    clipped_bce,
    count_parameters,
    encode_inputs,
    make_optimizer,
    reconstruction_errors,
)
from yt8m_lib.keras.torch_step import (
    make_autoencoder_step,
    make_train_step,
    require_torch_backend,
    to_model_batch,
)
from yt8m_lib.runs import run_record
from yt8m_lib.torch.train import Distributed, per_rank_batch
from yt8m_lib.torch.train import seed_everything as torch_seed_everything
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


def seed_everything(seed: int) -> None:
    """``keras.utils.set_random_seed`` without its TensorFlow seed, which imports TensorFlow
    wherever it is installed (for tf.data pipelines, never used here) and would put its
    runtime into every Keras-on-torch process's memory and start-up: the global seed and
    SeedGenerator of Keras, then Python's ``random`` (Keras' default seeds), numpy and torch
    as the PyTorch trainer seeds them."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    torch_seed_everything(seed)


def setup(seed: int) -> None:
    """Backend check, seeds (Python, numpy, torch, Keras) and full float32 matmuls."""
    require_torch_backend()
    seed_everything(seed)
    torch.backends.cuda.matmul.allow_tf32 = False  # as the other two trainers: no TF32
    torch.backends.cudnn.allow_tf32 = False


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def device_name() -> str:
    return "gpu" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------- forward and scoring
def predict(
    model, batches, *, encoder=None, evaluator=None, writer=None, bce_epsilon: float = 1e-7
) -> dict:
    """Scores batches: mean loss, the official metrics, timings; optional predictions file
    (the names and results of ``yt8m_lib.keras.train.predict``; the clock covers the model's
    forward pass, not the autoencoder's encoding)."""
    loss_sum, count, latencies, sizes = 0.0, 0, [], []
    with torch.no_grad():
        for batch in batches:
            inputs, labels = to_model_batch(model, batch)
            if encoder is not None:
                inputs = encode_inputs(encoder, inputs)
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


def validate_autoencoder(autoencoder, batches) -> dict:
    """Mean reconstruction errors of the validation set (rgb, audio and their sum)."""

    def batch_errors():
        for batch in batches:
            rgb, audio = reconstruction_errors(autoencoder, batch, training=False)
            yield float(rgb), float(audio), int(batch["rgb"].shape[0])

    with torch.no_grad():
        return training.mean_reconstruction_errors(batch_errors())


# ---------------------------------------------------------------- the adapter
class Trainer(training.Trainer):
    """What the epoch loop needs from Keras on the PyTorch backend, for a classifier or the
    autoencoder."""

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
        if mixed_precision:
            raise ConfigError("mixed precision is not offered for Keras on the torch backend")
        setup(spec.seed)
        self.dist = Distributed(device)  # torchrun: the process group (gloo / nccl)
        self.rank, self.world_size = self.dist.rank, self.dist.world_size
        # keras.device scopes are one-shot: a new one per use; several processes on GPUs
        # take one each (cuda:<local rank>)
        self.device = str(self.dist.device) if self.dist.active else device
        with device_scope(self.device):
            self.encoder, spec, normalize = encoder_for(spec)
        self.spec = spec
        config = spec.train_config
        reduce_gradients = self.average_gradients if self.dist.active else None
        with device_scope(self.device):
            self.optimizer = make_optimizer(config)
            if spec.is_autoencoder:
                self.model = Autoencoder(spec.model_config)
                self.step = make_autoencoder_step(self.model, self.optimizer, reduce_gradients)
            else:
                self.model = build_model(spec.model, spec.model_config)
                self.set_output_biases(training.output_biases(spec, train_paths))
                self.step = make_train_step(
                    self.model, self.optimizer, config, reduce_gradients, encoder=self.encoder
                )
        self.per_rank_batch = per_rank_batch(config.batch_size, self.world_size)
        self.train_input, self.val_input = spec.inputs(train_paths, val_paths, normalize=normalize)
        self.train_input = dataclasses.replace(self.train_input, batch_size=self.per_rank_batch)
        self.skips_single_video_batches = any(
            isinstance(layer, keras.layers.BatchNormalization) for layer in self.model.layers
        )
        self.lower_is_better = spec.is_autoencoder

    def set_output_biases(self, biases) -> None:
        """Start the classifier's output biases at the class prior (None: keep zero)."""
        for (name, _), values in (biases or {}).items():
            self.model.get_layer(name).bias.assign(values)

    # the record
    def new_record(self) -> dict:
        distributed = self.dist.info(self.per_rank_batch)
        if self.dist.active:
            distributed["uneven_shards"] = "shadow steps (zero gradients, as DDP join)"
        record = self.spec.new_record(
            self.framework, self.train_input, self.val_input, distributed=distributed
        )
        record["framework_version"] = keras.__version__
        record["keras_backend"] = self.keras_backend
        record["parameters"] = count_parameters(self.model)
        return record

    # the loop's names
    def epoch_batches(self, epoch: int):
        batches = BackgroundLoader(
            self.train_input.batches(epoch, reader_index=self.rank, num_readers=self.world_size),
            2,
        )
        # the collectives run here, in the loop's thread (the loader's thread only reads)
        return (self.in_step(batches) if self.dist.active else batches), 0

    # several processes: every process takes the same number of gradient all-reduces
    def in_step(self, batches):
        """This process's batches, one per step of all processes: while any process still
        has a batch, one without (its share ran out) or with a batch the loop skips (one
        video and BatchNorm) takes a shadow step instead."""
        batches = iter(batches)
        while True:
            batch = next(batches, None)
            if self.dist.sum(float(batch is not None))[0] == 0:
                return
            skipped = batch is not None and (
                self.skips_single_video_batches and len(batch["id"]) == 1
            )
            if batch is None or skipped:
                self.shadow_step()
            if batch is not None:
                yield batch

    def average_gradients(self, gradients):
        """The mean over processes of each gradient, in one all-reduce (None: zeros)."""
        variables = self.model.trainable_variables
        gradients = [
            torch.zeros_like(v.value) if g is None else g for g, v in zip(gradients, variables)
        ]
        flat = torch.cat([g.reshape(-1) for g in gradients])
        dist.all_reduce(flat)
        flat /= self.world_size
        return [
            part.view_as(g)
            for part, g in zip(flat.split([g.numel() for g in gradients]), gradients)
        ]

    def shadow_step(self) -> None:
        """No batch here: zero gradients into the others' all-reduce, then the same update."""
        variables = self.model.trainable_variables
        with device_scope(self.device), torch.no_grad():
            gradients = self.average_gradients([torch.zeros_like(v.value) for v in variables])
            self.optimizer.apply(gradients, variables)

    def batch_ids(self, batch) -> list:
        return batch["id"]

    def examples_in_step(self, batch) -> int:
        return len(batch["id"])

    def train_step(self, batch) -> float:
        with device_scope(self.device):
            return self.step(batch)  # a float: the step has finished

    def end_epoch(self, loss_sum, count):
        """Sums over processes; BatchNorm statistics (every non-trainable variable) from
        rank 0."""
        loss_sum, count = self.dist.sum(loss_sum, count)
        if self.dist.active:
            with torch.no_grad():
                for variable in self.model.non_trainable_variables:
                    dist.broadcast(variable.value.data, src=0)
        return loss_sum, count

    def validate(self):
        if self.spec.is_autoencoder:
            with device_scope(self.device):
                evaluation = validate_autoencoder(self.model, self.val_input.batches())
            entry = {k: v for k, v in evaluation.items() if k != "num_videos"}
            return entry, evaluation, {}
        with device_scope(self.device):
            out = predict(
                self.model,
                self.val_input.batches(),
                encoder=self.encoder,
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

    def barrier(self) -> None:
        self.dist.barrier()

    def close(self) -> None:
        self.dist.close()


# ---------------------------------------------------------------- public functions
def train(**kwargs) -> dict | None:
    """Train one classifier: ``yt8m_lib.training.train_classifier`` with this adapter."""
    return training.train_classifier(Trainer, **kwargs)


def train_autoencoder(**kwargs) -> dict | None:
    """Train the denoising autoencoder: ``yt8m_lib.training.train_autoencoder`` with this
    adapter; ``--features autoencoder`` reads its best weights."""
    return training.train_autoencoder(Trainer, **kwargs)


def run(spec: RunSpec, train_paths, val_paths, out_dir, **options) -> dict | None:
    """Train a ``RunSpec``: ``yt8m_lib.training.train_spec`` with this adapter."""
    return training.train_spec(Trainer, spec, train_paths, val_paths, out_dir, **options)


def load_trained(run_dir, device=None):
    """(model with its best weights, encoder or None, run record)."""
    run_dir = Path(run_dir)
    record = run_record.read_run_record(run_dir)
    setup(int(record.get("seed") or 0))
    encoder = None
    with device_scope(device):
        net = build_model(
            record["model"], training.model_config_from_dict(record["config"]["model"])
        )
        load_variables(run_dir / BEST, net.variables)
    if record.get("features") == "autoencoder" and record["config"].get("autoencoder"):
        with device_scope(device):
            encoder, _, _ = load_encoder(record["config"]["autoencoder"])
    return net, encoder, record


def scorer(run_dir, device=None):
    """(run record, ``score(data, evaluator, writer)``): one pass of a trained run's best
    weights over ``data`` (as ``yt8m_lib.keras.train.scorer``)."""
    net, encoder, record = load_trained(run_dir, device)

    def score(data, evaluator, writer):
        with device_scope(device):
            return predict(
                net,
                data.batches(),
                encoder=encoder,
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

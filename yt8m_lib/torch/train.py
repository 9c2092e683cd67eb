"""The PyTorch adapter of the trainer contract (``yt8m_lib.training``): ``Trainer`` (the
names the one epoch loop calls) and the public ``train``, ``train_autoencoder`` and
``evaluate``, read side by side with ``yt8m_lib.keras.train``.

* Device: ``cuda`` when available, else ``cpu``; ``device=`` overrides. Mixed precision
  (float16 autocast + gradient scaling) only on CUDA and only when asked for.
* Determinism: the model is initialised after ``torch.manual_seed(seed)``; every epoch
  reseeds torch from (seed, epoch, rank) and the data order depends only on (seed, epoch), so
  a run resumed from its last checkpoint ends with the same weights as an uninterrupted one.
* Distributed: launched with ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK in the environment),
  gloo on CPU and nccl on CUDA. The profile's batch size is the *global* batch: each of N
  ranks takes batch_size / N (as tf.distribute splits a global batch). Each rank reads its
  own share of the records; uneven shares are handled by DDP's ``join`` (a rank that runs out
  of batches shadows the others' all-reduces), so every record is trained on exactly once per
  epoch. BatchNorm statistics are broadcast from rank 0 at the end of every epoch. Only rank
  0 validates, writes checkpoints, logs and the run record; the other ranks return None.
* Checkpoints: ``last.pt`` (model, optimizer, scaler, loop state), ``best.pt`` (weights).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from yt8m_lib import training
from yt8m_lib.config import AUDIO_DIM, RGB_DIM
from yt8m_lib.errors import ConfigError, DataError
from yt8m_lib.evaluation.metrics import StreamingEvaluator
from yt8m_lib.runs import run_record
from yt8m_lib.torch.data import YT8MDataset, make_loader, to_device
from yt8m_lib.torch.models import (
    Autoencoder,
    build_model,
    classifier_loss,
    clipped_bce,
    count_parameters,
    reconstruction_errors,
)
from yt8m_lib.training import RunSpec

LAST, BEST = "last.pt", "best.pt"


# ------------------------------------------------------------------ set-up


def resolve_device(device: str | None) -> torch.device:
    if device:
        chosen = torch.device(device)
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: CUDA is not available here")
        return chosen
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 1_009 + rank) % 2**63


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Distributed:
    """Rank, world size and device of this process; initialises torch.distributed when
    launched by torchrun with more than one process."""

    def __init__(self, device: str | None):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.backend = None
        self.owns_group = False
        self.device = resolve_device(device)
        if self.world_size > 1:
            if self.device.type == "cuda" and device in (None, "cuda"):
                self.device = torch.device("cuda", self.local_rank)
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            self.backend = "nccl" if self.device.type == "cuda" else "gloo"
            if not dist.is_initialized():
                dist.init_process_group(self.backend, init_method="env://")
                self.owns_group = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def sum(self, *values: float) -> list[float]:
        """Sum of each value over all ranks (float64 on CPU for gloo, on the device for nccl)."""
        tensor = torch.tensor(
            values, dtype=torch.float64, device=self.device if self.backend == "nccl" else "cpu"
        )
        if self.active:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        if self.active:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    def info(self, per_rank_batch: int) -> dict:
        return {
            "world_size": self.world_size,
            "backend": self.backend,
            "device": str(self.device),
            "per_rank_batch_size": per_rank_batch,
            "uneven_shards": "ddp join" if self.active else None,
        }

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


def per_rank_batch(batch_size: int, world_size: int) -> int:
    if batch_size % world_size:
        raise ConfigError(
            f"the global batch size {batch_size} does not split evenly over {world_size} processes"
        )
    return batch_size // world_size


def autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def load_autoencoder(run_dir, device: torch.device) -> tuple[Autoencoder, dict]:
    """The trained (frozen, eval-mode) autoencoder of a ``train_autoencoder`` run, and its
    run record."""
    record = run_record.read_run_record(run_dir)
    config = training.model_config_from_dict(record["config"]["model"])
    autoencoder = Autoencoder(config, RGB_DIM, AUDIO_DIM)
    state = torch.load(Path(run_dir) / BEST, map_location=device, weights_only=True)
    autoencoder.load_state_dict(state["model"])
    autoencoder.to(device).eval().requires_grad_(False)
    return autoencoder, record


def encode_batch(autoencoder: Autoencoder | None, batch: dict) -> dict:
    """Replace the raw features of a batch by the autoencoder's codes (frames and means)."""
    if autoencoder is None:
        return batch
    out = dict(batch)
    with torch.no_grad():
        out["rgb"], out["audio"] = autoencoder.encode(batch["rgb"], batch["audio"])
        if "mean_rgb" in batch:
            out["mean_rgb"], out["mean_audio"] = autoencoder.encode(
                batch["mean_rgb"], batch["mean_audio"]
            )
    return out


def make_optimizer(model: torch.nn.Module, train_config) -> torch.optim.Adam:
    """Adam over the trainable parameters with every setting of the config explicit
    (epsilon included: PyTorch's default differs from Keras')."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(
        params,
        lr=train_config.learning_rate,
        betas=(train_config.adam_beta_1, train_config.adam_beta_2),
        eps=train_config.adam_epsilon,
    )


# ------------------------------------------------------------------ one step, one forward


def train_step(
    model, optimizer, batch: dict, train_config, *, loss_fn=None, scaler=None, amp: bool = False
) -> float:
    """One optimizer step on a batch already on the model's device: forward, loss, backward,
    global gradient-norm clipping (when the config asks for it), update. Returns the loss as
    a float, which waits for the step to finish. ``loss_fn(model, batch)`` defaults to the
    classifier loss; ``scaler`` is the GradScaler of mixed precision (None: plain float32).
    ``Trainer.train_step`` takes every step through here, and so do parity and the benchmarks."""
    device = optimizer.param_groups[0]["params"][0].device
    with autocast(device, amp):
        loss = (
            loss_fn or (lambda m, b: classifier_loss(m, b, b["labels"], train_config.bce_epsilon))
        )(model, batch)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()
    if train_config.global_clipnorm:
        if scaler is not None:
            scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, train_config.global_clipnorm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    value = loss.detach().item()  # waits for the step to finish
    sync(device)
    return value


def predict(
    model,
    loader,
    device,
    amp,
    num_classes,
    bce_epsilon,
    autoencoder=None,
    *,
    vocabulary=None,
    writer=None,
    evaluator=None,
):
    """Metrics, mean loss and inference timing of ``model`` over ``loader`` (one process);
    ``evaluator`` (default: a ``StreamingEvaluator`` with ``vocabulary``) scores them."""
    model.eval()
    if evaluator is None:
        evaluator = StreamingEvaluator(num_classes, vocabulary=vocabulary)
    loss_sum, count, latencies, sizes = 0.0, 0, [], []
    with torch.no_grad():
        for batch in loader:
            batch = to_device(batch, device)
            inputs = encode_batch(autoencoder, batch)  # the autoencoder is input processing
            sync(device)
            start = time.perf_counter()
            with autocast(device, amp):
                p = model(inputs)
            sync(device)
            latencies.append(time.perf_counter() - start)
            p = p.float()
            n = p.shape[0]
            sizes.append(n)
            loss_sum += float(clipped_bce(p, batch["labels"], bce_epsilon)) * n
            count += n
            p_np = p.cpu().numpy()
            evaluator.add(p_np, batch["labels"].cpu().numpy())
            if writer is not None:
                writer.write(batch["id"], p_np)
    if count == 0:
        raise DataError("?", "no videos to evaluate")
    timing = {
        **training.inference_timings(latencies, sizes),
        "inference_batch_size": loader.batch_size,
    }
    return evaluator.result(), loss_sum / count, timing


def validate_autoencoder(model, loader, device, amp) -> dict:
    """Mean reconstruction errors of the validation set (rgb, audio and their sum)."""
    model.eval()

    def batch_errors():
        for batch in loader:
            batch = to_device(batch, device)
            with autocast(device, amp):
                rgb, audio = reconstruction_errors(model, batch)
            yield float(rgb), float(audio), len(batch["id"])

    with torch.no_grad():
        return training.mean_reconstruction_errors(batch_errors())


# ------------------------------------------------------------------ the adapter


class Trainer(training.Trainer):
    """What the epoch loop needs from PyTorch, for a classifier or the autoencoder."""

    framework = "torch"
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
        self.spec = spec
        self.dist = Distributed(device)
        self.rank, self.world_size = self.dist.rank, self.dist.world_size
        self.device = self.dist.device
        self.amp = mixed_precision and self.device.type == "cuda"
        self.autoencoder, normalize = None, None
        if spec.features == "autoencoder":
            self.autoencoder, ae_record = load_autoencoder(spec.autoencoder_dir, self.device)
            ae_model = ae_record["config"]["model"]
            spec = spec.with_codes(ae_model["ae_rgb_code"], ae_model["ae_audio_code"])
            normalize = bool(ae_record["config"]["train"]["normalize"])  # as it was trained
        self.spec = spec
        config = spec.train_config
        seed_everything(spec.seed)
        if spec.is_autoencoder:
            self.model = Autoencoder(spec.model_config, RGB_DIM, AUDIO_DIM).to(self.device)
        else:
            self.model = build_model(spec.model, spec.model_config).to(self.device)
        self.set_output_biases(training.output_biases(spec, train_paths))
        self.per_rank_batch = per_rank_batch(config.batch_size, self.world_size)
        self.train_input, self.val_input = spec.inputs(train_paths, val_paths, normalize=normalize)
        self.train_data = YT8MDataset(self.train_input, rank=self.rank, world_size=self.world_size)
        self.optimizer = make_optimizer(self.model, config)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.wrapped = DistributedDataParallel(self.model) if self.dist.active else self.model
        self.loader = make_loader(
            self.train_data, self.per_rank_batch, num_workers=config.num_workers, device=self.device
        )
        self.val_loader = make_loader(
            YT8MDataset(self.val_input),
            config.eval_batch_size,
            num_workers=config.num_workers,
            device=self.device,
        )
        self.skips_single_video_batches = any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in self.model.modules()
        )
        self.lower_is_better = spec.is_autoencoder

    def set_output_biases(self, biases) -> None:
        """Start the classifier's output biases at the class prior (None: keep zero)."""
        for (_, path), values in (biases or {}).items():
            with torch.no_grad():
                self.model.get_submodule(path).bias.copy_(torch.from_numpy(values))

    # the record
    def new_record(self) -> dict:
        record = self.spec.new_record(
            self.framework,
            self.train_input,
            self.val_input,
            distributed=self.dist.info(self.per_rank_batch),
        )
        record["parameters"] = count_parameters(self.model)
        return record

    # the loop's names
    def epoch_batches(self, epoch: int):
        torch.manual_seed(epoch_seed(self.spec.seed, epoch, self.rank))
        self.train_data.set_epoch(epoch)
        self.wrapped.train()

        def on_device():
            joined = self.wrapped.join() if self.dist.active else contextlib.nullcontext()
            with joined:
                for batch in self.loader:
                    batch = to_device(batch, self.device)
                    sync(self.device)
                    yield batch

        return on_device(), 0  # DDP join: no process skips a batch

    def examples_in_step(self, batch) -> int:
        return len(batch["id"])  # this rank's; end_epoch sums the ranks

    def loss(self, model, batch):
        if self.spec.is_autoencoder:
            rgb, audio = reconstruction_errors(model, batch)
            return rgb + audio
        inputs = encode_batch(self.autoencoder, batch)
        return classifier_loss(model, inputs, batch["labels"], self.spec.train_config.bce_epsilon)

    def train_step(self, batch) -> float:
        return train_step(
            self.wrapped,
            self.optimizer,
            batch,
            self.spec.train_config,
            loss_fn=self.loss,
            scaler=self.scaler,
            amp=self.amp,
        )

    def end_epoch(self, loss_sum, count):
        loss_sum, count = self.dist.sum(loss_sum, count)
        self.dist.broadcast_buffers(self.model)
        return loss_sum, count

    def validate(self):
        if self.spec.is_autoencoder:
            evaluation = validate_autoencoder(self.model, self.val_loader, self.device, self.amp)
            entry = {k: v for k, v in evaluation.items() if k != "num_videos"}
            return entry, evaluation, {}
        metrics, loss, timing = predict(
            self.model,
            self.val_loader,
            self.device,
            self.amp,
            self.spec.outputs,
            self.spec.train_config.bce_epsilon,
            self.autoencoder,
            vocabulary=self.spec.validation_vocabulary,
        )
        return training.validation_entry(loss, metrics), metrics, timing

    def save_weights(self, path: Path, epoch: int | None = None) -> None:
        save_atomic({"model": self.model.state_dict(), "epoch": epoch}, path)

    def save_checkpoint(self, path: Path, state: dict) -> None:
        save_atomic(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "state": state,
            },
            path,
        )

    def load_checkpoint(self, path: Path) -> dict:
        checkpoint = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        return checkpoint["state"]

    def barrier(self) -> None:
        self.dist.barrier()

    def close(self) -> None:
        self.dist.close()


# ------------------------------------------------------------------ public functions
def train(**kwargs) -> dict | None:
    """Train one classifier: ``yt8m_lib.training.train_classifier`` with this framework."""
    return training.train_classifier(Trainer, **kwargs)


def train_autoencoder(**kwargs) -> dict | None:
    """Train the denoising autoencoder: ``yt8m_lib.training.train_autoencoder`` with this
    framework; ``--features autoencoder`` reads its best weights."""
    return training.train_autoencoder(Trainer, **kwargs)


def run(spec: RunSpec, train_paths, val_paths, out_dir, **options) -> dict | None:
    """Train a ``RunSpec``: ``yt8m_lib.training.train_spec`` with this framework."""
    return training.train_spec(Trainer, spec, train_paths, val_paths, out_dir, **options)


def load_trained(run_dir, device: torch.device):
    """(model in eval mode with its best weights, autoencoder or None, run record)."""
    record = run_record.read_run_record(run_dir)
    model_config = training.model_config_from_dict(record["config"]["model"])
    net = build_model(record["model"], model_config)
    state = torch.load(Path(run_dir) / BEST, map_location=device, weights_only=True)
    net.load_state_dict(state["model"])
    net.to(device).eval()
    autoencoder = None
    if record.get("features") == "autoencoder":
        autoencoder, _ = load_autoencoder(record["config"]["autoencoder"], device)
    return net, autoencoder, record


def scorer(run_dir, device: torch.device):
    """(run record, ``score(data, evaluator, writer)``): one pass of a trained run's best
    weights over ``data`` (an ``InputSpec``) on ``device``, for ``evaluate`` and
    ``predict_scores``; ``score`` returns ``predict``'s (metrics, loss, timing)."""
    net, autoencoder, record = load_trained(run_dir, device)
    num_workers = training.train_config_from_dict(record["config"]["train"]).num_workers

    def score(data, evaluator, writer):
        loader = make_loader(
            YT8MDataset(data), data.batch_size, num_workers=num_workers, device=device
        )
        return predict(
            net,
            loader,
            device,
            False,
            record["config"]["model"]["num_classes"],
            record["config"]["train"]["bce_epsilon"],
            autoencoder,
            writer=writer,
            evaluator=evaluator,
        )

    return record, score


def evaluate(
    run_dir,
    data_paths,
    *,
    predictions_path=None,
    vocabulary=None,
    device: str | None = None,
    split_name: str = "test",
) -> dict:
    """Score a trained run's best weights on ``data_paths``: metrics (plus genres with a
    vocabulary, baselines from the training labels), the Kaggle predictions file (and the
    genre predictions beside it), and ``evaluations[split_name]`` in its record."""
    from yt8m_lib.evaluation.predictions import PredictionWriter

    chosen = resolve_device(device)
    record, score = scorer(run_dir, chosen)
    evaluator = training.evaluation_evaluator(record, vocabulary)
    writer = (
        PredictionWriter(predictions_path, vocabulary=evaluator.vocabulary)
        if predictions_path
        else None
    )
    with writer if writer is not None else contextlib.nullcontext():
        metrics, loss, timing = score(
            training.evaluation_input(record, data_paths), evaluator, writer
        )
    metrics = dict(metrics, loss=loss, **timing)
    training.write_evaluation(
        run_dir,
        record,
        split_name,
        metrics,
        data_paths=data_paths,
        predictions_path=predictions_path,
        vocabulary=vocabulary,
        device=str(chosen),
    )
    return metrics


def predict_scores(run_dir, data_paths, *, device: str | None = None):
    """(video ids, (N, outputs) float32 scores) of a trained run's best weights on
    ``data_paths``, in file order: for analyses that need every score (genre rules, a genre
    head), not only the top 20 of the predictions file.  The record is not changed."""
    record, score = scorer(run_dir, resolve_device(device))
    return training.collect_scores(record, data_paths, score)

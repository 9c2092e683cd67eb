"""PyTorch trainer: ``train``, ``evaluate`` and ``train_autoencoder`` (same signatures as
``yt8m_lib.keras.train``), on CPU or CUDA, one process or DistributedDataParallel.

* Device: ``cuda`` when available, else ``cpu``; ``device=`` overrides. Mixed precision
  (float16 autocast + gradient scaling) only on CUDA and only when asked for.
* Determinism: the model is initialised after ``torch.manual_seed(seed)``; every epoch
  reseeds torch from (seed, epoch, rank) and the data order depends only on (seed, epoch), so
  a run resumed from its last checkpoint ends with the same weights as an uninterrupted one.
* Distributed: launched with ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK in the environment),
  gloo on CPU and nccl on CUDA. The profile's batch size is the *global* batch: each of N
  ranks takes batch_size / N (as tf.distribute splits a global batch). Each rank reads its
  own shard of the records; uneven shards are handled by DDP's ``join`` (a rank that runs out
  of batches shadows the others' all-reduces), so every record is trained on exactly once per
  epoch. BatchNorm statistics are broadcast from rank 0 at the end of every epoch. Only rank
  0 validates (on the whole validation set), writes checkpoints, logs and the run record;
  the other ranks return None.
* Files of a run folder: ``run.json`` (the run record, rewritten after every epoch),
  ``last.pt`` (model, optimizer, epoch, history, timings: what resuming needs), ``best.pt``
  (weights of the epoch with the best validation GAP; for the autoencoder, the lowest
  validation reconstruction error), ``tensorboard/`` (event files).
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from yt8m_lib import training
from yt8m_lib.runs import run_record as results
from yt8m_lib.config import (AUDIO_DIM, RGB_DIM, get_profile, model_level, reads_video_means,
                             with_overrides)
from yt8m_lib.errors import ConfigError, DataError
from yt8m_lib.evaluation.metrics import StreamingEvaluator
from yt8m_lib.torch.data import (YT8MDataset, evaluation_sampling, make_loader, to_device)
from yt8m_lib.torch.models import Autoencoder, build_model, count_parameters

LAST, BEST = "last.pt", "best.pt"
LOG_EVERY = 10  # steps between TensorBoard loss points
STOP_AFTER_ENV = "YT8M_STOP_AFTER_EPOCHS"  # tests: end the process after N epochs (a "kill")
WEIGHTS_ENV = "YT8M_DEBUG_WEIGHTS"  # tests: every rank saves its final weights to PREFIX.rank{R}.pt


# ------------------------------------------------------------------ small pieces

def clipped_bce(probabilities: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """Binary cross-entropy of probabilities clipped to [eps, 1 - eps], mean over classes and
    batch (Keras' binary_crossentropy on probabilities)."""
    p = probabilities.float().clamp(eps, 1.0 - eps)
    y = labels.float()
    return -(y * torch.log(p) + (1.0 - y) * torch.log(1.0 - p)).mean()


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


def summary_writer(log_dir: Path):
    """TensorBoard's writer without TensorFlow: tensorboard imports TensorFlow when it is
    installed unless the marker module ``tensorboard.compat.notf`` exists (then it uses its
    own stub)."""
    if "tensorflow" not in sys.modules:  # (already imported: nothing to avoid, use it)
        sys.modules.setdefault("tensorboard.compat.notf",
                               types.ModuleType("tensorboard.compat.notf"))
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir))


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
        tensor = torch.tensor(values, dtype=torch.float64,
                              device=self.device if self.backend == "nccl" else "cpu")
        if self.active:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        if self.active:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    def info(self, per_rank_batch: int) -> dict:
        return {"world_size": self.world_size, "backend": self.backend,
                "device": str(self.device), "per_rank_batch_size": per_rank_batch,
                "uneven_shards": "ddp join" if self.active else None}

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


def per_rank_batch(batch_size: int, world_size: int) -> int:
    if batch_size % world_size:
        raise ConfigError(f"the global batch size {batch_size} does not split evenly over "
                          f"{world_size} processes")
    return batch_size // world_size


def hardware_monitor():
    from yt8m_lib.runs.hardware import HardwareMonitor

    return HardwareMonitor(interval_s=0.5, framework="torch")


def autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def load_autoencoder(run_dir, device: torch.device) -> tuple[Autoencoder, dict]:
    """The trained (frozen, eval-mode) autoencoder of a ``train_autoencoder`` run, and its
    run record."""
    record = results.read_run_record(run_dir)
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
            out["mean_rgb"], out["mean_audio"] = autoencoder.encode(batch["mean_rgb"],
                                                                    batch["mean_audio"])
    return out


def make_optimizer(model: torch.nn.Module, train_config) -> torch.optim.Adam:
    """Adam over the trainable parameters with every setting of the config explicit
    (epsilon included: PyTorch's default differs from Keras')."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=train_config.learning_rate,
                            betas=(train_config.adam_beta_1, train_config.adam_beta_2),
                            eps=train_config.adam_epsilon)


def trained_per_head(model) -> bool:
    """Whether a classifier (maybe inside DDP or torch.compile) trains on its heads' losses."""
    return bool(getattr(getattr(model, "module", model), "per_head_loss", False))


def classifier_loss(model, batch: dict, train_config, autoencoder=None) -> torch.Tensor:
    """Clipped binary cross-entropy of a classifier's probabilities (a batch on the device);
    for ``stream_lstm`` the mean of each head's own loss (config spec, HEAD_LOSS_MODELS)."""
    batch = encode_batch(autoencoder, batch)
    labels, epsilon = batch["labels"], train_config.bce_epsilon
    if trained_per_head(model):
        heads = model(batch, heads=True)  # through the (DDP/compiled) wrapper's forward
        return sum(clipped_bce(p, labels, epsilon) for p in heads) / len(heads)
    return clipped_bce(model(batch), labels, epsilon)


def train_step(model, optimizer, batch: dict, train_config, *, loss_fn=None, scaler=None,
               amp: bool = False) -> float:
    """One optimizer step on a batch already on the model's device: forward, loss, backward,
    global gradient-norm clipping (when the config asks for it), update. Returns the loss as
    a float, which waits for the step to finish. ``loss_fn(model, batch)`` defaults to the
    classifier loss; ``scaler`` is the GradScaler of mixed precision (None: plain float32).
    ``fit`` takes every step through here, and so do parity and the benchmarks."""
    device = optimizer.param_groups[0]["params"][0].device
    with autocast(device, amp):
        loss = (loss_fn or (lambda m, b: classifier_loss(m, b, train_config)))(model, batch)
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


# ------------------------------------------------------------------ the shared epoch loop

class Task:
    """What differs between training a classifier and the autoencoder."""

    model_name: str
    lower_is_better = False  # validation score: GAP (higher) or reconstruction error (lower)

    def loss(self, model, batch) -> torch.Tensor:
        raise NotImplementedError

    def validate(self, model, loader, device, amp) -> tuple[dict, dict]:
        """(history fields of the validation, full evaluation dict)."""
        raise NotImplementedError

    def score(self, entry: dict) -> float:
        raise NotImplementedError


class ClassifierTask(Task):
    def __init__(self, model_name, train_config, num_classes, vocabulary, autoencoder):
        self.model_name = model_name
        self.config = train_config
        self.num_classes = num_classes
        self.vocabulary = vocabulary
        self.autoencoder = autoencoder
        self.inference = {}

    def loss(self, model, batch):
        return classifier_loss(model, batch, self.config, self.autoencoder)

    def validate(self, model, loader, device, amp):
        metrics, loss, timing = predict(model, loader, device, amp, self.num_classes,
                                        self.config.bce_epsilon, self.autoencoder,
                                        vocabulary=self.vocabulary)
        self.inference = timing
        entry = {"val_loss": loss, "val_gap": metrics["gap"], "val_hit_at_1": metrics["hit_at_1"],
                 "val_perr": metrics["perr"], "val_map": metrics["map"]}
        return entry, metrics

    def score(self, entry):
        return entry["val_gap"]


def reconstruction_errors(autoencoder, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared error of each stream, over the real frames only at frame level."""
    rec_rgb, rec_audio = autoencoder(batch["rgb"], batch["audio"])
    errors = []
    for rec, x in ((rec_rgb, batch["rgb"]), (rec_audio, batch["audio"])):
        squared = (rec.float() - x.float()).square()
        if "num_frames" in batch:
            frames = x.shape[1]
            mask = (torch.arange(frames, device=x.device)[None, :]
                    < batch["num_frames"][:, None]).to(squared.dtype)[..., None]
            errors.append((squared * mask).sum() / (mask.sum() * x.shape[-1]).clamp(min=1))
        else:
            errors.append(squared.mean())
    return errors[0], errors[1]


class AutoencoderTask(Task):
    model_name = "autoencoder"
    lower_is_better = True

    def loss(self, model, batch):
        rgb, audio = reconstruction_errors(model, batch)
        return rgb + audio

    def validate(self, model, loader, device, amp):
        model.eval()
        sums = np.zeros(3)
        with torch.no_grad():
            for batch in loader:
                batch = to_device(batch, device)
                with autocast(device, amp):
                    rgb, audio = reconstruction_errors(model, batch)
                n = len(batch["id"])
                sums += [float(rgb) * n, float(audio) * n, n]
        n = max(sums[2], 1)
        entry = {"val_loss": (sums[0] + sums[1]) / n, "val_rgb_mse": sums[0] / n,
                 "val_audio_mse": sums[1] / n}
        return entry, dict(entry, num_videos=int(sums[2]))

    def score(self, entry):
        return entry["val_loss"]


def predict(model, loader, device, amp, num_classes, bce_epsilon, autoencoder=None, *,
            vocabulary=None, writer=None):
    """Metrics, mean loss and inference timing of ``model`` over ``loader`` (one process)."""
    model.eval()
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
    timing = {**training.inference_timings(latencies, sizes),
              "inference_batch_size": loader.batch_size}
    return evaluator.result(), loss_sum / count, timing


def fit(*, task: Task, model: torch.nn.Module, train_data: YT8MDataset,
        val_data: YT8MDataset, train_config, out_dir: Path, record: dict, seed: int,
        dist_info: Distributed, mixed_precision: bool, resume: bool, progress: bool) -> dict:
    """Train for ``train_config.epochs`` epochs (from the last checkpoint when resuming),
    validate every epoch, keep the best and last checkpoints, fill ``record``."""
    device = dist_info.device
    amp = mixed_precision and device.type == "cuda"
    batch = per_rank_batch(train_config.batch_size, dist_info.world_size)
    optimizer = make_optimizer(model, train_config)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    state = {"epoch": 0, "history": [], "best_epoch": None, "best_score": None,
             "evaluation": None, "inference": {}, **training.TIMING_STATE, "step_times": []}
    last_path = out_dir / LAST
    if resume and last_path.is_file():
        checkpoint = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scaler.load_state_dict(checkpoint["scaler"])
        state = checkpoint["state"]
        if dist_info.is_main and (out_dir / results.RUN_FILE).is_file():
            previous = results.read_run_record(out_dir)  # a resumed run keeps its identity
            record.update(run_id=previous["run_id"], created=previous["created"])
        if dist_info.is_main:
            print(f"resuming {out_dir} after epoch {state['epoch']}", file=sys.stderr)

    wrapped = DistributedDataParallel(model) if dist_info.active else model
    loader = make_loader(train_data, batch, num_workers=train_config.num_workers, device=device)
    val_loader = make_loader(val_data, train_config.eval_batch_size,
                             num_workers=train_config.num_workers, device=device)
    main = dist_info.is_main
    writer = summary_writer(out_dir / "tensorboard") if main else None
    monitor = hardware_monitor() if main else None
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0"))
    started_at = state["epoch"]
    record["parameters"] = count_parameters(model)
    record["distributed"] = dist_info.info(batch)
    clock = training.LoopClock(state, dist_info.world_size)  # after resuming: the saved state
    # BatchNorm cannot normalise a single video in training (PyTorch raises; Keras would
    # divide by a zero variance): such a batch - every DataLoader worker ends its share of an
    # epoch on a partial batch - is skipped and counted in the record
    has_batchnorm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                        for m in model.modules())
    state.setdefault("skipped_single_video_batches", 0)

    with monitor if monitor is not None else contextlib.nullcontext():
        for epoch in range(state["epoch"], train_config.epochs):
            torch.manual_seed(epoch_seed(seed, epoch, dist_info.rank))
            train_data.set_epoch(epoch)
            epoch_start = time.perf_counter()
            clock.start_epoch()
            loss_sum, count = 0.0, 0
            wrapped.train()
            joined = wrapped.join() if dist_info.active else contextlib.nullcontext()
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{train_config.epochs}", unit="batch",
                       disable=not (progress and main), leave=False)
            with joined:
                for step_batch in bar:
                    if has_batchnorm and len(step_batch["id"]) == 1:
                        state["skipped_single_video_batches"] += 1
                        continue
                    step_batch = to_device(step_batch, device)
                    sync(device)
                    clock.batch_ready()
                    value = train_step(wrapped, optimizer, step_batch, train_config,
                                       loss_fn=task.loss, scaler=scaler, amp=amp)
                    n = len(step_batch["id"])
                    clock.step_done(n)
                    loss_sum += value * n
                    count += n
                    if writer is not None and len(state["step_times"]) % LOG_EVERY == 0:
                        writer.add_scalar("train/step_loss", value, len(state["step_times"]))
                    bar.set_postfix(loss=f"{value:.4f}")
            loss_sum, count = dist_info.sum(loss_sum, count)
            dist_info.broadcast_buffers(model)
            clock.end_epoch(int(count))

            if main:
                entry, evaluation = task.validate(model, val_loader, device, amp)
                entry = {"epoch": epoch + 1, "train_loss": loss_sum / max(count, 1), **entry,
                         "epoch_seconds": time.perf_counter() - epoch_start}
                state["history"].append(entry)
                score = task.score(entry)
                best = state["best_score"]
                if best is None or (score < best if task.lower_is_better else score > best):
                    state.update(best_score=score, best_epoch=epoch + 1, evaluation=evaluation)
                    save_atomic({"model": model.state_dict(), "epoch": epoch + 1}, out_dir / BEST)
                state["inference"] = getattr(task, "inference", {})
                for key, value in entry.items():
                    if key != "epoch" and isinstance(value, (int, float)):
                        writer.add_scalar(f"epoch/{key}", value, epoch + 1)
                writer.flush()
            state["epoch"] = epoch + 1
            if main:
                save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scaler": scaler.state_dict(), "state": state}, last_path)
                fill_record(record, state, train_data, val_data)
                results.write_run_record(out_dir, record)
                print(f"epoch {epoch + 1}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in entry.items()
                    if k != "epoch" and isinstance(v, float)), file=sys.stderr)
            dist_info.barrier()
            if stop_after and epoch + 1 - started_at >= stop_after:
                break

    if writer is not None:
        writer.close()
    if os.environ.get(WEIGHTS_ENV):
        torch.save(model.state_dict(), f"{os.environ[WEIGHTS_ENV]}.rank{dist_info.rank}.pt")
    if main:
        fill_record(record, state, train_data, val_data)  # also when nothing was left to train
        record["hardware"] = monitor.to_record() if monitor is not None else {}
        results.write_run_record(out_dir, record)
    return record


def fill_record(record: dict, state: dict, train_data, val_data) -> None:
    record["history"] = state["history"]
    record["best_epoch"] = state["best_epoch"]
    record["epochs_trained"] = state["epoch"]
    record["skipped_single_video_batches"] = state["skipped_single_video_batches"]
    if state["evaluation"] is not None:
        record["evaluations"]["validate"] = dict(state["evaluation"], data=val_data.paths,
                                                 epoch=state["best_epoch"])
    record["timings"] = {**training.training_timings(state), **state["inference"]}


# ------------------------------------------------------------------ public functions

def train(*, model: str, train_paths, val_paths, out_dir, profile: str, seed: int,
          features: str = "raw", autoencoder_dir=None, vocabulary=None, num_classes: int,
          device: str | None = None, mixed_precision: bool = False, resume: bool = True,
          progress: bool = True, epochs: int | None = None,
          batch_size: int | None = None) -> dict | None:
    """Train one classifier; returns its run record (None on ranks other than 0)."""
    out_dir = Path(out_dir)
    level = model_level(model)
    settings = get_profile(profile)
    train_config = with_overrides(settings.train, epochs=epochs, batch_size=batch_size,
                                  seed=seed)
    model_config = with_overrides(settings.model, num_classes=num_classes)
    dist_info = Distributed(device)
    try:
        autoencoder = None
        normalize = None
        if features == "autoencoder":
            if autoencoder_dir is None:
                raise ConfigError("--features autoencoder needs --autoencoder RUN_DIR")
            autoencoder, ae_record = load_autoencoder(autoencoder_dir, dist_info.device)
            ae_model = ae_record["config"]["model"]
            model_config = with_overrides(model_config, rgb_dim=ae_model["ae_rgb_code"],
                                          audio_dim=ae_model["ae_audio_code"])
            normalize = bool(ae_record["config"]["train"]["normalize"])  # as it was trained
        elif features != "raw":
            raise ConfigError(f"unknown features {features!r}; choose raw or autoencoder")
        seed_everything(seed)
        net = build_model(model, model_config).to(dist_info.device)
        means = reads_video_means(model)
        train_data = YT8MDataset(train_paths, level, num_classes=num_classes,
                                 train_config=train_config, shuffle_seed=seed,
                                 normalize=normalize, rank=dist_info.rank,
                                 world_size=dist_info.world_size, log_reads=True,
                                 video_means=means)
        val_data = YT8MDataset(val_paths, level, num_classes=num_classes,
                               train_config=train_config,
                               sampling=evaluation_sampling(train_config.frame_sampling),
                               normalize=normalize, video_means=means)
        record = None
        if dist_info.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            record = training.new_training_record(
                framework="torch", model=model, features=features, profile=profile, seed=seed,
                model_config=model_config, train_config=train_config,
                train_paths=train_paths, val_paths=val_paths, level=level,
                num_classes=num_classes, vocabulary=vocabulary,
                autoencoder_dir=autoencoder_dir)
            record["config"]["data_normalize"] = train_data.normalize
        else:
            record = {"evaluations": {}}
        task = ClassifierTask(model, train_config, num_classes, vocabulary, autoencoder)
        record = fit(task=task, model=net, train_data=train_data, val_data=val_data,
                     train_config=train_config, out_dir=out_dir, record=record, seed=seed,
                     dist_info=dist_info, mixed_precision=mixed_precision, resume=resume,
                     progress=progress)
        return record if dist_info.is_main else None
    finally:
        dist_info.close()


def train_autoencoder(*, level: str, train_paths, val_paths, out_dir, profile: str, seed: int,
                      vocabulary=None, num_classes: int | None = None,
                      device: str | None = None, mixed_precision: bool = False,
                      resume: bool = True, progress: bool = True, epochs: int | None = None,
                      batch_size: int | None = None) -> dict | None:
    """Train the denoising autoencoder (no labels used) on un-normalised features; saves it
    as ``best.pt`` (lowest validation reconstruction error). Returns the run record."""
    from yt8m_lib.config import NUM_CLASSES_2018

    out_dir = Path(out_dir)
    settings = get_profile(profile)
    train_config = with_overrides(settings.train, batch_size=batch_size, seed=seed,
                                  epochs=epochs or settings.train.ae_epochs, normalize=False)
    model_config = settings.model
    num_classes = num_classes or NUM_CLASSES_2018  # labels are parsed (and checked) only
    dist_info = Distributed(device)
    try:
        seed_everything(seed)
        net = Autoencoder(model_config, RGB_DIM, AUDIO_DIM).to(dist_info.device)
        train_data = YT8MDataset(train_paths, level, num_classes=num_classes,
                                 train_config=train_config, shuffle_seed=seed,
                                 rank=dist_info.rank, world_size=dist_info.world_size,
                                 log_reads=True, video_means=False)
        val_data = YT8MDataset(val_paths, level, num_classes=num_classes,
                               train_config=train_config,
                               sampling=evaluation_sampling(train_config.frame_sampling),
                               video_means=False)
        record = {"evaluations": {}}
        if dist_info.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            record = training.new_training_record(
                framework="torch", model="autoencoder", features="raw", profile=profile,
                seed=seed, model_config=model_config, train_config=train_config,
                train_paths=train_paths, val_paths=val_paths, level=level,
                num_classes=num_classes, vocabulary=vocabulary)
        record = fit(task=AutoencoderTask(), model=net, train_data=train_data,
                     val_data=val_data, train_config=train_config, out_dir=out_dir,
                     record=record, seed=seed, dist_info=dist_info,
                     mixed_precision=mixed_precision, resume=resume, progress=progress)
        return record if dist_info.is_main else None
    finally:
        dist_info.close()


def load_trained(run_dir, device: torch.device):
    """(model in eval mode with its best weights, autoencoder or None, run record)."""
    record = results.read_run_record(run_dir)
    model_config = training.model_config_from_dict(record["config"]["model"])
    net = build_model(record["model"], model_config)
    state = torch.load(Path(run_dir) / BEST, map_location=device, weights_only=True)
    net.load_state_dict(state["model"])
    net.to(device).eval()
    autoencoder = None
    if record.get("features") == "autoencoder":
        autoencoder, _ = load_autoencoder(record["config"]["autoencoder"], device)
    return net, autoencoder, record


def evaluate(run_dir, data_paths, *, predictions_path=None, vocabulary=None,
             device: str | None = None, split_name: str = "test") -> dict:
    """Score a trained run on ``data_paths``: metrics (plus genre accuracy with a
    vocabulary), the Kaggle predictions file, and ``evaluations[split_name]`` in its record."""
    from yt8m_lib.evaluation.predictions import PredictionWriter

    chosen = resolve_device(device)
    net, autoencoder, record = load_trained(run_dir, chosen)
    train_config = training.train_config_from_dict(record["config"]["train"])
    data = YT8MDataset(data_paths, record["data"]["level"],
                       num_classes=record["data"]["num_classes"], train_config=train_config,
                       sampling=evaluation_sampling(train_config.frame_sampling),
                       normalize=record["config"].get("data_normalize"),
                       video_means=reads_video_means(record["model"]))
    loader = make_loader(data, train_config.eval_batch_size,
                         num_workers=train_config.num_workers, device=chosen)
    writer = PredictionWriter(predictions_path) if predictions_path else None
    with writer if writer is not None else contextlib.nullcontext():
        metrics, loss, timing = predict(net, loader, chosen, False, record["data"]["num_classes"],
                                        train_config.bce_epsilon, autoencoder,
                                        vocabulary=vocabulary, writer=writer)
    metrics = dict(metrics, loss=loss, **timing)
    record.setdefault("evaluations", {})[split_name] = dict(
        metrics, data=[str(p) for p in data_paths],
        predictions=None if predictions_path is None else str(predictions_path),
        vocabulary=None if vocabulary is None else str(vocabulary), device=str(chosen))
    results.write_run_record(run_dir, record)
    return metrics

"""Keras trainer: the same functions, checkpoints and run records as ``yt8m_lib.torch.train``.

A custom training loop (``tf.GradientTape`` in a ``tf.function``) rather than ``model.fit``,
so that every piece the comparison depends on is explicit and the same as on the PyTorch side:
the loss (clipped binary cross-entropy, mean over classes and batch), Adam with an explicit
epsilon, global gradient-norm clipping, the training batches and their order (the project's
reader, ``yt8m_lib.data.batches``, seeded by (seed, epoch): the very batches PyTorch trains on),
the per-epoch validation with the official metrics, the best checkpoint by validation GAP
and an exact resume. Validation and ``evaluate`` read with tf.data (``yt8m_lib.keras.data``:
the same batches, tested).

Distribution through ``tf.distribute``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG``
names more than one worker (each worker reads its own shards, ``batches.iter_batches``),
``MirroredStrategy`` over several local GPUs, otherwise the default strategy. The profile's
``batch_size`` is the global batch, split evenly over the replicas (as on the PyTorch side).
Every worker runs the same number of steps per epoch - the number of batches of the smallest
shard - so none waits forever for the others (PyTorch uses DDP's ``join`` instead; with
uneven shards the Keras run skips the last batches of the larger shards, and says so in the
run record).

Checkpoints (in the run folder, beside ``run.json``): ``last.npz`` holds every model
variable (weights, BatchNorm statistics, dropout RNG states), every optimizer variable and
the epoch, history and best score so far: resuming after an interruption continues exactly where the
uninterrupted run would be (same final weights, CPU, fixed seed). ``best.npz`` holds the
model variables of the epoch with the best validation GAP; ``evaluate`` scores that one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
# imported here, not lazily, so that a missing TensorFlow/Keras fails at dispatch
# (yt8m_lib.commands.load_framework turns that into a MissingFrameworkError)
import tensorflow as tf  # noqa: E402,F401
import keras  # noqa: E402,F401

from yt8m_lib.config import (get_profile, model_level, reads_video_means,  # noqa: E402
                             with_overrides)
from yt8m_lib.errors import ConfigError  # noqa: E402

LAST, BEST = "last.npz", "best.npz"
LOG_EVERY = 10  # steps between TensorBoard loss points
STOP_AFTER_ENV = "YT8M_STOP_AFTER_EPOCHS"  # tests: end the run after N epochs (a "kill")
WEIGHTS_ENV = "YT8M_DEBUG_WEIGHTS"  # tests: each worker saves its final weights, PREFIX.rank{R}.npz


# ---------------------------------------------------------------- set-up
def cluster_info() -> tuple[int, int]:
    """(worker index, number of workers) from TF_CONFIG (0, 1 without it)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = len(config.get("cluster", {}).get("worker", [])) or 1
    task = config.get("task", {})
    return (int(task.get("index", 0)) if task.get("type", "worker") == "worker" else 0), workers


def setup(device: str | None, seed: int, *, deterministic: bool = True):
    """Device visibility, seeds, determinism and float32 matmuls; returns (tf, strategy).

    Call once per process before anything else touches TensorFlow (a multi-worker strategy
    must be created first).
    """

    if device is not None and device.startswith("cpu"):
        tf.config.set_visible_devices([], "GPU")
    elif device is not None and device.startswith(("cuda", "gpu")):
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            raise ConfigError(f"--device {device}: TensorFlow sees no GPU")
        index = int(device.split(":")[1]) if ":" in device else None
        if index is not None:
            tf.config.set_visible_devices(gpus[index], "GPU")
    # PyTorch computes float32 matmuls in full float32 by default; TensorFlow uses TF32 on
    # Ampere+ GPUs unless told not to (fair comparison: same precision).
    tf.config.experimental.enable_tensor_float_32_execution(False)
    _, workers = cluster_info()
    if workers > 1:
        gpus = tf.config.list_physical_devices("GPU")
        impl = (tf.distribute.experimental.CommunicationImplementation.NCCL if gpus
                else tf.distribute.experimental.CommunicationImplementation.RING)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=impl))
    elif len(tf.config.list_logical_devices("GPU")) > 1:
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return tf, strategy


def device_name() -> str:
    gpus = tf.config.list_logical_devices("GPU")
    return "gpu" if gpus else "cpu"


def make_optimizer(train_config):
    """Adam with every setting explicit (epsilon 1e-7 in both frameworks) and the global
    gradient-norm clipping of the config."""
    return keras.optimizers.Adam(learning_rate=train_config.learning_rate,
                                 beta_1=train_config.adam_beta_1,
                                 beta_2=train_config.adam_beta_2,
                                 epsilon=train_config.adam_epsilon,
                                 global_clipnorm=train_config.global_clipnorm)


def to_model_batch(model, batch: dict) -> tuple[dict, object]:
    """(model inputs, labels) of a batch dict (numpy or tensors); ``num_frames`` as int32."""
    inputs = {key: batch[key] for key in model.input}
    if "num_frames" in inputs:
        inputs["num_frames"] = tf.cast(inputs["num_frames"], tf.int32)
    return inputs, tf.cast(batch["labels"], tf.float32)


def batch_signature(element_spec: dict) -> dict:
    """The tf.function input signature of a dataset's batches (without ``id``): batch size
    left open, so the last, smaller batch does not trigger a second (slow) trace."""
    return {key: tf.TensorSpec([None, *spec.shape[1:]], spec.dtype)
            for key, spec in element_spec.items() if key != "id"}


def make_train_step(model, optimizer, train_config, *, jit_compile: bool = False,
                    strategy=None, encoder=None, element_spec: dict | None = None):
    """A function batch dict -> mean loss that takes one optimizer step.

    The loss of each replica is its batch mean; gradients are summed across replicas, so
    the loss is divided by the number of replicas (= DistributedDataParallel's average).
    XLA stays off for models with an LSTM (the cuDNN kernel is not XLA-compilable).
    ``element_spec`` (a dataset's; single replica only) fixes the traced signature.
    """

    from yt8m_lib.keras.models import bce_loss, head_model

    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    epsilon = train_config.bce_epsilon
    if any("lstm" in layer.name for layer in model.layers):
        jit_compile = False
    variables = model.trainable_variables
    heads = head_model(model)  # stream_lstm: the mean of its heads' losses (config spec)

    def replica_step(batch):
        inputs, labels = to_model_batch(model, batch)
        if encoder is not None:
            inputs = encode_inputs(encoder, inputs)
        with tf.GradientTape() as tape:
            if heads is not None:
                outputs = heads(inputs, training=True)
                loss = sum(bce_loss(labels, tf.cast(p, tf.float32), epsilon)
                           for p in outputs) / len(outputs)
            else:
                probabilities = model(inputs, training=True)
                loss = bce_loss(labels, tf.cast(probabilities, tf.float32), epsilon)
            scaled = loss / replicas
            if hasattr(optimizer, "scale_loss"):
                scaled = optimizer.scale_loss(scaled)
        gradients = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    signature = None if element_spec is None else [batch_signature(element_spec)]

    @quiet_tracing
    @tf.function(jit_compile=jit_compile, reduce_retracing=True, input_signature=signature)
    def step(batch):
        losses = strategy.run(replica_step, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    def run(batch: dict):
        return step({key: value for key, value in batch.items() if key != "id"})

    return run


def encode_inputs(encoder, inputs: dict) -> dict:
    """Replace the raw features of a batch by the autoencoder's codes (``--features
    autoencoder``): rgb/audio and, for hybrid, the video means."""
    out = dict(inputs)
    out["rgb"], out["audio"] = encoder.encode(inputs["rgb"], inputs["audio"])
    if "mean_rgb" in inputs:
        out["mean_rgb"], out["mean_audio"] = encoder.encode(inputs["mean_rgb"],
                                                            inputs["mean_audio"])
    return out


def make_broadcast_statistics(model, strategy):
    """A function copying replica 0's non-trainable statistics (BatchNorm moving mean and
    variance) to every replica. Each replica updates them from its own batches; PyTorch's
    trainer broadcasts them from rank 0 at the end of every epoch, and so does this one, so
    every worker validates and saves the same model. None without distribution."""
    if strategy.num_replicas_in_sync == 1:
        return None
    variables = [v for v in model.non_trainable_variables
                 if "seed_generator" not in v.path and v.dtype == "float32"]
    if not variables:
        return None

    def replica_fn():
        context = tf.distribute.get_replica_context()
        first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32)
        # a sum in which only replica 0 contributes = replica 0's values, everywhere
        values = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                    [tf.convert_to_tensor(v) * first for v in variables])
        for variable, value in zip(variables, values):
            variable.assign(value)

    @tf.function
    def broadcast():
        strategy.run(replica_fn)

    return broadcast


# ---------------------------------------------------------------- checkpoints
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
                    raise ConfigError(f"{path}: variable {v.path} has shape {tuple(v.shape)}, "
                                      f"the checkpoint {value.shape}")
                v.assign(value)
        return json.loads(str(data["meta"]))


# ---------------------------------------------------------------- data helpers
def steps_per_epoch(paths, batch_size: int, *, seed, epoch: int,
                    num_readers: int) -> tuple[int | None, int]:
    """(batches every reader can supply this epoch, batches the larger shards skip); (None, 0)
    for a single reader, which reads everything.

    Shards can differ in size; every worker must take the same number of synchronous steps.
    ``batch_size`` is the per-worker batch.
    """
    if num_readers == 1:
        return None, 0
    from yt8m_lib.keras.data import reader_files
    from yt8m_lib.data.records import count_examples

    batches = []
    for reader in range(num_readers):
        files, by_record = reader_files(paths, seed=seed, epoch=epoch, reader_index=reader,
                                        num_readers=num_readers)
        if by_record:
            n = len(range(reader, count_examples(files), num_readers))
        else:
            n = count_examples(files)
        batches.append(-(-n // batch_size))
    limit = max(1, min(batches))
    return limit, sum(b - limit for b in batches)


def model_signature(model) -> dict:
    """The input signature of a model's batches (from its Keras inputs: batch size and frame
    count left open), so one traced function serves every batch, the last smaller one too."""
    return {key: tf.TensorSpec(tensor.shape, tensor.dtype) for key, tensor in model.input.items()}


def quiet_tracing(function):
    """Each of our traced functions is traced once per model (fixed input signatures), but a
    notebook that trains and evaluates many models in one process traces the same Python code
    once per model, which TensorFlow's frequent-retracing detector (keyed by the code object)
    reports as "triggered tf.function retracing". Not a retrace: silence that detector for
    this function only (a private flag; harmless if a TensorFlow version lacks it)."""
    function._omit_frequent_tracing_warning = True
    return function


def sync_devices() -> None:
    """Wait for pending GPU work before reading a clock (torch.cuda.synchronize's twin);
    nothing to wait for on the CPU."""
    if tf.config.list_logical_devices("GPU"):
        tf.test.experimental.sync_devices()


def make_forward(model, encoder=None, bce_epsilon: float = 1e-7, element_spec=None):
    """An inference function (inputs, labels) -> (probabilities, summed loss, forward
    seconds). The model's forward pass is one traced function with a fixed input signature
    (traced once per model, whatever the batch size); the clock covers only that pass,
    synchronized (``inference_batch_latency_ms``, as the PyTorch trainer); the autoencoder's
    encoding and the loss are separate traced functions outside it. ``element_spec`` is
    accepted for compatibility (the signature comes from the model)."""

    from yt8m_lib.keras.models import bce_loss

    del element_spec
    signature = model_signature(model)

    @quiet_tracing
    @tf.function(input_signature=[signature])
    def probabilities(inputs):
        return tf.cast(model(inputs, training=False), tf.float32)

    @quiet_tracing
    @tf.function(reduce_retracing=True)
    def loss_sum(labels, p):
        return bce_loss(labels, p, bce_epsilon) * tf.cast(tf.shape(p)[0], tf.float32)

    encode = None
    if encoder is not None:
        encode = quiet_tracing(tf.function(lambda inputs: encode_inputs(encoder, inputs),
                                           reduce_retracing=True))

    def forward(inputs, labels):
        if encode is not None:
            inputs = encode(inputs)
        inputs = {key: inputs[key] for key in signature}
        sync_devices()
        start = time.perf_counter()
        p = probabilities(inputs)
        sync_devices()
        seconds = time.perf_counter() - start
        return p, loss_sum(labels, p), seconds
    return forward


def predict(model, dataset, *, encoder=None, evaluator=None, writer=None,
            bce_epsilon: float = 1e-7, progress: bool = False, desc: str = "eval",
            forward=None) -> dict:
    """Scores a dataset: mean loss, the official metrics, timings; optional predictions file."""
    from tqdm.auto import tqdm

    from yt8m_lib.keras.data import ids_to_str, next_batch
    from yt8m_lib.training import inference_timings

    forward = forward or make_forward(model, encoder, bce_epsilon)

    loss_sum, count, latencies, sizes = 0.0, 0, [], []
    iterator = iter(dataset)
    bar = tqdm(desc=desc, unit="batch", disable=not progress, leave=False)
    while True:
        try:
            batch = next_batch(iterator)
        except StopIteration:
            break
        p, loss, seconds = forward(*to_model_batch(model, batch))
        p = p.numpy()
        latencies.append(seconds)
        sizes.append(p.shape[0])
        loss_sum += float(loss)
        count += p.shape[0]
        if evaluator is not None:
            evaluator.add(p, batch["labels"].numpy())
        if writer is not None:
            writer.write(ids_to_str(batch["id"].numpy()), p)
        bar.update(1)
    bar.close()
    if count == 0:
        raise ConfigError("no videos to evaluate")
    # the first batch traces the function: inference_timings leaves it out
    out = {"loss": loss_sum / count, "num_videos": count,
           **inference_timings(latencies, sizes)}
    if evaluator is not None:
        out["metrics"] = evaluator.result()
    return out


# ---------------------------------------------------------------- shared loop pieces
def _model_and_train_configs(profile, num_classes, epochs, batch_size, seed):
    prof = get_profile(profile)
    train_config = with_overrides(prof.train, epochs=epochs, batch_size=batch_size, seed=seed)
    return with_overrides(prof.model, num_classes=num_classes), train_config


def _checkpoint_dir(out_dir: Path, worker: int) -> Path:
    """The chief writes the run's checkpoints; every other worker holds the same weights and
    writes to its own scratch folder (tf.distribute's convention), so no file has two
    writers."""
    return out_dir if worker == 0 else out_dir / f".worker{worker}"


def _train_epochs(*, net, optimizer, step_fn, strategy, batches_fn, train_paths, batch_size,
                  seed, epochs, workers, worker, out_dir, record, validate, lower_is_better,
                  progress, desc, resume, write_record):
    """The epoch loop both ``train`` and ``train_autoencoder`` run: steps, validation,
    TensorBoard, best/last checkpoints, exact resume. Fills the record's history (epochs
    counted from 1, as the PyTorch trainer does), best_epoch, epochs_trained, timings and the
    validation evaluation of the best epoch."""
    from tqdm.auto import tqdm

    from yt8m_lib.training import LoopClock, TIMING_STATE

    ckpt = _checkpoint_dir(out_dir, worker)
    chief = worker == 0
    state = {"epoch": 0, "history": [], "best_epoch": None, "best_score": None,
             "evaluation": None, "inference": {}, "skipped_batches": 0, **TIMING_STATE,
             "step_times": []}
    if resume and (ckpt / LAST).exists():
        state = load_variables(ckpt / LAST, net.variables, o=optimizer.variables)
        if chief:
            print(f"resuming {out_dir} after epoch {state['epoch']}", file=sys.stderr)
    clock = LoopClock(state)  # (steps count the examples of every worker)
    writer = tf.summary.create_file_writer(str(out_dir / "tensorboard")) if chief else None
    broadcast_statistics = make_broadcast_statistics(net, strategy)
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0"))
    started_at = state["epoch"]
    for epoch in range(state["epoch"], epochs):
        epoch_start = time.perf_counter()
        clock.start_epoch()
        limit, skipped = steps_per_epoch(train_paths, batch_size, seed=seed, epoch=epoch,
                                         num_readers=workers)
        iterator = iter(batches_fn(epoch))
        loss_sum, count, steps = 0.0, 0, 0
        bar = tqdm(total=limit, desc=f"{desc} epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not (progress and chief), leave=False)
        while limit is None or steps < limit:
            try:
                batch = next(iterator)
            except StopIteration:
                break
            clock.batch_ready()
            loss = float(step_fn(batch))  # float() waits for the step to finish
            n = _batch_size(batch["rgb"]) * workers
            clock.step_done(n)
            steps += 1
            loss_sum += loss * n
            count += n
            if writer is not None and len(state["step_times"]) % LOG_EVERY == 0:
                with writer.as_default(step=len(state["step_times"])):
                    tf.summary.scalar("train/step_loss", loss)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
        iterator.close()  # the worker stopped at its step limit: stop the reader thread
        bar.close()
        if broadcast_statistics is not None:
            broadcast_statistics()
        clock.end_epoch()
        state["skipped_batches"] += skipped
        entry, evaluation, inference = validate()
        entry = {"epoch": epoch + 1, "train_loss": loss_sum / max(count, 1), **entry,
                 "epoch_seconds": time.perf_counter() - epoch_start}
        state["history"].append(entry)
        state["inference"] = inference
        score = entry["val_loss"] if lower_is_better else entry["val_gap"]
        best = state["best_score"]
        if best is None or (score < best if lower_is_better else score > best):
            state.update(best_score=score, best_epoch=epoch + 1, evaluation=evaluation)
            save_variables(ckpt / BEST, net.variables, {"epoch": epoch + 1})
        if writer is not None:
            with writer.as_default(step=epoch + 1):
                for key, value in entry.items():
                    if key != "epoch" and isinstance(value, (int, float)):
                        tf.summary.scalar(f"epoch/{key}", value)
            writer.flush()
        state["epoch"] = epoch + 1
        save_variables(ckpt / LAST, net.variables, state, o=optimizer.variables)
        _fill_record(record, state)
        if chief:
            write_record(record)
            if progress:
                print(f"{desc} epoch {epoch + 1}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in entry.items()
                    if k != "epoch" and isinstance(v, float)), file=sys.stderr)
        if stop_after and epoch + 1 - started_at >= stop_after:
            break
    _fill_record(record, state)  # also when a resumed run had nothing left
    if os.environ.get(WEIGHTS_ENV):
        save_variables(Path(f"{os.environ[WEIGHTS_ENV]}.rank{worker}.npz"), net.variables)
    return state


def _fill_record(record: dict, state: dict) -> None:
    from yt8m_lib.training import training_timings

    record["history"] = state["history"]
    record["best_epoch"] = state["best_epoch"]
    record["epochs_trained"] = state["epoch"]
    if state["evaluation"] is not None:
        record["evaluations"]["validate"] = dict(state["evaluation"],
                                                 epoch=state["best_epoch"])
    record["timings"] = {**training_timings(state), **state["inference"]}
    record["distributed"]["skipped_batches"] = state["skipped_batches"]


def _batch_size(values) -> int:
    per_replica = getattr(values, "values", None)
    if per_replica is not None:  # a distributed batch: one tensor per local replica
        return int(sum(int(v.shape[0]) for v in per_replica))
    return int(values.shape[0])


def evaluation_sampling(mode: str) -> str:
    """Frame sampling at evaluation: 'random' becomes 'uniform' (as the PyTorch side)."""
    return "uniform" if mode == "random" else mode


# ---------------------------------------------------------------- autoencoder features
def load_encoder(autoencoder_dir):
    """(frozen trained autoencoder of a run folder (best weights), its model config, its run
    record)."""
    from yt8m_lib.keras.models import Autoencoder
    from yt8m_lib.runs.run_record import read_run_record
    from yt8m_lib.training import model_config_from_dict

    run_dir = Path(autoencoder_dir)
    record = read_run_record(run_dir)
    if record.get("framework") != "keras" or record.get("model") != "autoencoder":
        raise ConfigError(f"{run_dir} is not a Keras autoencoder run")
    config = model_config_from_dict(record["config"]["model"])
    encoder = Autoencoder(config)
    load_variables(run_dir / BEST, encoder.variables)
    encoder.trainable = False
    return encoder, config, record


# ---------------------------------------------------------------- train
def _per_replica_batch(batch_size: int, strategy) -> int:
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(f"the global batch size {batch_size} does not split evenly over "
                          f"{replicas} replicas")
    return batch_size // replicas


def _distributed_info(strategy, workers: int, per_replica: int) -> dict:
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        backend = "MultiWorkerMirroredStrategy"  # (its class is CollectiveAllReduceStrategy)
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        backend = "MirroredStrategy"
    else:
        backend = None  # one device, as PyTorch's single process
    return {"world_size": strategy.num_replicas_in_sync, "workers": workers,
            "backend": backend, "device": device_name(),
            "per_rank_batch_size": per_replica,
            "uneven_shards": "same number of steps on every worker" if workers > 1 else None}


def _train_batches_fn(train_paths, level, num_classes, train_config, seed, per_replica,
                      normalize, video_means, strategy, worker: int, workers: int):
    """epoch -> this worker's training batches, ready for ``strategy.run``: the project's
    reader (``yt8m_lib.data.batches``, the batches PyTorch trains on, same order) read two
    batches ahead in a thread and turned into tensors there. tf.data (``keras.data``) was
    measured 3-6x more CPU per frame-level batch, which a 2-core step pays in full."""
    from yt8m_lib.data.batches import BackgroundLoader, iter_batches

    local = strategy.num_replicas_in_sync // workers  # replicas on this worker

    def for_epoch(epoch):
        numpy_batches = iter_batches(
            train_paths, level, num_classes=num_classes, batch_size=per_replica * local,
            frames_per_video=train_config.frames_per_video,
            sampling=train_config.frame_sampling, normalize=normalize,
            video_means=video_means, seed=seed, epoch=epoch,
            shuffle_buffer=train_config.shuffle_buffer, reader_index=worker,
            num_readers=workers)
        tensors = (to_tensors(batch) for batch in numpy_batches)
        for batch in BackgroundLoader(tensors):
            yield distribute_batch(strategy, batch, local)
    return for_epoch


def to_tensors(batch: dict) -> dict:
    """A numpy batch as TensorFlow tensors with the dtypes of ``keras.data``'s batches
    (``num_frames`` int32); ``id`` stays a list of str."""
    out = {key: value if key == "id" else tf.convert_to_tensor(value)
           for key, value in batch.items()}
    if "num_frames" in out:
        out["num_frames"] = tf.cast(out["num_frames"], tf.int32)
    return out


def distribute_batch(strategy, batch: dict, local_replicas: int):
    """A worker's batch for ``strategy.run``: as it is for one local replica (one device, or
    one per ``MultiWorkerMirroredStrategy`` worker), otherwise split into consecutive,
    near-equal slices, one per local replica (``MirroredStrategy`` on several GPUs)."""
    if local_replicas == 1:
        return batch
    inputs = {key: value for key, value in batch.items() if key != "id"}
    size = int(inputs["labels"].shape[0])

    def slice_for(context):
        i = context.replica_id_in_sync_group % local_replicas
        lo, hi = i * size // local_replicas, (i + 1) * size // local_replicas
        return {key: value[lo:hi] for key, value in inputs.items()}
    return strategy.experimental_distribute_values_from_function(slice_for)


def _validation_dataset(val_paths, level, num_classes, train_config, normalize, video_means):
    from yt8m_lib.keras import data as kdata
    return kdata.make_dataset(
        val_paths, level, num_classes=num_classes, batch_size=train_config.eval_batch_size,
        seed=None, frames_per_video=train_config.frames_per_video,
        frame_sampling=evaluation_sampling(train_config.frame_sampling), normalize=normalize,
        video_means=video_means)


def train(*, model, train_paths, val_paths, out_dir, profile, seed, features="raw",
          autoencoder_dir=None, vocabulary=None, num_classes, device=None,
          mixed_precision=False, resume=True, progress=True, epochs=None,
          batch_size=None) -> dict | None:
    """Train one classifier; writes checkpoints, TensorBoard logs and ``out_dir/run.json``
    (the chief only). Returns the run record (None on the other workers)."""
    name = model
    level = model_level(name)
    worker, workers = cluster_info()
    _, strategy = setup(device, seed)

    from yt8m_lib.runs import run_record as results
    from yt8m_lib.runs.hardware import HardwareMonitor
    from yt8m_lib.keras import models as kmodels
    from yt8m_lib.evaluation.metrics import StreamingEvaluator
    from yt8m_lib.training import new_training_record

    model_config, train_config = _model_and_train_configs(profile, num_classes, epochs,
                                                          batch_size, seed)
    encoder, normalize = None, train_config.normalize
    if features == "autoencoder":
        if autoencoder_dir is None:
            raise ConfigError("--features autoencoder needs --autoencoder RUN_DIR")
        encoder, ae_config, ae_record = load_encoder(autoencoder_dir)
        model_config = with_overrides(model_config, rgb_dim=ae_config.ae_rgb_code,
                                      audio_dim=ae_config.ae_audio_code)
        normalize = bool(ae_record["config"]["train"]["normalize"])  # as it was trained
    elif features != "raw":
        raise ConfigError(f"unknown features {features!r}; choose raw or autoencoder")
    gpu = device_name() == "gpu"
    if mixed_precision and gpu:
        keras.mixed_precision.set_global_policy("mixed_float16")
    out_dir = Path(out_dir)
    per_replica = _per_replica_batch(train_config.batch_size, strategy)
    with strategy.scope():
        net = kmodels.build_model(name, model_config)
        optimizer = make_optimizer(train_config)
        if mixed_precision and gpu:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(net.trainable_variables)

    record = new_training_record(
        framework="keras", model=name, features=features, profile=profile, seed=seed,
        model_config=model_config, train_config=train_config, train_paths=train_paths,
        val_paths=val_paths, level=level, num_classes=num_classes, vocabulary=vocabulary,
        autoencoder_dir=autoencoder_dir,
        distributed=_distributed_info(strategy, workers, per_replica))
    record["framework_version"] = keras.__version__
    record["config"]["data_normalize"] = normalize
    record["parameters"] = kmodels.count_parameters(net)

    means = reads_video_means(name)
    val_dataset = _validation_dataset(val_paths, level, num_classes, train_config, normalize,
                                      means)
    forward = make_forward(net, encoder, train_config.bce_epsilon, val_dataset.element_spec)

    def validate():
        out = predict(net, val_dataset, forward=forward,
                      evaluator=StreamingEvaluator(num_classes, vocabulary=vocabulary),
                      progress=progress and worker == 0, desc="validate")
        m = out["metrics"]
        entry = {"val_loss": out["loss"], "val_gap": m["gap"], "val_hit_at_1": m["hit_at_1"],
                 "val_perr": m["perr"], "val_map": m["map"]}
        inference = {k: out[k] for k in ("inference_videos_per_s",
                                         "inference_batch_latency_ms")}
        inference["inference_batch_size"] = train_config.eval_batch_size
        return entry, dict(m, data=[str(p) for p in val_paths]), inference

    # a fixed signature only without distribution (distributed batches are not plain tensors)
    step_fn = make_train_step(net, optimizer, train_config, strategy=strategy, encoder=encoder,
                              element_spec=val_dataset.element_spec
                              if strategy.num_replicas_in_sync == 1 else None)
    monitor = HardwareMonitor(framework="keras")
    with monitor:
        _train_epochs(
            net=net, optimizer=optimizer, step_fn=step_fn, strategy=strategy,
            batches_fn=_train_batches_fn(train_paths, level, num_classes, train_config, seed,
                                         per_replica, normalize, means, strategy, worker,
                                         workers),
            train_paths=train_paths, batch_size=train_config.batch_size // workers, seed=seed,
            epochs=train_config.epochs, workers=workers, worker=worker, out_dir=out_dir,
            record=record, validate=validate, lower_is_better=False, progress=progress,
            desc=name, resume=resume,
            write_record=lambda r: results.write_run_record(out_dir, r))
    if worker != 0:
        return None
    record["hardware"] = monitor.to_record()
    results.write_run_record(out_dir, record)
    return record


# ---------------------------------------------------------------- evaluate
def evaluate(run_dir, data_paths, *, predictions_path=None, vocabulary=None, device=None,
             split_name="test") -> dict:
    """Score a trained run's best checkpoint on data; writes the predictions file and the
    metrics (with data paths and timings) into the run record under ``split_name``."""
    from yt8m_lib.runs import run_record as results
    from yt8m_lib.keras import data as kdata
    from yt8m_lib.keras import models as kmodels
    from yt8m_lib.evaluation.metrics import StreamingEvaluator
    from yt8m_lib.evaluation.predictions import PredictionWriter
    from yt8m_lib.training import model_config_from_dict, train_config_from_dict

    run_dir = Path(run_dir)
    record = results.read_run_record(run_dir)
    seed = int(record.get("seed") or 0)
    setup(device, seed)
    model_config = model_config_from_dict(record["config"]["model"])
    train_config = train_config_from_dict(record["config"]["train"])
    encoder = None
    autoencoder_dir = record["config"].get("autoencoder") or record.get("autoencoder_dir")
    if record.get("features") == "autoencoder" and autoencoder_dir:
        encoder, _, _ = load_encoder(autoencoder_dir)
    net = kmodels.build_model(record["model"], model_config)
    load_variables(run_dir / BEST, net.variables)
    dataset = kdata.make_dataset(
        data_paths, model_level(record["model"]), num_classes=model_config.num_classes,
        batch_size=train_config.eval_batch_size, seed=None,
        frames_per_video=train_config.frames_per_video,
        frame_sampling=evaluation_sampling(train_config.frame_sampling),
        normalize=record["config"].get("data_normalize", train_config.normalize),
        video_means=reads_video_means(record["model"]))
    writer = PredictionWriter(predictions_path) if predictions_path else None
    try:
        out = predict(net, dataset, encoder=encoder, writer=writer,
                      evaluator=StreamingEvaluator(model_config.num_classes,
                                                   vocabulary=vocabulary),
                      bce_epsilon=train_config.bce_epsilon)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    metrics = {**out["metrics"], "loss": out["loss"]}
    record.setdefault("evaluations", {})[split_name] = {
        **metrics, "data": [str(p) for p in data_paths],
        "predictions": None if predictions_path is None else str(predictions_path),
        "inference_videos_per_s": out["inference_videos_per_s"],
        "inference_batch_latency_ms": out["inference_batch_latency_ms"],
        "inference_batch_size": train_config.eval_batch_size}
    results.write_run_record(run_dir, record)
    return metrics


# ---------------------------------------------------------------- autoencoder
def make_autoencoder_step(autoencoder, optimizer, *, strategy=None):
    """One optimizer step of the denoising autoencoder on a batch dict; at frame level the
    loss counts the real frames only (padding is not data)."""

    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    variables = autoencoder.trainable_variables

    def replica_step(batch):
        with tf.GradientTape() as tape:
            rgb_error, audio_error = reconstruction_errors(autoencoder, batch, training=True)
            loss = rgb_error + audio_error
            scaled = loss / replicas  # inside the tape, or it has no gradient
        gradients = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    @quiet_tracing
    @tf.function(reduce_retracing=True)
    def step(batch):
        losses = strategy.run(replica_step, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    return lambda batch: step({k: v for k, v in batch.items() if k != "id"})


def reconstruction_errors(autoencoder, batch, training: bool):
    """Mean squared error of each stream's reconstruction, over the real frames only at frame
    level (padding is not data)."""

    errors = []
    rgb, audio = tf.cast(batch["rgb"], tf.float32), tf.cast(batch["audio"], tf.float32)
    reconstructions = autoencoder(rgb, audio, training=training)
    for rec, x in zip(reconstructions, (rgb, audio)):
        squared = tf.square(tf.cast(rec, tf.float32) - x)
        if "num_frames" in batch:
            mask = tf.cast(tf.range(tf.shape(x)[1])[None, :]
                           < tf.cast(batch["num_frames"], tf.int32)[:, None], tf.float32)
            total = tf.reduce_sum(squared * mask[..., None])
            errors.append(total / tf.maximum(tf.reduce_sum(mask) * x.shape[-1], 1.0))
        else:
            errors.append(tf.reduce_mean(squared))
    return errors[0], errors[1]


def train_autoencoder(*, level, train_paths, val_paths, out_dir, profile, seed,
                      vocabulary=None, num_classes=None, device=None, mixed_precision=False,
                      resume=True, progress=True, epochs=None,
                      batch_size=None) -> dict | None:
    """Train the denoising autoencoder on the rgb/audio features of ``level`` (no labels);
    records the reconstruction error per epoch (``val_loss`` = rgb + audio MSE); ``best.npz``
    (lowest validation error) is the encoder that ``--features autoencoder`` uses."""
    worker, workers = cluster_info()
    _, strategy = setup(device, seed)

    from yt8m_lib.runs import run_record as results
    from yt8m_lib.config import NUM_CLASSES_2018
    from yt8m_lib.runs.hardware import HardwareMonitor
    from yt8m_lib.keras.models import Autoencoder, count_parameters
    from yt8m_lib.training import new_training_record

    num_classes = num_classes or NUM_CLASSES_2018  # labels are read (and checked), not used
    model_config, train_config = _model_and_train_configs(profile, num_classes, None,
                                                          batch_size, seed)
    train_config = with_overrides(train_config, epochs=epochs or train_config.ae_epochs)
    out_dir = Path(out_dir)
    per_replica = _per_replica_batch(train_config.batch_size, strategy)
    with strategy.scope():
        net = Autoencoder(model_config)
        optimizer = make_optimizer(train_config)
        optimizer.build(net.trainable_variables)
    record = new_training_record(
        framework="keras", model="autoencoder", features="raw", profile=profile, seed=seed,
        model_config=model_config, train_config=train_config, train_paths=train_paths,
        val_paths=val_paths, level=level, num_classes=num_classes, vocabulary=vocabulary,
        distributed=_distributed_info(strategy, workers, per_replica))
    record["framework_version"] = keras.__version__
    record["parameters"] = count_parameters(net)
    normalize = train_config.normalize
    val_dataset = _validation_dataset(val_paths, level, num_classes, train_config, normalize,
                                      False)

    @quiet_tracing
    @tf.function(reduce_retracing=True)
    def val_errors(batch):
        return reconstruction_errors(net, batch, training=False)

    def validate():
        sums = np.zeros(3)
        for batch in val_dataset:
            n = int(batch["rgb"].shape[0])
            rgb, audio = val_errors({k: v for k, v in batch.items() if k != "id"})
            sums += [float(rgb) * n, float(audio) * n, n]
        n = max(sums[2], 1)
        entry = {"val_loss": (sums[0] + sums[1]) / n, "val_rgb_mse": sums[0] / n,
                 "val_audio_mse": sums[1] / n}
        return entry, dict(entry, num_videos=int(sums[2]),
                           data=[str(p) for p in val_paths]), {}

    step_fn = make_autoencoder_step(net, optimizer, strategy=strategy)
    monitor = HardwareMonitor(framework="keras")
    with monitor:
        _train_epochs(
            net=net, optimizer=optimizer, step_fn=step_fn, strategy=strategy,
            batches_fn=_train_batches_fn(train_paths, level, num_classes, train_config, seed,
                                         per_replica, normalize, False, strategy, worker,
                                         workers),
            train_paths=train_paths, batch_size=train_config.batch_size // workers, seed=seed,
            epochs=train_config.epochs, workers=workers, worker=worker, out_dir=out_dir,
            record=record, validate=validate, lower_is_better=True, progress=progress,
            desc="autoencoder", resume=resume,
            write_record=lambda r: results.write_run_record(out_dir, r))
    if worker != 0:
        return None
    record["hardware"] = monitor.to_record()
    results.write_run_record(out_dir, record)
    return record

"""The Keras adapter of the trainer contract (``yt8m_lib.training``): ``Trainer`` (the names
the one epoch loop calls) and the public ``train``, ``train_autoencoder`` and ``evaluate``,
read side by side with ``yt8m_lib.torch.train``.

A custom training step (``tf.GradientTape`` in a ``tf.function``) rather than ``model.fit``,
so that every piece the comparison depends on is explicit and the same as on the PyTorch side:
the loss (``models.classifier_loss``), Adam with an explicit epsilon, global gradient-norm
clipping, the batches and their order (the project's reader, seeded by (seed, epoch): the
very batches PyTorch trains on, validates and evaluates on).

Distribution through ``tf.distribute``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG``
names more than one worker (each worker reads its own share of the records),
``MirroredStrategy`` over several local GPUs, otherwise the default strategy. The profile's
``batch_size`` is the global batch, split evenly over the replicas (as on the PyTorch side).
Every worker runs the same number of steps per epoch - the number of batches of the smallest
share - so none waits forever for the others (PyTorch uses DDP's ``join`` instead); the
batches the larger shares skip are counted in the run record (``skipped_batches``).

Checkpoints: ``last.npz`` holds every model variable (weights, BatchNorm statistics, dropout
RNG states), every optimizer variable and the loop state; ``best.npz`` the model variables of
the best epoch. The chief writes them; every worker resumes from the chief's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402,F401

# imported here, not lazily, so that a missing TensorFlow/Keras fails at dispatch
# (yt8m_lib.commands.load_framework turns that into a MissingFrameworkError)
import tensorflow as tf  # noqa: E402,F401

from yt8m_lib import training  # noqa: E402
from yt8m_lib.errors import ConfigError  # noqa: E402
from yt8m_lib.evaluation.metrics import StreamingEvaluator  # noqa: E402
from yt8m_lib.keras.checkpoints import (  # noqa: E402
    BEST,
    LAST,
    encoder_for,
    load_encoder,
    load_variables,
    save_variables,
)
from yt8m_lib.keras.data import make_loader  # noqa: E402
from yt8m_lib.keras.models import (  # noqa: E402
    Autoencoder,
    build_model,
    classifier_loss,
    count_parameters,
    encode_inputs,
    make_optimizer,
    reconstruction_errors,
)
from yt8m_lib.runs import run_record  # noqa: E402
from yt8m_lib.training import RunSpec  # noqa: E402


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
        impl = (
            tf.distribute.experimental.CommunicationImplementation.NCCL
            if gpus
            else tf.distribute.experimental.CommunicationImplementation.RING
        )
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=impl
            )
        )
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


def to_model_batch(model, batch: dict) -> tuple[dict, object]:
    """(model inputs, labels) of a batch dict (numpy or tensors); ``num_frames`` as int32."""
    inputs = {key: batch[key] for key in model.input}
    if "num_frames" in inputs:
        inputs["num_frames"] = tf.cast(inputs["num_frames"], tf.int32)
    return inputs, tf.cast(batch["labels"], tf.float32)


def make_train_step(
    model,
    optimizer,
    train_config,
    *,
    jit_compile: bool = False,
    strategy=None,
    encoder=None,
    fixed_signature: bool = False,
):
    """A function batch dict -> mean loss that takes one optimizer step.

    The loss of each replica is its batch mean; gradients are summed across replicas, so
    the loss is divided by the number of replicas (= DistributedDataParallel's average).
    XLA stays off for models with an LSTM (the cuDNN kernel is not XLA-compilable).
    ``fixed_signature`` (single replica only): one trace for every batch size.
    """
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    epsilon = train_config.bce_epsilon
    if any("lstm" in layer.name for layer in model.layers):
        jit_compile = False
    variables = model.trainable_variables

    def replica_step(batch):
        inputs, labels = to_model_batch(model, batch)
        if encoder is not None:
            inputs = encode_inputs(encoder, inputs)
        with tf.GradientTape() as tape:
            loss = classifier_loss(model, inputs, labels, epsilon)
            scaled = loss / replicas
            if hasattr(optimizer, "scale_loss"):
                scaled = optimizer.scale_loss(scaled)
        gradients = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    signature = (
        batch_signature(model, raw_features=encoder is not None)
        if fixed_signature and replicas == 1
        else None
    )

    @quiet_tracing
    @tf.function(
        jit_compile=jit_compile,
        reduce_retracing=True,
        input_signature=None if signature is None else [signature],
    )
    def step(batch):
        losses = strategy.run(replica_step, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    keys = None if signature is None else set(signature)

    def run(batch: dict):
        return step(
            {
                key: value
                for key, value in batch.items()
                if key != "id" and (keys is None or key in keys)
            }
        )

    return run


def batch_signature(model, raw_features: bool = False) -> dict:
    """The tf.function input signature of a training batch: the model's inputs and the
    labels, batch size (and frame count) left open, so the last, smaller batch does not
    trigger a second (slow) trace. ``raw_features``: the batch holds the features an
    autoencoder turns into the model's inputs (1024 rgb, 128 audio)."""
    from yt8m_lib.config import AUDIO_DIM, RGB_DIM

    signature = model_signature(model)
    if raw_features:
        for key, spec in signature.items():
            if key != "num_frames":
                width = RGB_DIM if "rgb" in key else AUDIO_DIM
                signature[key] = tf.TensorSpec([*spec.shape[:-1], width], spec.dtype)
    labels = tf.TensorSpec([None, model.output.shape[-1]], tf.float32)
    return {**signature, "labels": labels}


def make_broadcast_statistics(model, strategy):
    """A function copying replica 0's non-trainable statistics (BatchNorm moving mean and
    variance) to every replica. Each replica updates them from its own batches; PyTorch's
    trainer broadcasts them from rank 0 at the end of every epoch, and so does this one, so
    every worker validates and saves the same model. None without distribution."""
    if strategy.num_replicas_in_sync == 1:
        return None
    variables = [
        v
        for v in model.non_trainable_variables
        if "seed_generator" not in v.path and v.dtype == "float32"
    ]
    if not variables:
        return None

    def replica_fn():
        context = tf.distribute.get_replica_context()
        first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32)
        # a sum in which only replica 0 contributes = replica 0's values, everywhere
        values = context.all_reduce(
            tf.distribute.ReduceOp.SUM, [tf.convert_to_tensor(v) * first for v in variables]
        )
        for variable, value in zip(variables, values):
            variable.assign(value)

    @tf.function
    def broadcast():
        strategy.run(replica_fn)

    return broadcast


# ---------------------------------------------------------------- checkpoints
# ---------------------------------------------------------------- forward and scoring
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


def make_forward(model, encoder=None, bce_epsilon: float = 1e-7):
    """An inference function (inputs, labels) -> (probabilities, summed loss, forward
    seconds). The model's forward pass is one traced function with a fixed input signature
    (traced once per model, whatever the batch size); the clock covers only that pass,
    synchronized (``inference_batch_latency_ms``, as the PyTorch trainer); the autoencoder's
    encoding and the loss are separate traced functions outside it."""

    from yt8m_lib.keras.models import clipped_bce

    signature = model_signature(model)

    @quiet_tracing
    @tf.function(input_signature=[signature])
    def probabilities(inputs):
        return tf.cast(model(inputs, training=False), tf.float32)

    @quiet_tracing
    @tf.function(reduce_retracing=True)
    def loss_sum(labels, p):
        return clipped_bce(p, labels, bce_epsilon) * tf.cast(tf.shape(p)[0], tf.float32)

    encode = None
    if encoder is not None:
        encode = quiet_tracing(
            tf.function(lambda inputs: encode_inputs(encoder, inputs), reduce_retracing=True)
        )

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


def predict(
    model,
    batches,
    *,
    encoder=None,
    evaluator=None,
    writer=None,
    bce_epsilon: float = 1e-7,
    forward=None,
) -> dict:
    """Scores batches: mean loss, the official metrics, timings; optional predictions file."""
    forward = forward or make_forward(model, encoder, bce_epsilon)
    loss_sum, count, latencies, sizes = 0.0, 0, [], []
    for batch in batches:
        p, loss, seconds = forward(*to_model_batch(model, batch))
        p = p.numpy()
        latencies.append(seconds)
        sizes.append(p.shape[0])
        loss_sum += float(loss)
        count += p.shape[0]
        if evaluator is not None:
            evaluator.add(p, batch["labels"].numpy())
        if writer is not None:
            writer.write(batch["id"], p)
    if count == 0:
        raise ConfigError("no videos to evaluate")
    # the first batch traces the function: inference_timings leaves it out
    out = {
        "loss": loss_sum / count,
        "num_videos": count,
        **training.inference_timings(latencies, sizes),
    }
    if evaluator is not None:
        out["metrics"] = evaluator.result()
    return out


def validate_autoencoder(autoencoder, batches) -> dict:
    """Mean reconstruction errors of the validation set (rgb, audio and their sum)."""

    @quiet_tracing
    @tf.function(reduce_retracing=True)
    def errors(batch):
        return reconstruction_errors(autoencoder, batch, training=False)

    def batch_errors():
        for batch in batches:
            rgb, audio = errors({k: v for k, v in batch.items() if k != "id"})
            yield float(rgb), float(audio), int(batch["rgb"].shape[0])

    return training.mean_reconstruction_errors(batch_errors())


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


def per_replica_batch(batch_size: int, strategy) -> int:
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(
            f"the global batch size {batch_size} does not split evenly over {replicas} replicas"
        )
    return batch_size // replicas


def distributed_info(strategy, workers: int, per_replica: int) -> dict:
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        backend = "MultiWorkerMirroredStrategy"  # (its class is CollectiveAllReduceStrategy)
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        backend = "MirroredStrategy"
    else:
        backend = None  # one device, as PyTorch's single process
    return {
        "world_size": strategy.num_replicas_in_sync,
        "workers": workers,
        "backend": backend,
        "device": device_name(),
        "per_rank_batch_size": per_replica,
        "uneven_shards": "same number of steps on every worker" if workers > 1 else None,
    }


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


# ---------------------------------------------------------------- the adapter
class Trainer(training.Trainer):
    """What the epoch loop needs from Keras, for a classifier or the autoencoder."""

    framework = "keras"
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
        self.rank, self.world_size = cluster_info()  # workers: the readers of the data
        _, self.strategy = setup(device, spec.seed)
        self.encoder, spec, normalize = encoder_for(spec)
        self.spec = spec
        config = spec.train_config
        gpu = device_name() == "gpu"
        if mixed_precision and gpu:
            keras.mixed_precision.set_global_policy("mixed_float16")
        self.per_replica = per_replica_batch(config.batch_size, self.strategy)
        self.local_replicas = self.strategy.num_replicas_in_sync // self.world_size
        with self.strategy.scope():
            if spec.is_autoencoder:
                self.model = Autoencoder(spec.model_config)
            else:
                self.model = build_model(spec.model, spec.model_config)
                self.set_output_biases(training.output_biases(spec, train_paths))
            self.optimizer = make_optimizer(config)
            if mixed_precision and gpu:
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        self.train_input, self.val_input = spec.inputs(
            train_paths,
            val_paths,
            normalize=normalize,
            batch_size=self.per_replica * self.local_replicas,
        )
        if spec.is_autoencoder:
            self.step = make_autoencoder_step(self.model, self.optimizer, strategy=self.strategy)
        else:
            self.step = make_train_step(
                self.model,
                self.optimizer,
                config,
                strategy=self.strategy,
                encoder=self.encoder,
                fixed_signature=True,
            )
            self.forward = make_forward(self.model, self.encoder, config.bce_epsilon)
        self.broadcast_statistics = make_broadcast_statistics(self.model, self.strategy)
        # BatchNorm cannot normalise one video; with several replicas every one must step
        # together, so there the batch is trained on (its variance is 0: no crash in Keras)
        self.skips_single_video_batches = self.strategy.num_replicas_in_sync == 1 and any(
            isinstance(layer, keras.layers.BatchNormalization) for layer in self.model.layers
        )
        self.lower_is_better = spec.is_autoencoder

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
            distributed=distributed_info(self.strategy, self.world_size, self.per_replica),
        )
        record["framework_version"] = keras.__version__
        record["keras_backend"] = keras.backend.backend()
        record["parameters"] = count_parameters(self.model)
        return record

    # the loop's names
    def epoch_batches(self, epoch: int):
        limit, skipped = None, 0
        if self.world_size > 1:  # every worker takes the steps of the smallest share
            steps = [
                self.train_input.steps(epoch, reader, self.world_size)
                for reader in range(self.world_size)
            ]
            limit = max(1, min(steps))
            skipped = sum(s - limit for s in steps)

        def distributed():
            loader = make_loader(
                self.train_input, epoch=epoch, reader_index=self.rank, num_readers=self.world_size
            )
            iterator = iter(loader)
            try:
                for step, batch in enumerate(iterator):
                    if limit is not None and step >= limit:
                        break
                    yield distribute_batch(self.strategy, batch, self.local_replicas)
            finally:
                iterator.close()  # stopped at the step limit: stop the reader thread

        return distributed(), skipped

    def batch_ids(self, batch) -> list:
        return batch["id"] if "id" in batch else [None] * self._local_size(batch)

    @staticmethod
    def _local_size(batch) -> int:
        values = batch["labels"]
        per_replica = getattr(values, "values", None)
        if per_replica is not None:  # a distributed batch: one tensor per local replica
            return int(sum(int(v.shape[0]) for v in per_replica))
        return int(values.shape[0])

    def examples_in_step(self, batch) -> int:
        return self._local_size(batch) * self.world_size  # the loss is already global

    def train_step(self, batch) -> float:
        return float(self.step(batch))  # float() waits for the step to finish

    def end_epoch(self, loss_sum, count):
        if self.broadcast_statistics is not None:
            self.broadcast_statistics()
        return loss_sum, count  # the step's loss is already the mean over all replicas

    def validate(self):
        batches = make_loader(self.val_input)
        if self.spec.is_autoencoder:
            evaluation = validate_autoencoder(self.model, batches)
            entry = {k: v for k, v in evaluation.items() if k != "num_videos"}
            return entry, evaluation, {}
        out = predict(
            self.model,
            batches,
            forward=self.forward,
            evaluator=StreamingEvaluator(
                self.spec.outputs, vocabulary=self.spec.validation_vocabulary
            ),
        )
        m = out["metrics"]
        entry = training.validation_entry(out["loss"], m)
        inference = {k: out[k] for k in ("inference_videos_per_s", "inference_batch_latency_ms")}
        inference["inference_batch_size"] = self.val_input.batch_size
        return entry, m, inference

    def save_weights(self, path: Path, epoch: int | None = None) -> None:
        save_variables(path, self.model.variables, {"epoch": epoch})

    def save_checkpoint(self, path: Path, state: dict) -> None:
        save_variables(path, self.model.variables, state, o=self.optimizer.variables)

    def load_checkpoint(self, path: Path) -> dict:
        return load_variables(path, self.model.variables, o=self.optimizer.variables)


# ---------------------------------------------------------------- public functions
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


def load_trained(run_dir, device=None):
    """(model with its best weights, encoder or None, run record)."""
    run_dir = Path(run_dir)
    record = run_record.read_run_record(run_dir)
    setup(device, int(record.get("seed") or 0))
    net = build_model(record["model"], training.model_config_from_dict(record["config"]["model"]))
    load_variables(run_dir / BEST, net.variables)
    encoder = None
    if record.get("features") == "autoencoder" and record["config"].get("autoencoder"):
        encoder, _, _ = load_encoder(record["config"]["autoencoder"])
    return net, encoder, record


def scorer(run_dir, device=None):
    """(run record, ``score(data, evaluator, writer)``): one pass of a trained run's best
    weights over ``data`` (an ``InputSpec``), for ``evaluate`` and ``predict_scores``."""
    net, encoder, record = load_trained(run_dir, device)

    def score(data, evaluator, writer):
        return predict(
            net,
            make_loader(data),
            encoder=encoder,
            writer=writer,
            evaluator=evaluator,
            bce_epsilon=record["config"]["train"]["bce_epsilon"],
        )

    return record, score


def evaluate(
    run_dir, data_paths, *, predictions_path=None, vocabulary=None, device=None, split_name="test"
) -> dict:
    """Score a trained run's best weights on ``data_paths``: metrics (plus genres with a
    vocabulary, baselines from the training labels), the Kaggle predictions file (and the
    genre predictions beside it), and ``evaluations[split_name]`` in its record."""
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
    ``data_paths``, in file order: for analyses that need every score (genre rules, a genre
    head), not only the top 20 of the predictions file.  The record is not changed."""
    record, score = scorer(run_dir, device)
    return training.collect_scores(record, data_paths, score)

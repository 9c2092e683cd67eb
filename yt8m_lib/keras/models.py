"""The seven classifiers and the denoising autoencoder, in Keras 3, exactly as the architecture
spec in ``yt8m_lib.config`` describes them (``yt8m_lib.torch.models`` builds the same ones).

Every classifier is a functional ``keras.Model`` whose inputs are named like the keys of a
batch dict (see ``yt8m_lib.keras.data``) and whose output is probabilities of shape
(B, num_classes). Layer names, used by the parity check to copy weights, mirror the PyTorch
sub-module names:

* ``logistic``: ``classifier``
* ``moe``: ``gates``, ``experts``
* ``gated_moe``: ``gates``, ``experts`` (the ``moe`` head), ``context_gate`` (Dense C -> C),
  ``context_norm`` (BatchNormalization)
* ``fc``: ``trunk_dense_{i}``, ``trunk_bn_{i}`` per hidden layer, ``classifier``
* ``bilstm``: ``lstm`` (Bidirectional), ``head_hidden``, ``head_output``
* ``stream_lstm``: ``rgb_lstm``, ``audio_lstm`` (both Bidirectional), ``rgb_head_hidden``,
  ``rgb_head_output``, ``audio_head_hidden``, ``audio_head_output``
* ``hybrid``: ``trunk_*`` (as ``fc``), ``rgb_lstm``, ``audio_lstm`` (both Bidirectional),
  ``head_hidden``, ``head_output``
* ``Autoencoder``: ``rgb_encoder``, ``rgb_decoder``, ``audio_encoder``, ``audio_decoder``

Sequences are right-padded; a boolean mask built from ``num_frames`` makes every LSTM skip
the padding (every backward direction starts at the last real frame). The LSTMs keep
tanh/sigmoid, no recurrent dropout and no unrolling, so on a GPU Keras runs them with the
cuDNN kernel (which needs right-padded masks, as here).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402  (the real Keras: absolute import)
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

from yt8m_lib.config import HEAD_LOSS_MODELS, MODEL_NAMES, ModelConfig, model_level  # noqa: E402

# Keras defaults, spelled out because the PyTorch side copies them.
KERNEL_INIT = "glorot_uniform"
BIAS_INIT = "zeros"


def dense(units: int, name: str, activation=None) -> layers.Dense:
    """Dense with Glorot-uniform kernel and zero bias (the spec's initialisation)."""
    return layers.Dense(
        units,
        activation=activation,
        kernel_initializer=KERNEL_INIT,
        bias_initializer=BIAS_INIT,
        name=name,
    )


def lstm(units: int, name: str | None = None) -> layers.LSTM:
    """An LSTM returning its final state, eligible for cuDNN, initialised as the spec says."""
    return layers.LSTM(
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        kernel_initializer=KERNEL_INIT,
        recurrent_initializer="orthogonal",
        bias_initializer=BIAS_INIT,
        unit_forget_bias=True,
        dropout=0.0,
        recurrent_dropout=0.0,
        unroll=False,
        return_sequences=False,
        name=name,
    )


@keras.saving.register_keras_serializable(package="yt8m")
class LengthMask(layers.Layer):
    """Boolean (B, T) mask of the real (left-aligned) frames from ``num_frames``.

    A video with no frame keeps one (zero-padded) frame, as the PyTorch side does, so both
    frameworks give it the same state.
    """

    def call(self, num_frames, frames):
        steps = ops.shape(frames)[1]
        lengths = ops.clip(ops.cast(num_frames, "int32"), 1, steps)
        return ops.arange(steps)[None, :] < lengths[:, None]

    def compute_output_spec(self, num_frames, frames):
        return keras.KerasTensor(frames.shape[:2], dtype="bool")


@keras.saving.register_keras_serializable(package="yt8m")
class MixtureOfExperts(layers.Layer):
    """sum_m softmax(gates)_m * sigmoid(experts)_m with the starter code's class-major units:
    gate unit ``c*(M+1) + m`` is gate m of class c (m = M is the dummy expert), expert unit
    ``c*M + m``."""

    def __init__(self, num_classes: int, mixtures: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.mixtures = mixtures

    def call(self, gate_logits, expert_logits):
        gates = ops.softmax(
            ops.reshape(gate_logits, (-1, self.num_classes, self.mixtures + 1)), axis=-1
        )
        experts = ops.sigmoid(ops.reshape(expert_logits, (-1, self.num_classes, self.mixtures)))
        return ops.sum(gates[..., : self.mixtures] * experts, axis=-1)

    def compute_output_shape(self, gate_logits_shape, expert_logits_shape):
        return (gate_logits_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "mixtures": self.mixtures}


def moe_head(x, config: ModelConfig):
    """The starter code's mixture of experts on features x: probabilities (B, C)."""
    gates = dense(config.num_classes * (config.moe_mixtures + 1), "gates")(x)
    experts = dense(config.num_classes * config.moe_mixtures, "experts")(x)
    return MixtureOfExperts(config.num_classes, config.moe_mixtures, name="mixture")(gates, experts)


def context_gating(p, config: ModelConfig):
    """Context gating (WILLOW, Miech et al. 2017) of probabilities p:
    p * sigmoid(BatchNorm(Dense(C)(p)))."""
    gate = dense(config.num_classes, "context_gate")(p)
    gate = layers.BatchNormalization(
        epsilon=config.batchnorm_epsilon,
        momentum=config.batchnorm_momentum,
        name="context_norm",
    )(gate)
    gate = layers.Activation("sigmoid", name="context_sigmoid")(gate)
    return layers.Multiply(name="context_gating")([p, gate])


def fc_trunk(x, config: ModelConfig):
    """[Dense -> BatchNorm -> ReLU -> Dropout] for each width in ``fc_hidden``."""
    for i, width in enumerate(config.fc_hidden):
        x = dense(width, f"trunk_dense_{i}")(x)
        x = layers.BatchNormalization(
            epsilon=config.batchnorm_epsilon,
            momentum=config.batchnorm_momentum,
            name=f"trunk_bn_{i}",
        )(x)
        x = layers.ReLU(name=f"trunk_relu_{i}")(x)
        x = layers.Dropout(config.dropout, name=f"trunk_dropout_{i}")(x)
    return x


def classifier_head(x, config: ModelConfig, prefix: str = "head"):
    """Dense(head_hidden, ReLU) -> Dropout -> Dense(C, sigmoid)."""
    x = dense(config.head_hidden, f"{prefix}_hidden", activation="relu")(x)
    x = layers.Dropout(config.dropout, name=f"{prefix}_dropout")(x)
    return dense(config.num_classes, f"{prefix}_output", activation="sigmoid")(x)


def model_inputs(name: str, config: ModelConfig) -> dict:
    """The named ``keras.Input`` s a model reads (a subset of the batch dict's keys)."""
    if model_level(name) == "video":
        return {
            "rgb": keras.Input((config.rgb_dim,), name="rgb"),
            "audio": keras.Input((config.audio_dim,), name="audio"),
        }
    inputs = {
        "rgb": keras.Input((None, config.rgb_dim), name="rgb"),
        "audio": keras.Input((None, config.audio_dim), name="audio"),
        "num_frames": keras.Input((), dtype="int32", name="num_frames"),
    }
    if name == "hybrid":
        inputs["mean_rgb"] = keras.Input((config.rgb_dim,), name="mean_rgb")
        inputs["mean_audio"] = keras.Input((config.audio_dim,), name="mean_audio")
    return inputs


def _outputs(name: str, inputs: dict, config: ModelConfig):
    concat = layers.Concatenate(axis=-1, name="concat_features")
    if name == "logistic":
        return dense(config.num_classes, "classifier", "sigmoid")(
            concat([inputs["rgb"], inputs["audio"]])
        )
    if name == "moe":
        return moe_head(concat([inputs["rgb"], inputs["audio"]]), config)
    if name == "fc":
        x = fc_trunk(concat([inputs["rgb"], inputs["audio"]]), config)
        return dense(config.num_classes, "classifier", "sigmoid")(x)
    if name == "gated_moe":
        return context_gating(moe_head(concat([inputs["rgb"], inputs["audio"]]), config), config)

    mask = LengthMask(name="mask")(inputs["num_frames"], inputs["rgb"])
    if name == "bilstm":
        frames = concat([inputs["rgb"], inputs["audio"]])
        # concat(final forward state, final backward state), like torch's h_n.
        state = layers.Bidirectional(lstm(config.lstm_units), merge_mode="concat", name="lstm")(
            frames, mask=mask
        )
        return classifier_head(state, config)
    # one bidirectional LSTM per stream, each returning concat(forward, backward) states
    rgb = layers.Bidirectional(lstm(config.lstm_units), merge_mode="concat", name="rgb_lstm")(
        inputs["rgb"], mask=mask
    )
    audio = layers.Bidirectional(lstm(config.lstm_units), merge_mode="concat", name="audio_lstm")(
        inputs["audio"], mask=mask
    )
    if name == "stream_lstm":
        rgb_p = classifier_head(rgb, config, "rgb_head")
        audio_p = classifier_head(audio, config, "audio_head")
        return layers.Average(name="mean_of_heads")([rgb_p, audio_p])
    # hybrid: concat(fc trunk on the video means, rgb state, audio state) -> head
    means = fc_trunk(
        layers.Concatenate(axis=-1, name="concat_means")(
            [inputs["mean_rgb"], inputs["mean_audio"]]
        ),
        config,
    )
    joined = layers.Concatenate(axis=-1, name="concat_streams")([means, rgb, audio])
    return classifier_head(joined, config)


def head_model(model: keras.Model) -> keras.Model | None:
    """For the models of ``HEAD_LOSS_MODELS``: a model sharing every layer of ``model``
    whose outputs are the heads' probabilities [rgb, audio] (the per-head training loss);
    None for the others."""
    if model.name not in HEAD_LOSS_MODELS:
        return None
    return keras.Model(
        model.input,
        [model.get_layer(f"{stream}_head_output").output for stream in ("rgb", "audio")],
        name=f"{model.name}_heads",
    )


def build_model(name: str, model_config: ModelConfig) -> keras.Model:
    """A fresh classifier (initialised from Keras' global seed: call
    ``keras.utils.set_random_seed`` first)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    inputs = model_inputs(name, model_config)
    return keras.Model(inputs, _outputs(name, inputs, model_config), name=name)


def uses_lstm(name: str) -> bool:
    """Models with a cuDNN LSTM: XLA (jit_compile) stays off for the whole model."""
    return model_level(name) == "frame"


def count_parameters(model: keras.Model) -> int:
    """Trainable parameters (what PyTorch counts with requires_grad)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def select_inputs(model: keras.Model, batch: dict) -> dict:
    """The entries of a batch dict the model reads (ids, labels and extras dropped)."""
    return {name: batch[name] for name in model.input}


@keras.saving.register_keras_serializable(package="yt8m")
class Autoencoder(keras.Model):
    """Per-stream overcomplete denoising autoencoder (the thesis's feature reconstruction).

    code = ReLU(Dense(code)(x + noise)), reconstruction = Dense(dim)(code); the noise is
    Gaussian with std ``ae_noise_std`` and only added in training. Works on videos (B, dim)
    and on frames (B, T, dim) alike.
    """

    def __init__(
        self,
        config: ModelConfig,
        rgb_dim: int | None = None,
        audio_dim: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.model_config = config
        rgb_dim = rgb_dim or config.rgb_dim
        audio_dim = audio_dim or config.audio_dim
        self.rgb_dim, self.audio_dim = rgb_dim, audio_dim
        self.rgb_encoder = dense(config.ae_rgb_code, "rgb_encoder", "relu")
        self.rgb_decoder = dense(rgb_dim, "rgb_decoder")
        self.audio_encoder = dense(config.ae_audio_code, "audio_encoder", "relu")
        self.audio_decoder = dense(audio_dim, "audio_decoder")
        self.rgb_noise = layers.GaussianNoise(config.ae_noise_std, name="rgb_noise")
        self.audio_noise = layers.GaussianNoise(config.ae_noise_std, name="audio_noise")
        # Build the weights now, so they exist before the first call (and can be copied).
        self.rgb_encoder.build((None, rgb_dim))
        self.rgb_decoder.build((None, config.ae_rgb_code))
        self.audio_encoder.build((None, audio_dim))
        self.audio_decoder.build((None, config.ae_audio_code))

    def encode(self, rgb, audio):
        """Codes (rgb_code, audio_code) of clean inputs, as the classifiers receive them."""
        return self.rgb_encoder(rgb), self.audio_encoder(audio)

    def call(self, rgb, audio, training=False):
        """Reconstructions (rgb, audio) of the corrupted inputs."""
        rgb_code = self.rgb_encoder(self.rgb_noise(rgb, training=training))
        audio_code = self.audio_encoder(self.audio_noise(audio, training=training))
        return self.rgb_decoder(rgb_code), self.audio_decoder(audio_code)


def build_autoencoder(model_config: ModelConfig) -> Autoencoder:
    return Autoencoder(model_config)


class CorrectedEpsilonAdam(keras.optimizers.Adam):
    """Keras' Adam with epsilon where PyTorch puts it (Algorithm 1 of Kingma & Ba): added to
    the bias-corrected sqrt(v_hat), so both frameworks apply one update rule.

    Keras' stock Adam adds epsilon to sqrt(v) *before* the bias correction, which makes its
    effective epsilon epsilon / sqrt(1 - beta_2^t): 31.6 times PyTorch's at step 1, 3.2 times
    at step 100. With the loss averaged over 3,862 classes most gradients are of epsilon's
    order, so the stock rule takes smaller steps for the first few hundred updates and a
    Keras run on a small training set ends lower (the learning curves of chapter 07 showed
    it). Adding epsilon * sqrt(1 - beta_2^t) to sqrt(v) is PyTorch's update exactly. Written
    with Keras ops, so it is the same on every backend (on torch it updates one variable at a
    time instead of Keras' fused foreach step)."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            raise NotImplementedError("CorrectedEpsilonAdam has no amsgrad variant")
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), step)
        correction_2 = ops.sqrt(1 - beta_2_power)
        alpha = ops.cast(learning_rate, dtype) * correction_2 / (1 - beta_1_power)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        denominator = ops.add(ops.sqrt(v), self.epsilon * correction_2)
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), denominator))


def make_optimizer(train_config) -> CorrectedEpsilonAdam:
    """Adam with every setting of the config explicit (epsilon 1e-7 in both frameworks, added
    where PyTorch adds it) and the global gradient-norm clipping of the config; the same on
    every Keras backend."""
    return CorrectedEpsilonAdam(
        learning_rate=train_config.learning_rate,
        beta_1=train_config.adam_beta_1,
        beta_2=train_config.adam_beta_2,
        epsilon=train_config.adam_epsilon,
        global_clipnorm=train_config.global_clipnorm,
    )


# ------------------------------------------------------------------ losses (as in torch/models.py)


def clipped_bce(probabilities, labels, epsilon: float):
    """Binary cross-entropy of probabilities clipped to [eps, 1 - eps], mean over classes and
    batch (written out, so Keras does not silently switch to logits)."""
    p = ops.clip(probabilities, epsilon, 1.0 - epsilon)
    labels = ops.cast(labels, p.dtype)
    return -ops.mean(labels * ops.log(p) + (1.0 - labels) * ops.log(1.0 - p))


def classifier_loss(model: keras.Model, inputs: dict, labels, epsilon: float):
    """The training loss of a classifier: clipped BCE of its probabilities; for the
    late-fusion models (``config.HEAD_LOSS_MODELS``) the mean of each head's own loss
    (through ``head_model``, built once per model)."""
    if model.name in HEAD_LOSS_MODELS:
        heads = getattr(model, "_yt8m_heads", None)
        if heads is None:
            heads = model._yt8m_heads = head_model(model)
        outputs = heads(inputs, training=True)
        return sum(clipped_bce(ops.cast(p, "float32"), labels, epsilon) for p in outputs) / len(
            outputs
        )
    return clipped_bce(ops.cast(model(inputs, training=True), "float32"), labels, epsilon)


def reconstruction_errors(autoencoder: Autoencoder, batch: dict, training: bool):
    """Mean squared error of each stream's reconstruction, over the real frames only at frame
    level (padding is not data). Keras ops only: the same function on either backend."""
    errors = []
    rgb = ops.cast(ops.convert_to_tensor(batch["rgb"]), "float32")
    audio = ops.cast(ops.convert_to_tensor(batch["audio"]), "float32")
    reconstructions = autoencoder(rgb, audio, training=training)
    for rec, x in zip(reconstructions, (rgb, audio)):
        squared = ops.square(ops.cast(rec, "float32") - x)
        if "num_frames" in batch:
            frames = ops.cast(ops.convert_to_tensor(batch["num_frames"]), "int32")
            mask = ops.cast(ops.arange(ops.shape(x)[1])[None, :] < frames[:, None], "float32")
            total = ops.sum(squared * mask[..., None])
            errors.append(total / ops.maximum(ops.sum(mask) * x.shape[-1], 1.0))
        else:
            errors.append(ops.mean(squared))
    return errors[0], errors[1]


def encode_inputs(encoder: Autoencoder, inputs: dict) -> dict:
    """Replace the raw features of a batch by the autoencoder's codes (``--features
    autoencoder``): rgb/audio and, for hybrid, the video means."""
    out = dict(inputs)
    out["rgb"], out["audio"] = encoder.encode(inputs["rgb"], inputs["audio"])
    if "mean_rgb" in inputs:
        out["mean_rgb"], out["mean_audio"] = encoder.encode(
            inputs["mean_rgb"], inputs["mean_audio"]
        )
    return out

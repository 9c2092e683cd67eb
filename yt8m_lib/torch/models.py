"""The seven classifiers and the denoising autoencoder, in PyTorch, exactly as the architecture
spec in ``yt8m_lib.config`` describes them (``yt8m_lib.keras.models`` builds the same ones).

Every classifier takes a batch dict (see ``yt8m_lib.torch.data``) and returns probabilities of
shape (B, num_classes). Sub-module names, used by the parity check to copy weights:

* ``logistic``: ``classifier``
* ``moe``: ``gates``, ``experts``
* ``gated_moe``: ``gates``, ``experts`` (the ``moe`` head), ``context_gate`` (Linear C -> C),
  ``context_norm`` (BatchNorm1d)
* ``fc``: ``trunk`` (Linear, BatchNorm1d, ReLU, Dropout per hidden layer), ``classifier``
* ``bilstm``: ``lstm`` (bidirectional), ``head`` (Linear, ReLU, Dropout, Linear)
* ``stream_lstm``: ``rgb_lstm``, ``audio_lstm``, ``rgb_head``, ``audio_head``
* ``hybrid``: ``trunk`` (as ``fc``), ``rgb_lstm``, ``audio_lstm``, ``head``
* ``Autoencoder``: ``rgb_encoder``, ``rgb_decoder``, ``audio_encoder``, ``audio_decoder``

Every LSTM wrapper holds a ``torch.nn.LSTM`` called ``lstm`` (so ``model.rgb_lstm.lstm``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from yt8m_lib.config import MODEL_NAMES, ModelConfig


def dense(in_features: int, out_features: int) -> nn.Linear:
    """A Linear layer initialised like a Keras Dense: Glorot-uniform kernel, zero bias."""
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def batch_norm(features: int, config: ModelConfig) -> nn.BatchNorm1d:
    """BatchNorm with Keras' epsilon; PyTorch's momentum is 1 - Keras' momentum."""
    return nn.BatchNorm1d(
        features, eps=config.batchnorm_epsilon, momentum=1.0 - config.batchnorm_momentum
    )


def fc_trunk(in_features: int, config: ModelConfig) -> nn.Sequential:
    """[Linear -> BatchNorm -> ReLU -> Dropout] for each width in ``fc_hidden``."""
    layers: list[nn.Module] = []
    for width in config.fc_hidden:
        layers += [
            dense(in_features, width),
            batch_norm(width, config),
            nn.ReLU(),
            nn.Dropout(config.dropout),
        ]
        in_features = width
    return nn.Sequential(*layers)


def classifier_head(in_features: int, config: ModelConfig) -> nn.Sequential:
    """Dense(head_hidden, ReLU) -> Dropout -> Dense(C); the sigmoid is applied by the model."""
    return nn.Sequential(
        dense(in_features, config.head_hidden),
        nn.ReLU(),
        nn.Dropout(config.dropout),
        dense(config.head_hidden, config.num_classes),
    )


class PackedLSTM(nn.Module):
    """An LSTM over the real frames only, returning its final state(s), initialised like Keras.

    Keras' LSTM has one bias per gate; PyTorch adds ``bias_ih`` and ``bias_hh``. ``bias_ih``
    plays Keras' bias (zero, forget gate 1) and ``bias_hh`` is zero and frozen, so the
    trainable parameters are the same in both frameworks. PyTorch's gate order (i, f, g, o)
    is Keras' (i, f, c, o).
    """

    def __init__(self, input_size: int, units: int, bidirectional: bool = False):
        super().__init__()
        self.units = units
        self.lstm = nn.LSTM(input_size, units, batch_first=True, bidirectional=bidirectional)
        for name, param in self.lstm.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(param)  # fan_in = input, fan_out = 4 * units, as Keras
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(param)
            elif name.startswith("bias_ih"):
                with torch.no_grad():
                    param.zero_()
                    param[units : 2 * units] = 1.0  # forget gate (Keras' unit_forget_bias)
            elif name.startswith("bias_hh"):
                nn.init.zeros_(param)
                param.requires_grad_(False)

    @property
    def output_size(self) -> int:
        return self.units * (2 if self.lstm.bidirectional else 1)

    def forward(self, frames: torch.Tensor, num_frames: torch.Tensor) -> torch.Tensor:
        # Packing needs a frame per video: a video without frames reads one (zero-padded)
        # frame, as the Keras mask does (yt8m_lib.keras.models.LengthMask).
        lengths = num_frames.detach().to("cpu", torch.int64).clamp(min=1, max=frames.shape[1])
        packed = pack_padded_sequence(frames, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        # h_n: (directions, B, units) in the batch's order; forward state first, then
        # the backward state (which started at the last real frame).
        return torch.cat(list(h_n), dim=1)


class Logistic(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.classifier = dense(config.rgb_dim + config.audio_dim, config.num_classes)

    def forward(self, batch: dict) -> torch.Tensor:
        x = torch.cat([batch["rgb"], batch["audio"]], dim=-1)
        return torch.sigmoid(self.classifier(x))


class MoE(nn.Module):
    """The starter code's mixture of experts.

    Output units are class-major, as the starter code's reshape to (B*C, M+1): gate unit
    ``c*(M+1) + m`` is gate m of class c (m = M is the dummy expert), expert unit ``c*M + m``.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.num_classes = config.num_classes
        self.mixtures = config.moe_mixtures
        in_features = config.rgb_dim + config.audio_dim
        self.gates = dense(in_features, config.num_classes * (self.mixtures + 1))
        self.experts = dense(in_features, config.num_classes * self.mixtures)

    def forward(self, batch: dict) -> torch.Tensor:
        x = torch.cat([batch["rgb"], batch["audio"]], dim=-1)
        gates = self.gates(x).view(-1, self.num_classes, self.mixtures + 1).softmax(dim=-1)
        experts = torch.sigmoid(self.experts(x).view(-1, self.num_classes, self.mixtures))
        return (gates[..., : self.mixtures] * experts).sum(dim=-1)


class GatedMoE(MoE):
    """The ``moe`` head, then context gating (WILLOW, Miech et al. 2017) of its
    probabilities p: p * sigmoid(BatchNorm(p W + b)), W (C, C)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.context_gate = dense(config.num_classes, config.num_classes)
        self.context_norm = batch_norm(config.num_classes, config)

    def forward(self, batch: dict) -> torch.Tensor:
        p = super().forward(batch)
        return p * torch.sigmoid(self.context_norm(self.context_gate(p)))


class FC(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.trunk = fc_trunk(config.rgb_dim + config.audio_dim, config)
        self.classifier = dense(config.fc_hidden[-1], config.num_classes)

    def forward(self, batch: dict) -> torch.Tensor:
        x = torch.cat([batch["rgb"], batch["audio"]], dim=-1)
        return torch.sigmoid(self.classifier(self.trunk(x)))


class BiLSTM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.lstm = PackedLSTM(
            config.rgb_dim + config.audio_dim, config.lstm_units, bidirectional=True
        )
        self.head = classifier_head(self.lstm.output_size, config)

    def forward(self, batch: dict) -> torch.Tensor:
        frames = torch.cat([batch["rgb"], batch["audio"]], dim=-1)
        return torch.sigmoid(self.head(self.lstm(frames, batch["num_frames"])))


class StreamLSTM(nn.Module):
    """Two streams, two heads; ``forward(batch)`` is the mean of the heads' probabilities,
    ``forward(batch, heads=True)`` stacks them (2, B, C) for the per-head training loss."""

    per_head_loss = True  # config.HEAD_LOSS_MODELS: trained on the mean of the heads' losses

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.rgb_lstm = PackedLSTM(config.rgb_dim, config.lstm_units, bidirectional=True)
        self.audio_lstm = PackedLSTM(config.audio_dim, config.lstm_units, bidirectional=True)
        self.rgb_head = classifier_head(self.rgb_lstm.output_size, config)
        self.audio_head = classifier_head(self.audio_lstm.output_size, config)

    def forward(self, batch: dict, heads: bool = False) -> torch.Tensor:
        rgb = torch.sigmoid(self.rgb_head(self.rgb_lstm(batch["rgb"], batch["num_frames"])))
        audio = torch.sigmoid(self.audio_head(self.audio_lstm(batch["audio"], batch["num_frames"])))
        if heads:
            return torch.stack([rgb, audio])
        return (rgb + audio) / 2


class Hybrid(nn.Module):
    """concat(fc trunk on the video means, rgb BiLSTM states, audio BiLSTM states) -> head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.trunk = fc_trunk(config.rgb_dim + config.audio_dim, config)
        self.rgb_lstm = PackedLSTM(config.rgb_dim, config.lstm_units, bidirectional=True)
        self.audio_lstm = PackedLSTM(config.audio_dim, config.lstm_units, bidirectional=True)
        self.head = classifier_head(
            config.fc_hidden[-1] + self.rgb_lstm.output_size + self.audio_lstm.output_size, config
        )

    def forward(self, batch: dict) -> torch.Tensor:
        means = self.trunk(torch.cat([batch["mean_rgb"], batch["mean_audio"]], dim=-1))
        rgb = self.rgb_lstm(batch["rgb"], batch["num_frames"])
        audio = self.audio_lstm(batch["audio"], batch["num_frames"])
        return torch.sigmoid(self.head(torch.cat([means, rgb, audio], dim=-1)))


MODEL_CLASSES = {
    "logistic": Logistic,
    "moe": MoE,
    "fc": FC,
    "gated_moe": GatedMoE,
    "bilstm": BiLSTM,
    "stream_lstm": StreamLSTM,
    "hybrid": Hybrid,
}
assert tuple(MODEL_CLASSES) == MODEL_NAMES


def build_model(name: str, model_config: ModelConfig) -> nn.Module:
    """A fresh classifier (initialised from torch's global RNG: seed it first)."""
    try:
        return MODEL_CLASSES[name](model_config)
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}") from None


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (what Keras reports as trainable)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class Autoencoder(nn.Module):
    """Per-stream overcomplete denoising autoencoder (the thesis's feature reconstruction).

    code = ReLU(Dense(code)(x + noise)), reconstruction = Dense(dim)(code); the noise is
    Gaussian with std ``ae_noise_std`` and only added in training mode. Works on videos
    (B, dim) and on frames (B, T, dim) alike.
    """

    def __init__(
        self, config: ModelConfig, rgb_dim: int | None = None, audio_dim: int | None = None
    ):
        super().__init__()
        rgb_dim = rgb_dim or config.rgb_dim
        audio_dim = audio_dim or config.audio_dim
        self.noise_std = config.ae_noise_std
        self.rgb_encoder = dense(rgb_dim, config.ae_rgb_code)
        self.rgb_decoder = dense(config.ae_rgb_code, rgb_dim)
        self.audio_encoder = dense(audio_dim, config.ae_audio_code)
        self.audio_decoder = dense(config.ae_audio_code, audio_dim)

    def _corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise_std > 0:
            return x + torch.randn_like(x) * self.noise_std
        return x

    def encode(self, rgb: torch.Tensor, audio: torch.Tensor):
        """Codes (rgb_code, audio_code) of clean inputs, as the classifiers receive them."""
        return torch.relu(self.rgb_encoder(rgb)), torch.relu(self.audio_encoder(audio))

    def forward(self, rgb: torch.Tensor, audio: torch.Tensor):
        """Reconstructions (rgb, audio) of the corrupted inputs."""
        rgb_code = torch.relu(self.rgb_encoder(self._corrupt(rgb)))
        audio_code = torch.relu(self.audio_encoder(self._corrupt(audio)))
        return self.rgb_decoder(rgb_code), self.audio_decoder(audio_code)


def build_autoencoder(model_config: ModelConfig) -> Autoencoder:
    return Autoencoder(model_config)


# ------------------------------------------------------------------ losses (as in keras/models.py)


def clipped_bce(probabilities: torch.Tensor, labels: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Binary cross-entropy of probabilities clipped to [eps, 1 - eps], mean over classes and
    batch (Keras' binary_crossentropy on probabilities)."""
    p = probabilities.float().clamp(epsilon, 1.0 - epsilon)
    y = labels.float()
    return -(y * torch.log(p) + (1.0 - y) * torch.log(1.0 - p)).mean()


def classifier_loss(
    model: nn.Module, inputs: dict, labels: torch.Tensor, epsilon: float
) -> torch.Tensor:
    """The training loss of a classifier (maybe inside DDP or torch.compile): clipped BCE of
    its probabilities; for the late-fusion models (``config.HEAD_LOSS_MODELS``) the mean of
    each head's own loss."""
    if getattr(getattr(model, "module", model), "per_head_loss", False):
        heads = model(inputs, heads=True)  # through the (DDP/compiled) wrapper's forward
        return sum(clipped_bce(p, labels, epsilon) for p in heads) / len(heads)
    return clipped_bce(model(inputs), labels, epsilon)


def reconstruction_errors(autoencoder: Autoencoder, batch: dict):
    """Mean squared error of each stream's reconstruction, over the real frames only at frame
    level (padding is not data)."""
    rec_rgb, rec_audio = autoencoder(batch["rgb"], batch["audio"])
    errors = []
    for rec, x in ((rec_rgb, batch["rgb"]), (rec_audio, batch["audio"])):
        squared = (rec.float() - x.float()).square()
        if "num_frames" in batch:
            frames = x.shape[1]
            mask = (
                torch.arange(frames, device=x.device)[None, :] < batch["num_frames"][:, None]
            ).to(squared.dtype)[..., None]
            errors.append((squared * mask).sum() / (mask.sum() * x.shape[-1]).clamp(min=1))
        else:
            errors.append(squared.mean())
    return errors[0], errors[1]

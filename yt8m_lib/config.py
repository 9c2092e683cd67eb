"""Configuration: plain dataclasses of literals, one set of profiles shared by both frameworks.

A profile (``smoke``, ``default``, ``paper``) fixes model sizes and training settings; the
synthetic data generator has its own profiles of the same names (``yt8m_lib.data.synthetic``).

The architecture every model follows, in both frameworks (``yt8m_lib.torch.models`` and
``yt8m_lib.keras.models`` implement exactly this, and ``yt8m parity`` proves it):

* inputs: video level ``rgb`` (B, rgb_dim), ``audio`` (B, audio_dim); frame level ``rgb``
  (B, T, rgb_dim), ``audio`` (B, T, audio_dim), ``num_frames`` (B,) real lengths (right
  padding), plus ``mean_rgb``/``mean_audio`` (B, dim) over all real frames for ``hybrid``.
* every output is a probability in (0, 1) for each of ``num_classes`` classes; the loss is the
  binary cross-entropy with probabilities clipped to [eps, 1 - eps], averaged over classes
  and batch (``TrainConfig.bce_epsilon``).
* ``logistic``: Dense(C, sigmoid) on concat(rgb, audio).
* ``moe``: the starter code's mixture of experts: gates Dense(C*(M+1)) softmax over M+1
  (the last is a dummy expert that always says 0), experts Dense(C*M) sigmoid; output
  sum_m gate_m * expert_m.
* ``gated_moe`` (beyond the thesis; WILLOW, Miech et al. 2017): the ``moe`` head, then
  context gating of its probabilities p: output = p * sigmoid(BatchNorm(p W + b)), W (C, C).
* ``fc``: concat(rgb, audio) -> [Dense(h) -> BatchNorm -> ReLU -> Dropout] for h in
  ``fc_hidden`` -> Dense(C, sigmoid).
* ``bilstm``: concat(rgb, audio) per frame -> bidirectional LSTM(lstm_units) over the real
  frames only (backward direction starts at the last real frame) -> concat(final forward
  state, final backward state) -> Dense(head_hidden, ReLU) -> Dropout -> Dense(C, sigmoid).
* ``stream_lstm``: rgb frames -> bidirectional LSTM(lstm_units) -> head; audio frames ->
  bidirectional LSTM(lstm_units) -> head (each stream's state is concat(final forward, final
  backward), as in ``bilstm``); each head Dense(head_hidden, ReLU) -> Dropout -> Dense(C,
  sigmoid); output is the mean of the two heads' probabilities.  Training loss: the mean of
  the two heads' own clipped BCE losses (late fusion: each head learns to classify from its
  stream alone).  Trained on the averaged probability instead, a head whose probability for
  a class is small gets a gradient that vanishes with it (d loss / d logit of the rgb head =
  -p_rgb (1 - p_rgb) / (p_rgb + p_audio) on a positive), so the faster audio stream starved
  the rgb stream, which then learned nothing in 2 of 3 seeds (test GAP 0.36-0.44 against
  0.67).  (Bidirectional streams: with one direction the state at the last frame had to
  carry evidence across every frame, and the model stayed nearer the label prior.)
* ``hybrid``: the ``fc`` trunk (without its classifier) on (mean_rgb, mean_audio) and the two
  ``stream_lstm`` trunks (final states of both directions) on the frames, concatenated ->
  Dense(head_hidden, ReLU) -> Dropout -> Dense(C, sigmoid).  (The thesis concatenates, then
  classifies.)
* initialisation: Dense kernels Glorot-uniform, biases zero; LSTM input kernels
  Glorot-uniform, recurrent kernels orthogonal, biases zero except the forget gate at 1
  (Keras' ``unit_forget_bias``); PyTorch's second LSTM bias (``bias_hh``) is held at zero and
  frozen, so both frameworks train the same parameters.  BatchNorm: epsilon and momentum
  below, in Keras' convention (PyTorch momentum = 1 - keras momentum).  One difference no
  setting removes: PyTorch's running variance averages the unbiased batch variance (n/(n-1)
  times Keras'); training steps are identical, inference after training differs slightly.
* output biases: zero, or with ``output_bias_prior`` the log-odds of each class's frequency
  in the training shards (half a video added to every count, so unseen classes get a finite
  value); for ``moe``/``gated_moe`` every expert of a class starts there. With 3,862 rare
  classes a zero bias starts every prediction at 0.5, and Adam moves a bias about one
  learning rate per step: the first epochs go to learning the prior.
* autoencoder (feature engineering): per stream, code = ReLU(Dense(code_dim)(x + noise)),
  reconstruction = Dense(dim)(code); loss = MSE summed over the two streams; codes replace
  raw features when ``--features autoencoder``.

Points the sentences above leave open, settled (both frameworks follow them):

* every LSTM runs over the real frames only: the forward direction returns its state at the
  last real frame, the backward one starts there; a video with ``num_frames == 0`` reads one
  zero-padded frame.
* ``moe``: both Dense layers have biases (zero-initialised); units are class-major as the
  starter code's reshape: gate unit ``c*(M+1) + m``, expert unit ``c*M + m``.
* BatchNorm's moving variance: PyTorch updates it with the unbiased batch variance, Keras with
  the biased one; the difference is (n-1)/n of one batch and is accepted (inference-time
  statistics only; training-mode outputs are identical).
* the loss clips probabilities explicitly (Keras must not let ``binary_crossentropy``
  recover the sigmoid's logits: clip, then log).
* batch size is the *global* batch: with N processes/replicas each takes batch_size / N.
* frame sampling at evaluation and validation: 'random' becomes 'uniform'; the random draw
  of training uses ``features.frame_rng(seed, epoch, video_id)``.
* autoencoder: trained on the *un-normalised* dequantized features (``normalize`` is off for
  the autoencoder and for every model fed its codes; ``ae_noise_std`` is on that [-2, 2]
  scale); at frame level the MSE is over the real frames only; the classifier sees the codes
  of the frozen encoder (no noise), and ``hybrid`` gets the codes of the video means too.
  The saved encoder is the epoch with the lowest validation reconstruction error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

MODEL_NAMES = ("logistic", "moe", "fc", "gated_moe", "bilstm", "stream_lstm", "hybrid")
HEAD_LOSS_MODELS = ("stream_lstm",)  # trained on the mean of their heads' losses (see above)
VIDEO_MEANS_MODELS = ("hybrid",)  # frame-level models that also read mean_rgb / mean_audio
VIDEO_LEVEL_MODELS = ("logistic", "moe", "fc", "gated_moe")
FRAME_LEVEL_MODELS = ("bilstm", "stream_lstm", "hybrid")
PROFILES = ("smoke", "default", "paper", "real")
FRAMEWORKS = ("torch", "keras")

RGB_DIM = 1024  # YouTube-8M: Inception features after PCA, per frame or video mean
AUDIO_DIM = 128  # YouTube-8M: VGGish audio features after PCA
MAX_FRAMES = 300  # YouTube-8M uses at most 300 one-per-second frames
NUM_CLASSES_2018 = 3862  # vocabulary of the 2018 release


def model_level(model: str) -> str:
    """'video' or 'frame': the level of the records a model reads."""
    if model in VIDEO_LEVEL_MODELS:
        return "video"
    if model in FRAME_LEVEL_MODELS:
        return "frame"
    raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODEL_NAMES)}")


def reads_video_means(model: str) -> bool:
    """Whether a frame-level model's batches must hold the video means (only ``hybrid``);
    the pipelines skip the mean over every frame of a video for the others."""
    return model in VIDEO_MEANS_MODELS


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int = NUM_CLASSES_2018  # set from the vocabulary of the data
    rgb_dim: int = RGB_DIM  # becomes ae_rgb_code with --features autoencoder
    audio_dim: int = AUDIO_DIM  # becomes ae_audio_code with --features autoencoder
    fc_hidden: tuple[int, ...] = (2048, 1024)  # fc trunk widths
    dropout: float = 0.5  # after every hidden layer
    lstm_units: int = 256  # per direction (bilstm) or per stream (stream_lstm, hybrid)
    head_hidden: int = 512  # hidden layer of every classifier head of the sequence models
    moe_mixtures: int = 2  # experts of the moe baseline, as in the starter code
    batchnorm_epsilon: float = 1e-3  # Keras default, set explicitly in PyTorch
    batchnorm_momentum: float = 0.99  # Keras convention; PyTorch gets 1 - this
    ae_rgb_code: int = 2048  # overcomplete code for the 1024-d rgb stream
    ae_audio_code: int = 256  # overcomplete code for the 128-d audio stream
    ae_noise_std: float = 0.1  # Gaussian corruption of the denoising autoencoder (inputs ~ [-2, 2])
    # start the output biases at the log-odds of each class's training frequency instead of
    # 0 (p = 0.5 for all 3,862 classes); see training.OUTPUT_BIAS_LAYERS
    output_bias_prior: bool = False


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 256
    epochs: int = 10
    learning_rate: float = 1e-3
    adam_beta_1: float = 0.9
    adam_beta_2: float = 0.999
    adam_epsilon: float = 1e-7  # Keras' default; PyTorch's default (1e-8) is overridden
    global_clipnorm: float | None = None  # clip the global gradient norm, both frameworks
    bce_epsilon: float = 1e-7  # probability clipping in the loss, both frameworks
    shuffle_buffer: int = 2048  # records held for the seeded shuffle
    frames_per_video: int = 32  # frames fed to a frame-level model
    frame_sampling: str = "uniform"  # 'uniform' (evenly spaced), 'random' (sorted draw) or 'all'
    normalize: bool = True  # L2-normalise concat(rgb, audio) as the starter code does
    # DataLoader workers (PyTorch) / parse parallelism hint (tf.data); PyTorch reads 0 in one
    # reader beside the step: a thread, on CUDA a worker process (torch.data.reading_workers)
    num_workers: int = 0
    ae_epochs: int = 5  # autoencoder training epochs (the cap when it stops early)
    # the autoencoder's convergence rule: an epoch resets the early-stopping patience only
    # when it lowers the best validation loss by more than this share of it (0: any drop)
    ae_min_improvement: float = 0.0
    eval_batch_size: int = 512
    seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)  # seeds of the framework comparison (mean ± std)
    # stop after this many epochs without a better validation score (None: every epoch);
    # the best epoch's weights are kept either way (single-process runs only)
    early_stopping_patience: int | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # per-model learning rates, (model, rate) pairs, replacing train.learning_rate for that
    # model (the ``real`` profile's come from the tuning protocol, yt8m_lib.tuning)
    learning_rates: tuple[tuple[str, float], ...] = ()

    def train_for(self, model: str) -> TrainConfig:
        """The training settings of one model under this profile."""
        rate = dict(self.learning_rates).get(model)
        return self.train if rate is None else with_overrides(self.train, learning_rate=rate)


PROFILE_SETTINGS: dict[str, Profile] = {
    # seconds on 2 CPU cores: tests and notebook smoke runs
    "smoke": Profile(
        "smoke",
        ModelConfig(
            fc_hidden=(64, 32), lstm_units=16, head_hidden=32, ae_rgb_code=64, ae_audio_code=16
        ),
        TrainConfig(
            batch_size=32,
            epochs=2,
            frames_per_video=8,
            shuffle_buffer=128,
            ae_epochs=2,  # a training curve (chapter 02) needs two points
            eval_batch_size=64,
            seeds=(0, 1),
        ),
    ),
    # what `make reproduce` trains: the whole reproduction in about 30 min on 2 CPU cores.
    # Tuned so that every model learns in its ~560 optimizer steps (1500 videos, 6 epochs of
    # batch 16): with batch 64, lr 1e-3, dropout 0.5 and L2-normalised 1152-d frames (each
    # value ~0.03) the LSTMs stayed at the label prior. No L2 normalisation here (the values
    # are already ~0.4 per dimension); 16 frames train the LSTMs faster than 24 and cover
    # every evidence span of the synthetic data (10-30 % of a video) with 1-5 frames.
    "default": Profile(
        "default",
        ModelConfig(
            fc_hidden=(512, 256),
            dropout=0.2,
            lstm_units=128,
            head_hidden=128,
            ae_rgb_code=1536,
            ae_audio_code=192,
        ),
        TrainConfig(
            batch_size=16,
            epochs=6,
            learning_rate=2e-3,
            frames_per_video=16,
            normalize=False,
            shuffle_buffer=1024,
            ae_epochs=3,
            eval_batch_size=256,
            # five: a paired t-test over 3 seeds has 2 degrees of freedom, too few to claim
            seeds=(0, 1, 2, 3, 4),
        ),
    ),
    # full size, for a GPU and the real dataset
    "paper": Profile(
        "paper",
        ModelConfig(),
        TrainConfig(
            batch_size=256,
            epochs=10,
            frames_per_video=64,
            shuffle_buffer=8192,
            num_workers=4,
            ae_epochs=5,
            eval_batch_size=1024,
            seeds=(0, 1, 2),
        ),
    ),
    # real video-level data (the 2018 release's 3,862 classes; make data-real): the settings
    # of the tuning protocol (yt8m_lib.tuning), every model on the same budget. The output
    # biases start at the class prior (without it 12 epochs of Adam at 1e-3 spend most of
    # their steps lowering 3,862 biases from 0); one hidden layer of 1024 (a 2048-wide layer
    # costs twice the time on 2 cores); no normalisation (raw means did as well as z-scored
    # ones on validate); docs/methods.md has the measurements. The learning rate
    # of each model is the protocol's choice on validate (figures/real/tuning.csv; a test
    # keeps them equal). Frame-level settings are the paper profile's.
    "real": Profile(
        "real",
        ModelConfig(fc_hidden=(1024,), output_bias_prior=True),
        TrainConfig(
            batch_size=256,
            epochs=12,
            learning_rate=1e-3,
            normalize=False,
            early_stopping_patience=2,
            frames_per_video=64,
            shuffle_buffer=8192,
            # the autoencoder trains to convergence: until two epochs in a row lower its
            # validation loss by less than 0.2 % (chapter 02 shows the curves), at most 100
            ae_epochs=100,
            ae_min_improvement=0.002,
            eval_batch_size=1024,
            seeds=(0, 1, 2, 3, 4),
        ),
        # the tuning protocol's choices (figures/real/tuning.csv)
        learning_rates=(("logistic", 1e-3), ("moe", 3e-3), ("fc", 1e-3), ("gated_moe", 3e-3)),
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILE_SETTINGS[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None


def with_overrides(config, **overrides):
    """A copy of a frozen config with the given fields replaced (None values are ignored)."""
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def to_dict(config) -> dict:
    """JSON-ready dict of a (nested) config dataclass."""
    return dataclasses.asdict(config)

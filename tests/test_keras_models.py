"""The Keras models follow the architecture spec of yt8m_lib.config literally: masked
sequences, cuDNN-eligible LSTMs, the spec's initialisation, loss and autoencoder."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from yt8m_lib.config import MODEL_NAMES, get_profile, with_overrides  # noqa: E402
from yt8m_lib.keras import models as M  # noqa: E402
from yt8m_lib.parity import random_batch  # noqa: E402

CONFIG = with_overrides(get_profile("smoke").model, num_classes=7)
B, T = 6, 5


def batch_for(name, seed=0, frames=T):
    return random_batch(name, CONFIG, batch_size=B, frames=frames, seed=seed)


def run(model, batch, training=False):
    return np.asarray(model(M.select_inputs(model, batch), training=training))


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {name: M.build_model(name, CONFIG) for name in MODEL_NAMES}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_returns_probabilities_per_class(models, name):
    p = run(models[name], batch_for(name))
    assert p.shape == (B, CONFIG.num_classes)
    assert np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("name", ["bilstm", "stream_lstm", "hybrid"])
def test_padding_is_ignored_whatever_it_holds_and_however_long(models, name):
    batch = batch_for(name)
    reference = run(models[name], batch)
    noisy = dict(batch)
    rng = np.random.default_rng(1)
    longer = T + 4
    real = np.arange(longer)[None, :] < np.maximum(batch["num_frames"], 1)[:, None]
    for key in ("rgb", "audio"):
        padded = np.pad(batch[key], ((0, 0), (0, 4), (0, 0)))
        garbage = rng.normal(0, 3, padded.shape).astype(np.float32)
        noisy[key] = np.where(real[..., None], padded, garbage)
    np.testing.assert_allclose(run(models[name], noisy), reference, atol=2e-6)


def test_bilstm_backward_direction_starts_at_the_last_real_frame(models):
    """Each padded video gives what it gives alone, unpadded (a backward pass that started
    in the padding would not)."""
    model = models["bilstm"]
    batch = batch_for("bilstm")
    together = run(model, batch)
    for i, n in enumerate(batch["num_frames"]):
        n = max(int(n), 1)
        alone = {
            "rgb": batch["rgb"][i : i + 1, :n],
            "audio": batch["audio"][i : i + 1, :n],
            "num_frames": np.array([n], np.int32),
        }
        np.testing.assert_allclose(run(model, alone)[0], together[i], atol=2e-6)


def test_a_change_in_a_real_frame_changes_the_output(models):
    batch = batch_for("bilstm")
    changed = {k: v.copy() for k, v in batch.items()}
    changed["rgb"][0, 0] += 1.0  # first frame of a full-length video: seen by both directions
    assert np.abs(run(models["bilstm"], changed)[0] - run(models["bilstm"], batch)[0]).max() > 1e-6


def lstm_layers(model):
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            out += [layer.forward_layer, layer.backward_layer]
        elif isinstance(layer, keras.layers.LSTM):
            out.append(layer)
    return out


@pytest.mark.parametrize("name", ["bilstm", "stream_lstm", "hybrid"])
def test_lstms_stay_eligible_for_the_cudnn_kernel(models, name):
    # Keras' own test of the arguments (its cudnn_ok adds "and a GPU is present")
    from keras.src.backend.tensorflow.rnn import _do_lstm_arguments_support_cudnn

    lstms = lstm_layers(models[name])
    assert lstms
    for lstm in lstms:
        cell = lstm.cell
        assert cell.activation is keras.activations.tanh
        assert cell.recurrent_activation is keras.activations.sigmoid
        assert cell.recurrent_dropout == 0 and not lstm.unroll and lstm.use_cudnn == "auto"
        assert _do_lstm_arguments_support_cudnn(
            cell.activation, cell.recurrent_activation, lstm.unroll, cell.use_bias
        )
    assert M.uses_lstm(name)


def test_lstm_initialisation_follows_the_spec(models):
    units = CONFIG.lstm_units
    stream = models["stream_lstm"].get_layer("rgb_lstm")
    assert isinstance(stream, keras.layers.Bidirectional)  # every stream reads both ways
    cell = stream.backward_layer.cell
    bias = cell.bias.numpy()
    np.testing.assert_array_equal(bias[units : 2 * units], 1.0)  # forget gate
    np.testing.assert_array_equal(np.delete(bias, np.s_[units : 2 * units]), 0.0)
    recurrent = cell.recurrent_kernel.numpy()  # (u, 4u), orthogonal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(units), atol=1e-5)
    kernel = cell.kernel.numpy()
    limit = np.sqrt(6 / (kernel.shape[0] + kernel.shape[1]))  # Glorot uniform
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


def test_dense_and_batchnorm_settings_follow_the_spec(models):
    fc = models["fc"]
    dense = fc.get_layer("trunk_dense_0")
    np.testing.assert_array_equal(dense.bias.numpy(), 0.0)
    bn = fc.get_layer("trunk_bn_0")
    assert bn.epsilon == CONFIG.batchnorm_epsilon and bn.momentum == CONFIG.batchnorm_momentum
    assert fc.get_layer("trunk_dropout_0").rate == CONFIG.dropout


def test_parameter_counts_match_the_formulas(models):
    c, k = CONFIG, CONFIG.num_classes
    d = c.rgb_dim + c.audio_dim
    assert M.count_parameters(models["logistic"]) == (d + 1) * k
    m = c.moe_mixtures
    assert M.count_parameters(models["moe"]) == (d + 1) * k * (m + 1) + (d + 1) * k * m
    # the moe head + context gating: Dense (C, C) + BatchNorm gamma/beta (trainable)
    assert M.count_parameters(models["gated_moe"]) == (
        (d + 1) * k * (m + 1) + (d + 1) * k * m + (k + 1) * k + 2 * k
    )
    trunk, width = 0, d
    for w in c.fc_hidden:
        trunk += (width + 1) * w + 2 * w  # Dense + BatchNorm gamma/beta
        width = w
    assert M.count_parameters(models["fc"]) == trunk + (width + 1) * k
    u, h = c.lstm_units, c.head_hidden
    lstm = 4 * u * (d + u + 1)
    assert M.count_parameters(models["bilstm"]) == 2 * lstm + (2 * u + 1) * h + (h + 1) * k


def test_moe_mixes_class_major_units():
    """Gate unit c*(M+1)+m and expert unit c*M+m belong to class c (the starter code)."""
    layer = M.MixtureOfExperts(num_classes=2, mixtures=2)
    gates = np.log(np.array([[1, 3, 0, 2, 2, 4]], np.float32) + 1e-30)  # class 0: .25 .75 0
    experts = np.array([[0.0, 50.0, -50.0, 0.0]], np.float32)  # sigmoid: .5 1 | 0 .5
    p = np.asarray(layer(gates, experts))
    np.testing.assert_allclose(p[0], [0.25 * 0.5 + 0.75 * 1.0, 0.25 * 0 + 0.25 * 0.5], atol=1e-6)


def test_gated_moe_with_the_gate_open_is_the_moe_model():
    """output = p * sigmoid(BatchNorm(Dense(C)(p))) on the moe head's probabilities p: with
    the moe model's weights and the gate forced open it gives the moe model's output."""
    keras.utils.set_random_seed(1)
    gated, moe = M.build_model("gated_moe", CONFIG), M.build_model("moe", CONFIG)
    for name in ("gates", "experts"):
        gated.get_layer(name).set_weights(moe.get_layer(name).get_weights())
    k = CONFIG.num_classes
    assert tuple(gated.get_layer("context_gate").kernel.shape) == (k, k)
    norm = gated.get_layer("context_norm")
    assert isinstance(norm, keras.layers.BatchNormalization)  # top level: trainers see it
    assert norm.epsilon == CONFIG.batchnorm_epsilon and norm.momentum == CONFIG.batchnorm_momentum
    batch = batch_for("gated_moe")
    p = run(moe, batch)
    assert np.abs(run(gated, batch) - p).max() > 1e-3  # at initialisation the gate is half shut
    norm.beta.assign(np.full(k, 100.0, np.float32))  # sigmoid(...) == 1: the gate is open
    np.testing.assert_allclose(run(gated, batch), p, rtol=0, atol=1e-7)


def test_unknown_model_name_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        M.build_model("transformer", CONFIG)


def test_loss_is_clipped_binary_cross_entropy_averaged_over_classes_and_batch():
    y = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    p = np.array([[0.9, 0.2, 1.0], [0.0, 0.5, 0.3]], np.float32)
    eps = 1e-7
    q = np.clip(p.astype(np.float64), eps, 1 - eps)
    expected = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
    assert float(M.clipped_bce(p, y, eps)) == pytest.approx(expected, rel=1e-5)


def test_stream_lstm_heads_model_shares_the_layers_and_averages_to_the_output(models):
    """The per-head training loss (config spec) reads the heads of the very same layers."""
    model = models["stream_lstm"]
    heads = M.head_model(model)
    batch = M.select_inputs(model, batch_for("stream_lstm"))
    rgb, audio = (np.asarray(p) for p in heads(batch, training=False))
    np.testing.assert_allclose((rgb + audio) / 2, run(model, batch_for("stream_lstm")), atol=1e-6)
    assert {id(v) for v in heads.trainable_variables} == {id(v) for v in model.trainable_variables}
    assert all(M.head_model(models[n]) is None for n in MODEL_NAMES if n != "stream_lstm")


def test_autoencoder_adds_noise_only_in_training_and_handles_frames():
    keras.utils.set_random_seed(0)
    ae = M.build_autoencoder(CONFIG)
    batch = random_batch("bilstm", CONFIG, batch_size=3, frames=4)
    rgb, audio = batch["rgb"], batch["audio"]
    first = [np.asarray(x) for x in ae(rgb, audio, training=False)]
    again = [np.asarray(x) for x in ae(rgb, audio, training=False)]
    noisy = [np.asarray(x) for x in ae(rgb, audio, training=True)]
    np.testing.assert_array_equal(first[0], again[0])
    assert np.abs(noisy[0] - first[0]).max() > 1e-4
    assert first[0].shape == rgb.shape and first[1].shape == audio.shape
    codes = ae.encode(rgb, audio)
    assert codes[0].shape == (3, 4, CONFIG.ae_rgb_code)
    assert codes[1].shape == (3, 4, CONFIG.ae_audio_code)
    assert np.asarray(codes[0]).min() >= 0  # ReLU codes

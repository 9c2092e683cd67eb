"""The PyTorch models follow the architecture spec of yt8m_lib.config literally."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from yt8m_lib.config import MODEL_NAMES, VIDEO_LEVEL_MODELS, get_profile, with_overrides  # noqa: E402
from yt8m_lib.torch.models import Autoencoder, PackedLSTM, build_model, count_parameters  # noqa: E402

CONFIG = with_overrides(get_profile("smoke").model, num_classes=7)
B, T = 5, 6


def video_batch(seed=0, config=CONFIG):
    g = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.randn(B, config.rgb_dim, generator=g),
        "audio": torch.randn(B, config.audio_dim, generator=g),
        "labels": torch.zeros(B, config.num_classes),
    }


def frame_batch(seed=0, config=CONFIG, num_frames=(6, 1, 3, 0, 4)):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(num_frames)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()[..., None]
    return {
        "rgb": torch.randn(B, T, config.rgb_dim, generator=g) * mask,
        "audio": torch.randn(B, T, config.audio_dim, generator=g) * mask,
        "num_frames": lengths,
        "mean_rgb": torch.randn(B, config.rgb_dim, generator=g),
        "mean_audio": torch.randn(B, config.audio_dim, generator=g),
        "labels": torch.zeros(B, config.num_classes),
    }


def batch_for(name, seed=0):
    return video_batch(seed) if name in VIDEO_LEVEL_MODELS else frame_batch(seed)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_returns_probabilities_per_class(name):
    torch.manual_seed(0)
    model = build_model(name, CONFIG).eval()
    with torch.no_grad():
        p = model(batch_for(name))
    assert p.shape == (B, CONFIG.num_classes)
    assert torch.all((p > 0) & (p < 1))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_one_step(name):
    torch.manual_seed(0)
    model = build_model(name, CONFIG).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(batch_for(name)).mean().backward()
    opt.step()
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed


def test_unknown_model_name_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer", CONFIG)


def lstm_params(input_size, units):
    # Keras: kernel (in, 4u) + recurrent kernel (u, 4u) + one bias (4u)
    return 4 * units * (input_size + units + 1)


def test_parameter_counts_match_the_keras_formulas():
    c, h, u, k = CONFIG, CONFIG.head_hidden, CONFIG.lstm_units, CONFIG.num_classes
    d = c.rgb_dim + c.audio_dim
    head = lambda n: (n + 1) * h + (h + 1) * k  # noqa: E731
    fc_trunk, width = 0, d
    for w in c.fc_hidden:
        fc_trunk += (width + 1) * w + 2 * w  # Dense + BatchNorm gamma/beta (trainable)
        width = w
    expected = {
        "logistic": (d + 1) * k,
        "moe": (d + 1) * k * (c.moe_mixtures + 1) + (d + 1) * k * c.moe_mixtures,
        # the moe head + context gating: Linear (C, C) + BatchNorm gamma/beta (trainable)
        "gated_moe": (d + 1) * k * (c.moe_mixtures + 1)
        + (d + 1) * k * c.moe_mixtures
        + (k + 1) * k
        + 2 * k,
        "fc": fc_trunk + (width + 1) * k,
        "bilstm": 2 * lstm_params(d, u) + head(2 * u),
        # every stream is bidirectional: two LSTMs per stream, heads on 2u states
        "stream_lstm": 2 * lstm_params(c.rgb_dim, u)
        + 2 * lstm_params(c.audio_dim, u)
        + 2 * head(2 * u),
        "hybrid": fc_trunk
        + 2 * lstm_params(c.rgb_dim, u)
        + 2 * lstm_params(c.audio_dim, u)
        + head(width + 4 * u),
    }
    for name, count in expected.items():
        assert count_parameters(build_model(name, CONFIG)) == count, name


def test_dense_layers_are_glorot_uniform_with_zero_bias():
    torch.manual_seed(0)
    layer = build_model("fc", CONFIG).trunk[0]
    fan_out, fan_in = layer.weight.shape
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert layer.weight.abs().max() <= limit
    assert layer.weight.abs().max() > 0.9 * limit  # uniform over the whole range
    assert torch.all(layer.bias == 0)


def test_batchnorm_uses_keras_epsilon_and_converted_momentum():
    bn = build_model("fc", CONFIG).trunk[1]
    assert isinstance(bn, torch.nn.BatchNorm1d)
    assert bn.eps == CONFIG.batchnorm_epsilon
    assert bn.momentum == pytest.approx(1 - CONFIG.batchnorm_momentum)


def test_fc_layer_order_is_dense_batchnorm_relu_dropout():
    kinds = [type(m).__name__ for m in build_model("fc", CONFIG).trunk]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * len(CONFIG.fc_hidden)


def test_lstm_init_forget_bias_one_frozen_hh_bias_orthogonal_recurrent():
    torch.manual_seed(0)
    lstm = PackedLSTM(10, 4, bidirectional=True).lstm
    for suffix in ("_l0", "_l0_reverse"):
        bias_ih = getattr(lstm, "bias_ih" + suffix)
        assert torch.equal(bias_ih, torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8))
        bias_hh = getattr(lstm, "bias_hh" + suffix)
        assert torch.all(bias_hh == 0) and not bias_hh.requires_grad
        w = getattr(lstm, "weight_hh" + suffix).detach()  # (4u, u): orthonormal columns
        assert torch.allclose(w.T @ w, torch.eye(4), atol=1e-5)


def test_bilstm_ignores_padding_content_and_length():
    torch.manual_seed(0)
    model = build_model("bilstm", CONFIG).eval()
    batch = frame_batch()
    noisy = dict(batch)
    pad = (torch.arange(T)[None, :] >= batch["num_frames"][:, None]).float()[..., None]
    pad[batch["num_frames"] == 0, 0] = 0  # a video without frames reads one zero frame
    noisy["rgb"] = batch["rgb"] + 5 * pad * torch.randn_like(batch["rgb"])
    longer = {
        k: torch.nn.functional.pad(v, (0, 0, 0, 3)) if v.dim() == 3 else v for k, v in batch.items()
    }
    with torch.no_grad():
        p = model(batch)
        assert torch.allclose(p, model(noisy), atol=1e-6)
        assert torch.allclose(p, model(longer), atol=1e-6)


def test_bilstm_backward_direction_starts_at_the_last_real_frame():
    torch.manual_seed(0)
    wrapper = PackedLSTM(3, 2, bidirectional=True).eval()
    x = torch.randn(1, 5, 3)
    n = 3
    with torch.no_grad():
        state = wrapper(x, torch.tensor([n]))
        # reference: run the same LSTM on the real frames only, unpacked
        _, (h, _) = wrapper.lstm(x[:, :n])
    assert torch.allclose(state, torch.cat([h[0], h[1]], dim=1), atol=1e-6)


def test_stream_lstm_averages_the_two_heads():
    torch.manual_seed(0)
    model = build_model("stream_lstm", CONFIG).eval()
    batch = frame_batch()
    with torch.no_grad():
        rgb = torch.sigmoid(model.rgb_head(model.rgb_lstm(batch["rgb"], batch["num_frames"])))
        audio = torch.sigmoid(
            model.audio_head(model.audio_lstm(batch["audio"], batch["num_frames"]))
        )
        assert torch.allclose(model(batch), (rgb + audio) / 2, atol=1e-7)
        heads = model(batch, heads=True)
    assert heads.shape == (2, B, CONFIG.num_classes)
    assert torch.allclose(heads[0], rgb) and torch.allclose(heads[1], audio)


def test_stream_lstm_trains_on_the_mean_of_its_heads_losses():
    """Late fusion (config spec): each head is trained as a classifier of its own stream;
    the loss of the averaged output would starve the slower head."""
    from yt8m_lib.config import HEAD_LOSS_MODELS
    from yt8m_lib.torch.models import MODEL_CLASSES, classifier_loss, clipped_bce

    assert (
        {n for n, c in MODEL_CLASSES.items() if getattr(c, "per_head_loss", False)}
        == set(HEAD_LOSS_MODELS)
        == {"stream_lstm"}
    )
    train = get_profile("smoke").train
    torch.manual_seed(0)
    batch = frame_batch()
    batch["labels"] = (torch.rand(B, CONFIG.num_classes) < 0.3).float()
    for name in ("stream_lstm", "bilstm"):
        model = build_model(name, CONFIG).eval()  # eval: no dropout, the same numbers twice
        with torch.no_grad():
            loss = classifier_loss(model, batch, batch["labels"], train.bce_epsilon)
            of_output = clipped_bce(model(batch), batch["labels"], train.bce_epsilon)
            if name == "stream_lstm":
                rgb, audio = model(batch, heads=True)
                per_head = (
                    clipped_bce(rgb, batch["labels"], train.bce_epsilon)
                    + clipped_bce(audio, batch["labels"], train.bce_epsilon)
                ) / 2
                assert loss == pytest.approx(per_head.item(), rel=1e-6)
                assert loss.item() != pytest.approx(of_output.item(), rel=1e-3)
            else:
                assert loss == pytest.approx(of_output.item(), rel=1e-6)


def test_moe_matches_the_starter_code_formula():
    torch.manual_seed(0)
    model = build_model("moe", CONFIG).eval()
    batch = video_batch()
    x = torch.cat([batch["rgb"], batch["audio"]], 1).numpy().astype(np.float64)
    m, k = CONFIG.moe_mixtures, CONFIG.num_classes
    g = x @ model.gates.weight.detach().numpy().T.astype(np.float64)
    e = x @ model.experts.weight.detach().numpy().T.astype(np.float64)
    g = g.reshape(-1, m + 1)  # the starter code's reshape to (B*C, M+1)
    g = np.exp(g - g.max(1, keepdims=True))
    g /= g.sum(1, keepdims=True)
    e = 1 / (1 + np.exp(-e.reshape(-1, m)))
    expected = (g[:, :m] * e).sum(1).reshape(-1, k)
    with torch.no_grad():
        np.testing.assert_allclose(model(batch).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_gated_moe_is_the_moe_head_then_context_gating():
    """output = p * sigmoid(BatchNorm(p W + b)) with p the moe head's probabilities; with the
    gate forced open it is the moe model itself."""
    torch.manual_seed(0)
    moe = build_model("moe", CONFIG).eval()
    gated = build_model("gated_moe", CONFIG).eval()
    missing, unexpected = gated.load_state_dict(moe.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("context_") for k in missing)
    gate, norm = gated.context_gate, gated.context_norm
    assert isinstance(norm, torch.nn.BatchNorm1d) and norm.eps == CONFIG.batchnorm_epsilon
    assert norm.momentum == pytest.approx(1 - CONFIG.batchnorm_momentum)
    assert gate.weight.shape == (CONFIG.num_classes, CONFIG.num_classes)
    assert torch.all(gate.bias == 0)
    batch = video_batch()
    with torch.no_grad():
        for tensor in (gate.weight, gate.bias, norm.weight, norm.bias, norm.running_mean):
            tensor.normal_()
        norm.running_var.uniform_(0.5, 1.5)
        p = moe(batch)
        z = (p @ gate.weight.T + gate.bias - norm.running_mean) / torch.sqrt(
            norm.running_var + norm.eps
        ) * norm.weight + norm.bias
        torch.testing.assert_close(gated(batch), p * torch.sigmoid(z), rtol=1e-6, atol=1e-7)
        norm.bias.fill_(100.0)  # sigmoid(...) == 1: the gate is open
        torch.testing.assert_close(gated(batch), p, rtol=0, atol=1e-7)


def test_hybrid_reads_the_video_means_and_the_frames():
    torch.manual_seed(0)
    model = build_model("hybrid", CONFIG).eval()
    batch = frame_batch()
    other = dict(batch, mean_rgb=batch["mean_rgb"] + 1)
    with torch.no_grad():
        assert not torch.allclose(model(batch), model(other))


def test_autoencoder_codes_and_noise_only_in_training():
    torch.manual_seed(0)
    ae = Autoencoder(CONFIG)
    rgb, audio = torch.randn(4, T, CONFIG.rgb_dim), torch.randn(4, T, CONFIG.audio_dim)
    rgb_code, audio_code = ae.encode(rgb, audio)
    assert rgb_code.shape == (4, T, CONFIG.ae_rgb_code)
    assert audio_code.shape == (4, T, CONFIG.ae_audio_code)
    assert torch.all(rgb_code >= 0) and torch.all(audio_code >= 0)
    ae.eval()
    assert torch.equal(ae(rgb, audio)[0], ae(rgb, audio)[0])
    ae.train()
    rec_rgb, rec_audio = ae(rgb, audio)
    assert rec_rgb.shape == rgb.shape and rec_audio.shape == audio.shape
    assert not torch.equal(ae(rgb, audio)[0], rec_rgb)  # fresh noise each call


def test_a_video_without_frames_reads_one_zero_frame():
    # the convention shared with the Keras models (their mask keeps one frame)
    torch.manual_seed(0)
    wrapper = PackedLSTM(3, 2, bidirectional=True).eval()
    x = torch.randn(2, 4, 3)
    x[0] = 0
    with torch.no_grad():
        state = wrapper(x, torch.tensor([0, 2]))
        one_zero_frame = wrapper(torch.zeros(1, 1, 3), torch.tensor([1]))
    assert torch.allclose(state[0], one_zero_frame[0])

"""The Keras and PyTorch models are the same architecture: equal trainable parameter counts,
equal outputs (float32 round-off) from copied weights on variable-length batches, and close
loss curves when both train from the same weights on the same batches."""

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from yt8m_lib import parity  # noqa: E402
from yt8m_lib.config import MODEL_NAMES, get_profile, with_overrides  # noqa: E402
from yt8m_lib.errors import ConfigError  # noqa: E402

NUM_CLASSES = 30


@pytest.mark.parametrize("name", parity.PARITY_NAMES)
def test_copied_weights_give_the_same_outputs_and_counts(name):
    result = parity.check_parity(name, "smoke", num_classes=NUM_CLASSES)
    assert result["keras_parameters"] == result["torch_parameters"] > 0
    assert result["max_abs_diff"] <= parity.TOLERANCE * result["output_scale"]
    assert result["ok"]
    if result["sequence_lengths"] is not None:  # really variable lengths, padding included
        lengths = result["sequence_lengths"]
        assert 0 in lengths and 1 in lengths and max(lengths) == 8


def test_a_misplaced_lstm_gate_is_caught():
    """The check can fail: swapping the input and forget gates of the copy is detected."""
    config = with_overrides(get_profile("smoke").model, num_classes=NUM_CLASSES)
    keras_model, torch_model = parity._build_pair("stream_lstm", config, 0)
    parity.randomize_weights(keras_model)
    parity.copy_keras_to_torch(keras_model, torch_model, "stream_lstm", config)
    u = config.lstm_units
    with torch.no_grad():
        w = torch_model.rgb_lstm.lstm.weight_ih_l0
        w[: 2 * u] = torch.cat([w[u : 2 * u], w[:u]]).clone()
    batch = parity.random_batch("stream_lstm", config)
    k_out, t_out = parity._outputs("stream_lstm", keras_model, torch_model, batch)
    assert np.abs(k_out - t_out).max() > 100 * parity.TOLERANCE


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_both_frameworks_train_alike_from_the_same_weights(name):
    config = with_overrides(get_profile("smoke").model, num_classes=NUM_CLASSES)
    batches = [parity.random_batch(name, config, batch_size=16, seed=step) for step in range(5)]
    losses = parity.train_both(name, batches, num_classes=NUM_CLASSES)
    keras_losses, torch_losses = np.array(losses["keras"]), np.array(losses["torch"])
    assert len(keras_losses) == 5
    np.testing.assert_allclose(keras_losses, torch_losses, rtol=1e-3)
    # and they really trained: the weights moved the loss
    assert len(set(np.round(keras_losses, 6))) > 1


def test_cli_reports_counts_and_differences(capsys):
    code = parity.cli_main(argparse.Namespace(model="fc", json=True, profile="smoke"))
    assert code == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["model"] == "fc" and result["ok"]
    assert result["keras_parameters"] == result["torch_parameters"]


def test_cli_refuses_an_unknown_model():
    with pytest.raises(ConfigError, match="unknown model"):
        parity.cli_main(argparse.Namespace(model="transformer", json=False, profile="smoke"))


def test_cli_fails_when_a_model_differs(monkeypatch, capsys):
    def differing(name, profile):
        return {
            "model": name,
            "keras_parameters": 10,
            "torch_parameters": 11,
            "max_abs_diff": 0.0,
            "output_scale": 1.0,
            "ok": False,
        }

    monkeypatch.setattr(parity, "check_parity", differing)
    assert parity.cli_main(argparse.Namespace(model="fc", json=False, profile="smoke")) == 1
    assert "FAILED" in capsys.readouterr().err

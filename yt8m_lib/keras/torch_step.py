"""One training step of a Keras model on the PyTorch backend (``KERAS_BACKEND=torch``).

The Keras model code is the same as on TensorFlow (``yt8m_lib.keras.models``); only the step
differs, because ``tf.GradientTape`` (``yt8m_lib.keras.train.make_train_step``) does not
exist here. On the torch backend Keras variables are ``torch.nn.Parameter`` s and Keras ops
are torch ops, so the step is the one the Keras guide for this backend ("Writing a training
loop from scratch in PyTorch") describes: the loss through torch autograd
(``loss.backward()``), the gradients read from each variable's ``.value.grad``, and a Keras
optimizer applying them under ``torch.no_grad()``. What the comparison depends on is the same
as on TensorFlow: the loss (``models.classifier_loss``), Adam with the config's epsilon and
global gradient-norm clipping (``models.make_optimizer``, the one Keras optimizer of both
backends).

This module imports no TensorFlow, so it also runs where only torch is installed (the lent
GPU machines). Used by ``yt8m parity --keras-backend torch``, the trainer
(``yt8m_lib.keras.torch_train``) and the benchmarks (``benchmarks/keras_torch.py``).
"""

from __future__ import annotations

import keras
import torch

from yt8m_lib.keras.models import classifier_loss, encode_inputs, reconstruction_errors
from yt8m_lib.keras.models import make_optimizer as make_optimizer  # the step's optimizer


def require_torch_backend() -> None:
    """Stop unless Keras runs on torch (the backend is fixed when ``keras`` is imported)."""
    backend = keras.backend.backend()
    if backend != "torch":
        raise RuntimeError(
            f"Keras runs on the {backend!r} backend here; this step needs KERAS_BACKEND=torch "
            "set before keras is first imported"
        )


def to_model_batch(model, batch: dict) -> tuple[dict, torch.Tensor]:
    """(model inputs, labels) of a batch dict of numpy arrays or tensors, as torch tensors on
    Keras' device; ``num_frames`` as int32, labels as float32."""
    inputs = {key: keras.ops.convert_to_tensor(batch[key]) for key in model.input}
    if "num_frames" in inputs:
        inputs["num_frames"] = keras.ops.cast(inputs["num_frames"], "int32")
    return inputs, keras.ops.cast(keras.ops.convert_to_tensor(batch["labels"]), "float32")


def make_step(model, optimizer, loss_of_batch, reduce_gradients=None):
    """A function batch dict -> mean loss (a float) that takes one optimizer step of
    ``model``: ``loss_of_batch(batch)`` (a torch scalar, forward in training mode),
    ``loss.backward()``, ``optimizer.apply``. ``reduce_gradients`` (several processes):
    gradients -> the gradients to apply (their mean over the processes), called between the
    backward and the update."""
    require_torch_backend()
    variables = model.trainable_variables
    if not optimizer.built:
        optimizer.build(variables)

    def step(batch: dict) -> float:
        model.zero_grad(set_to_none=True)
        loss = loss_of_batch(batch)
        loss.backward()
        gradients = [variable.value.grad for variable in variables]
        if reduce_gradients is not None:
            gradients = reduce_gradients(gradients)
        with torch.no_grad():
            optimizer.apply(gradients, variables)
        return float(loss.detach())

    return step


def make_train_step(model, optimizer, train_config, reduce_gradients=None, encoder=None):
    """One optimizer step of a classifier (``make_step``): its ``classifier_loss``;
    ``encoder`` (``--features autoencoder``): a frozen autoencoder whose codes replace the
    raw features first."""
    epsilon = train_config.bce_epsilon

    def loss_of_batch(batch: dict):
        inputs, labels = to_model_batch(model, batch)
        if encoder is not None:
            with torch.no_grad():
                inputs = encode_inputs(encoder, inputs)
        return classifier_loss(model, inputs, labels, epsilon)

    return make_step(model, optimizer, loss_of_batch, reduce_gradients)


def make_autoencoder_step(autoencoder, optimizer, reduce_gradients=None):
    """One optimizer step of the denoising autoencoder (``make_step``): the sum of the two
    streams' reconstruction errors, over the real frames only at frame level."""

    def loss_of_batch(batch: dict):
        rgb_error, audio_error = reconstruction_errors(autoencoder, batch, training=True)
        return rgb_error + audio_error

    return make_step(autoencoder, optimizer, loss_of_batch, reduce_gradients)

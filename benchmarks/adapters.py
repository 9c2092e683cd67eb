"""The one place that knows the frameworks' pipeline and model APIs (yt8m_lib.torch.*,
yt8m_lib.keras.*), so a change there is fixed here and not in every benchmark section."""

from __future__ import annotations

from yt8m_lib.config import NUM_CLASSES_2018, get_profile


def input_spec(
    paths,
    level,
    *,
    batch_size,
    profile="default",
    num_classes=NUM_CLASSES_2018,
    shuffle_seed=None,
    frames_per_video=None,
    video_means=True,
):
    """The ``InputSpec`` of a benchmark stream: the profile's sampling and normalisation."""
    from yt8m_lib.data.batches import InputSpec

    train = get_profile(profile).train
    return InputSpec(
        tuple(str(p) for p in paths),
        level,
        num_classes,
        batch_size,
        frames_per_video or train.frames_per_video,
        train.frame_sampling,
        train.normalize,
        video_means,
        shuffle_seed,
        train.shuffle_buffer,
    )


def torch_batches(
    paths,
    level,
    *,
    batch_size,
    profile="default",
    num_classes=NUM_CLASSES_2018,
    num_workers=0,
    shuffle_seed=None,
    frames_per_video=None,
    video_means=True,
):
    """A function returning a fresh iterator of PyTorch batch dicts (on the CPU) over
    ``paths``; ``video_means``: frame-level batches with mean_rgb/mean_audio (what ``hybrid``
    reads)."""
    from yt8m_lib.torch.data import YT8MDataset, make_loader

    spec = input_spec(
        paths,
        level,
        batch_size=batch_size,
        profile=profile,
        num_classes=num_classes,
        shuffle_seed=shuffle_seed,
        frames_per_video=frames_per_video,
        video_means=video_means,
    )

    def make():
        return iter(make_loader(YT8MDataset(spec), batch_size, num_workers=num_workers))

    return make


def torch_endless_batches(
    paths,
    level,
    *,
    batch_size,
    num_workers=0,
    profile="default",
    num_classes=NUM_CLASSES_2018,
    device="cpu",
    video_means=True,
    chunk_videos=None,
    read_in_thread=False,
):
    """The trainer's PyTorch loader (``make_loader``: read ahead by one reader, a thread on
    the CPU and a process on CUDA, or by ``num_workers`` worker processes; pinned and in
    device chunks on CUDA) over the records read again and again: one endless iterator, the
    steady state of a long epoch (no start-up of a reader at each pass over the small
    benchmark data); ``chunk_videos`` (0: batch by batch, also on CUDA) and
    ``read_in_thread`` (True: a thread on CUDA too) are ``make_loader``'s."""
    from benchmarks.torch_endless import EndlessDataset
    from yt8m_lib.torch.data import make_loader

    dataset = EndlessDataset(
        input_spec(
            paths,
            level,
            batch_size=batch_size,
            profile=profile,
            num_classes=num_classes,
            video_means=video_means,
        )
    )
    return iter(
        make_loader(
            dataset,
            batch_size,
            num_workers=num_workers,
            device=device,
            chunk_videos=chunk_videos,
            read_in_thread=read_in_thread,
        )
    )


def keras_batches(
    paths,
    level,
    *,
    batch_size,
    profile="default",
    num_classes=NUM_CLASSES_2018,
    shuffle_seed=None,
    frames_per_video=None,
    video_means=True,
):
    """A function returning a fresh iterator over the Keras trainer's batches: the project's
    reader (``yt8m_lib.data.batches``) as TensorFlow tensors (``keras.data.to_tensors``).
    Unthreaded: ``benchmarks.train`` reads it ahead in a thread, as the trainer does."""
    from yt8m_lib.keras.data import to_tensors

    spec = input_spec(
        paths,
        level,
        batch_size=batch_size,
        profile=profile,
        num_classes=num_classes,
        shuffle_seed=shuffle_seed,
        frames_per_video=frames_per_video,
        video_means=video_means,
    )

    def make():
        return (to_tensors(batch) for batch in spec.batches())

    return make


def keras_tf_data_batches(
    paths,
    level,
    *,
    batch_size,
    profile="default",
    num_classes=NUM_CLASSES_2018,
    shuffle_seed=None,
    frames_per_video=None,
    video_means=True,
):
    """A function returning a fresh iterator over the tf.data baseline (``benchmarks.tf_data``)
    (the same batches as tensors, built with TensorFlow ops)."""
    from benchmarks.tf_data import make_dataset

    train = get_profile(profile).train
    dataset = make_dataset(
        [str(p) for p in paths],
        level,
        num_classes=num_classes,
        batch_size=batch_size,
        seed=shuffle_seed,
        shuffle_buffer=train.shuffle_buffer if shuffle_seed is not None else 0,
        frames_per_video=frames_per_video or train.frames_per_video,
        frame_sampling=train.frame_sampling,
        normalize=train.normalize,
        video_means=video_means,
    )

    def make():
        return iter(dataset)

    return make


def endless(make):
    """Batches of ``make()`` epoch after epoch (a new epoch starts when one runs out)."""
    while True:
        empty = True
        for batch in make():
            empty = False
            yield batch
        if empty:
            raise RuntimeError("the input pipeline produced no batch")


# ------------------------------------------------------------------ PyTorch models


def torch_device(device: str):
    import torch

    return torch.device("cuda" if device == "cuda" else "cpu")


def torch_sync(device: str):
    """The clock synchronisation for ``bm.compare``: None on CPU."""
    import torch

    return torch.cuda.synchronize if device == "cuda" else None


def torch_trainer(
    model_name,
    *,
    profile="default",
    num_classes=NUM_CLASSES_2018,
    device="cpu",
    compile=False,
    seed=0,
):
    """(step(batch) -> loss, model): one optimizer step of ``yt8m_lib.torch.train.fit``
    (its ``make_optimizer`` and ``train_step``: clipped BCE, Adam with the config's
    settings, global clipping, the loss read back). ``compile`` wraps the model in
    ``torch.compile``."""
    import torch

    from yt8m_lib.config import with_overrides
    from yt8m_lib.torch.data import to_device
    from yt8m_lib.torch.models import build_model
    from yt8m_lib.torch.train import make_optimizer, train_step

    prof = get_profile(profile)
    train = prof.train
    torch.manual_seed(seed)
    dev = torch_device(device)
    model = build_model(model_name, with_overrides(prof.model, num_classes=num_classes)).to(dev)
    optimizer = make_optimizer(model, train)
    forward = torch.compile(model) if compile else model
    model.train()

    def step(batch):
        return train_step(forward, optimizer, to_device(batch, dev), train)

    return step, model


def torch_predictor(model, *, device="cpu", compile=False):
    """predict(batch) -> numpy probabilities, in eval mode without gradients."""
    import torch

    from yt8m_lib.torch.data import to_device

    dev = torch_device(device)
    model.eval()
    forward = torch.compile(model) if compile else model

    def predict(batch):
        with torch.no_grad():
            return forward(to_device(batch, dev)).float().cpu().numpy()

    return predict


# ------------------------------------------------------------------ Keras models


def keras_setup(seed=0):
    """The trainer's TensorFlow set-up (float32 matmuls, op determinism, seeds)."""
    from yt8m_lib.keras.train import setup

    return setup(None, seed)


def keras_trainer(
    model_name, *, profile="default", num_classes=NUM_CLASSES_2018, jit_compile=False, seed=0
):
    """(step(batch) -> loss, model) with ``yt8m_lib.keras.train.make_train_step``.
    The trainer turns XLA off for LSTM models: asking for it there raises ValueError."""
    import keras

    from yt8m_lib.config import with_overrides
    from yt8m_lib.keras.models import build_model, uses_lstm
    from yt8m_lib.keras.train import make_optimizer, make_train_step

    if jit_compile and uses_lstm(model_name):
        raise ValueError("XLA is off for models with a cuDNN LSTM (yt8m_lib.keras.train)")
    prof = get_profile(profile)
    keras.utils.set_random_seed(seed)
    model = build_model(model_name, with_overrides(prof.model, num_classes=num_classes))
    step_fn = make_train_step(
        model, make_optimizer(prof.train), prof.train, jit_compile=jit_compile
    )

    def step(batch):
        return float(step_fn(batch))  # float(): waits for the step to finish

    return step, model


def keras_predictor(model, *, jit_compile=False):
    """predict(batch) -> numpy probabilities (a traced inference function, as the trainer's
    ``make_forward``; with ``jit_compile`` compiled by XLA)."""
    import tensorflow as tf

    from yt8m_lib.keras.train import to_model_batch

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def forward(inputs):
        return model(inputs, training=False)

    def predict(batch):
        inputs, _ = to_model_batch(model, batch)
        return forward(inputs).numpy()

    return predict


def keras_preload(batches):
    """Batches as tensors already in (device) memory: the "model alone" input."""
    import tensorflow as tf

    return [{k: tf.identity(v) for k, v in b.items()} for b in batches]


def torch_preload(batches, device="cpu"):
    from yt8m_lib.torch.data import to_device

    return [to_device(b, torch_device(device)) for b in batches]

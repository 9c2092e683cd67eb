"""The one place that knows the frameworks' pipeline and model APIs (yt8m_lib.torch.*,
yt8m_lib.keras.*), so a change there is fixed here and not in every benchmark section."""

from __future__ import annotations

from yt8m_lib.config import NUM_CLASSES_2018, get_profile


def torch_batches(paths, level, *, batch_size, profile="default", num_classes=NUM_CLASSES_2018,
                  num_workers=0, shuffle_seed=None, frames_per_video=None, as_numpy=False):
    """A function returning a fresh iterator of PyTorch batch dicts over ``paths``
    (``as_numpy`` is accepted for symmetry: collated tensors share numpy's memory)."""
    from yt8m_lib.config import with_overrides
    from yt8m_lib.torch.data import YT8MDataset, make_loader

    config = with_overrides(get_profile(profile).train, frames_per_video=frames_per_video)

    def make():
        dataset = YT8MDataset(paths, level, num_classes=num_classes, train_config=config,
                              shuffle_seed=shuffle_seed)
        return iter(make_loader(dataset, batch_size, num_workers=num_workers))
    return make


def keras_batches(paths, level, *, batch_size, profile="default", num_classes=NUM_CLASSES_2018,
                  shuffle_seed=None, frames_per_video=None, as_numpy=False):
    """A function returning a fresh iterator over the tf.data pipeline's batches (tensors,
    or numpy dicts with ``as_numpy``)."""
    from yt8m_lib.keras.data import iterate, make_dataset

    train = get_profile(profile).train
    dataset = make_dataset(
        [str(p) for p in paths], level, num_classes=num_classes, batch_size=batch_size,
        seed=shuffle_seed, shuffle_buffer=train.shuffle_buffer if shuffle_seed is not None else 0,
        frames_per_video=frames_per_video or train.frames_per_video,
        frame_sampling=train.frame_sampling, normalize=train.normalize)

    def make():
        return iterate(dataset) if as_numpy else iter(dataset)
    return make

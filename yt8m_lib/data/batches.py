"""Model-input batches from the record files, framework-neutral: the input pipeline both
trainers train with.

``iter_batches`` streams one reader's share of an epoch (``records.iter_examples``: file
order and shuffle buffer seeded by (seed, epoch), every record read by exactly one reader)
and turns each run of ``batch_size`` examples into numpy model inputs (``collate``:
``features.video_batch`` / ``frame_batch``, 'random' frames drawn with
``features.frame_rng(seed, epoch, video_id)``). ``BackgroundLoader`` reads an iterable a few
batches ahead in a thread, so reading overlaps the training step (both frameworks release the
GIL while they compute). PyTorch wraps the batches in tensors (``yt8m_lib.torch.data``), Keras
in TensorFlow tensors (``yt8m_lib.keras.train``): the same videos in the same order with the
same frames in both frameworks. No framework is imported here.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterable, Iterator

from yt8m_lib.data import features
from yt8m_lib.config import MAX_FRAMES
from yt8m_lib.data.records import iter_examples


def collate(examples: list, level: str, *, num_classes: int, frames_per_video: int,
            sampling: str, normalize: bool, video_means: bool = True, seed: int | None = None,
            epoch: int = 0) -> dict:
    """A numpy batch of model inputs from parsed examples (whole-batch numpy); ``id`` is a
    list of str. ``video_means`` False: frame-level inputs without mean_rgb / mean_audio."""
    if level == "video":
        return features.video_batch(examples, num_classes, normalize)
    rngs = None
    if sampling == "random":
        rngs = [features.frame_rng(seed or 0, epoch, ex.id) for ex in examples]
    return features.frame_batch(examples, num_classes, frames_per_video, sampling, rngs,
                                normalize, video_means)


def epoch_examples(paths, level: str, *, num_classes: int, seed: int | None, epoch: int,
                   shuffle_buffer: int, reader_index: int = 0, num_readers: int = 1):
    """One reader's parsed examples of one epoch, in training order: ``seed`` None keeps
    the file order (no shuffle buffer); at most ``MAX_FRAMES`` frames per video."""
    return iter_examples(
        [str(p) for p in paths], level, num_classes=num_classes, reader_index=reader_index,
        num_readers=num_readers, seed=seed, epoch=epoch,
        shuffle_buffer=shuffle_buffer if seed is not None else 0, max_frames=MAX_FRAMES)


def iter_batches(paths, level: str, *, num_classes: int, batch_size: int,
                 frames_per_video: int, sampling: str, normalize: bool,
                 video_means: bool = True, seed: int | None = None, epoch: int = 0,
                 shuffle_buffer: int = 0, reader_index: int = 0,
                 num_readers: int = 1) -> Iterator[dict]:
    """One epoch of numpy batches for one reader (``epoch_examples``); the last batch may be
    smaller. ``seed`` None: file order, no shuffling (evaluation)."""
    examples = epoch_examples(paths, level, num_classes=num_classes, seed=seed, epoch=epoch,
                              shuffle_buffer=shuffle_buffer, reader_index=reader_index,
                              num_readers=num_readers)
    while chunk := list(itertools.islice(examples, batch_size)):
        yield collate(chunk, level, num_classes=num_classes, frames_per_video=frames_per_video,
                      sampling=sampling, normalize=normalize, video_means=video_means,
                      seed=seed, epoch=epoch)


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


class BackgroundLoader:
    """An iterable of batches (a DataLoader, a generator function's result, ...) read
    ``depth`` batches ahead in a background thread, so reading and collating the next
    batches overlap the training step. Batches come in the same order; errors are raised
    in the consuming thread. Attributes (``batch_size``, ``dataset``, ...) are the
    wrapped iterable's."""

    def __init__(self, loader: Iterable, depth: int = 2):
        self.loader = loader
        self.depth = depth

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def __iter__(self):
        batches: queue.Queue = queue.Queue(self.depth)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    batches.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            try:
                for batch in self.loader:
                    if not put(batch):
                        return
                put(_END)
            except BaseException as error:  # noqa: BLE001 - handed to the consumer
                put(_Failure(error))

        thread = threading.Thread(target=produce, name="yt8m-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = batches.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:  # also when the consumer stops early: let the producer finish
            stop.set()
            thread.join()

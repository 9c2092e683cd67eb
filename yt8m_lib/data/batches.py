"""Model-input batches from the record files, framework-neutral: the input pipeline both
trainers train with.

``InputSpec.batches`` streams one reader's share of an epoch (``records.iter_examples``: file
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

import dataclasses
import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from yt8m_lib.data import features
from yt8m_lib.config import MAX_FRAMES
from yt8m_lib.data.records import iter_examples, reader_count


def collate(examples: list, level: str, *, num_classes: int, frames_per_video: int,
            sampling: str, normalize: bool, video_means: bool = True, seed: int | None = None,
            epoch: int = 0, label_genres=None) -> dict:
    """A numpy batch of model inputs from parsed examples (whole-batch numpy); ``id`` is a
    list of str. ``video_means`` False: frame-level inputs without mean_rgb / mean_audio.
    ``label_genres`` (each class's genre index): the labels become genre targets."""
    if level == "video":
        batch = features.video_batch(examples, num_classes, normalize)
    else:
        rngs = None
        if sampling == "random":
            rngs = [features.frame_rng(seed or 0, epoch, ex.id) for ex in examples]
        batch = features.frame_batch(examples, num_classes, frames_per_video, sampling, rngs,
                                     normalize, video_means)
    if label_genres is not None:
        batch["labels"] = features.genre_labels(batch["labels"], label_genres)
    return batch


def evaluation_sampling(mode: str) -> str:
    """Frame sampling at evaluation: 'random' becomes 'uniform' (deterministic, seed-free)."""
    return "uniform" if mode == "random" else mode


def _genres(label_genres) -> tuple[int, ...] | None:
    return None if label_genres is None else tuple(int(g) for g in label_genres)


@dataclass(frozen=True)
class InputSpec:
    """What one stream of batches is: the files, how their videos become model inputs, and
    the order. Both trainers, the benchmarks and the run records take this one value.

    ``seed`` None keeps the file order and uses no shuffle buffer (validation, evaluation);
    ``video_means`` False: frame-level inputs without mean_rgb / mean_audio;
    ``label_genres`` (each class's genre index, a genre head's run): the labels of every
    batch are the video's genres (``num_classes`` is still the data's, for reading).
    """

    paths: tuple[str, ...]
    level: str
    num_classes: int
    batch_size: int
    frames_per_video: int
    sampling: str
    normalize: bool
    video_means: bool = True
    seed: int | None = None
    shuffle_buffer: int = 0
    label_genres: tuple[int, ...] | None = None

    @classmethod
    def for_training(cls, paths, level: str, train_config, *, num_classes: int, seed: int,
                     normalize: bool | None = None, video_means: bool = True,
                     batch_size: int | None = None, label_genres=None) -> InputSpec:
        """The training stream of a run: shuffled by (seed, epoch), the profile's sampling."""
        return cls(tuple(str(p) for p in paths), level, num_classes,
                   batch_size or train_config.batch_size, train_config.frames_per_video,
                   train_config.frame_sampling,
                   train_config.normalize if normalize is None else bool(normalize),
                   video_means, seed, train_config.shuffle_buffer, _genres(label_genres))

    @classmethod
    def for_evaluation(cls, paths, level: str, train_config, *, num_classes: int,
                       normalize: bool | None = None, video_means: bool = True,
                       label_genres=None) -> InputSpec:
        """Validation and evaluation: file order, evaluation batch size and sampling."""
        return cls(tuple(str(p) for p in paths), level, num_classes,
                   train_config.eval_batch_size, train_config.frames_per_video,
                   evaluation_sampling(train_config.frame_sampling),
                   train_config.normalize if normalize is None else bool(normalize),
                   video_means, None, 0, _genres(label_genres))

    def examples(self, epoch: int = 0, reader_index: int = 0, num_readers: int = 1):
        """One reader's parsed examples of one epoch, in training order (at most
        ``MAX_FRAMES`` frames per video)."""
        return iter_examples(
            list(self.paths), self.level, num_classes=self.num_classes,
            reader_index=reader_index, num_readers=num_readers, seed=self.seed, epoch=epoch,
            shuffle_buffer=self.shuffle_buffer if self.seed is not None else 0,
            max_frames=MAX_FRAMES)

    def collate(self, examples: list, epoch: int = 0) -> dict:
        """A numpy batch of model inputs from parsed examples."""
        return collate(examples, self.level, num_classes=self.num_classes,
                       frames_per_video=self.frames_per_video, sampling=self.sampling,
                       normalize=self.normalize, video_means=self.video_means,
                       seed=self.seed, epoch=epoch, label_genres=self.label_genres)

    def batches(self, epoch: int = 0, reader_index: int = 0,
                num_readers: int = 1) -> Iterator[dict]:
        """One epoch of numpy batches for one reader; the last batch may be smaller."""
        examples = self.examples(epoch, reader_index, num_readers)
        while chunk := list(itertools.islice(examples, self.batch_size)):
            yield self.collate(chunk, epoch)

    def steps(self, epoch: int = 0, reader_index: int = 0, num_readers: int = 1) -> int:
        """Batches reader ``reader_index`` gets in ``epoch`` (record headers only)."""
        count = reader_count(list(self.paths), seed=self.seed, epoch=epoch,
                             reader_index=reader_index, num_readers=num_readers)
        return -(-count // self.batch_size)

    def replace(self, **changes) -> InputSpec:
        return dataclasses.replace(self, **changes)


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

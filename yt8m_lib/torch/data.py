"""PyTorch input pipeline: the project's batches (``yt8m_lib.data.batches.InputSpec``) as
tensors, through a DataLoader (same names as ``yt8m_lib.keras.data``).

Every reader (one per DataLoader worker of every rank: ``reader_index = rank * num_workers +
worker``) reads its own share of the records (``yt8m_lib.data.records.reader_share``), so each
record is read exactly once per epoch across all processes. Shuffling (file order and a
shuffle buffer) is seeded by (seed, epoch); 'random' frame sampling by
``features.frame_rng(seed, epoch, video_id)``, so the same video gets the same frames in any
process layout and in the Keras trainer. No TensorFlow is imported here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from yt8m_lib.data import records
from yt8m_lib.data.batches import BackgroundLoader, InputSpec


class YT8MDataset(IterableDataset):
    """One rank's share of an ``InputSpec``: iterating yields the parsed records,
    ``collate`` turns a list of them into a batch of model inputs (``make_loader`` uses it)."""

    def __init__(self, spec: InputSpec, *, rank: int = 0, world_size: int = 1):
        super().__init__()
        self.spec = spec
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    @property
    def level(self) -> str:
        return self.spec.level

    @property
    def paths(self) -> list[str]:
        return list(self.spec.paths)

    def set_epoch(self, epoch: int) -> None:
        """Call before iterating: the shuffle and the random frame draw depend on the epoch."""
        self.epoch = epoch

    def collate(self, examples: list) -> dict:
        """A batch of model inputs (tensors; ids a list of str): ``InputSpec.collate``, as
        the Keras trainer's batches."""
        return to_tensors(self.spec.collate(examples, self.epoch))

    def __iter__(self):
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return iter(
            self.spec.examples(
                self.epoch,
                reader_index=self.rank * workers + worker,
                num_readers=self.world_size * workers,
            )
        )


def to_tensors(batch: dict) -> dict:
    """A numpy batch dict as tensors sharing its memory (ids stay a list of str)."""
    return {
        key: value if key == "id" else torch.from_numpy(np.ascontiguousarray(value))
        for key, value in batch.items()
    }


# On CUDA the loader collates chunks of about this many videos (whole batches) and moves each
# chunk to the GPU in one copy: a GPU step of a few milliseconds leaves no room for the host
# work of one collation and one copy per batch (DeviceChunks).
CUDA_CHUNK_VIDEOS = 512


def make_loader(
    dataset: YT8MDataset,
    batch_size: int,
    *,
    num_workers: int = 0,
    device: torch.device | str = "cpu",
    prefetch: int = 2,
    chunk_videos: int | None = None,
    read_in_thread: bool = False,
):
    """A DataLoader of batch dicts; pinned memory when the model runs on CUDA.

    ``num_workers`` 0 (the default profile's) reads beside the training step in one reader,
    ``prefetch`` batches (or chunks) ahead: a background thread (``BackgroundLoader``;
    ``prefetch=0``: in series with the consumer) on the CPU, one worker process on CUDA
    (``reading_workers``; ``read_in_thread=True`` keeps the thread there too). Worker
    processes prefetch by themselves (started again at every pass: a worker holds a copy of
    the dataset, so a persistent one would miss ``set_epoch`` and repeat the first epoch's
    order).

    ``chunk_videos`` (default: ``CUDA_CHUNK_VIDEOS`` on CUDA, 0 elsewhere): collate runs of
    whole batches of about this many videos at once and hand them out batch by batch,
    already on ``device`` (``DeviceChunks``): the same batches in the same order."""
    device = torch.device(device)
    pin = device.type == "cuda"
    per_chunk = batches_per_chunk(batch_size, device, chunk_videos)
    workers = reading_workers(num_workers, device, read_in_thread)
    if workers and dataset.level == "frame":
        records.prepare_frame_reader()  # each pass's fresh readers inherit the compiled walk
    loader = DataLoader(
        dataset,
        batch_size=batch_size * per_chunk,
        collate_fn=dataset.collate,
        num_workers=workers,
        pin_memory=pin,
        # readers start from a fresh single-threaded server, not a fork of this process: a
        # fork of a process with running threads (readers, monitors, torch's pools) hung
        multiprocessing_context="forkserver" if workers else None,
    )
    if workers == 0 and prefetch > 0:
        # read ahead whole chunks: the next chunk is read while this one is trained on
        loader = BackgroundLoader(loader, prefetch)
    if per_chunk > 1:
        loader = DeviceChunks(loader, batch_size, device)
    return loader


def reading_workers(
    num_workers: int, device: torch.device | str, read_in_thread: bool = False
) -> int:
    """DataLoader worker processes of ``make_loader``: ``num_workers``, except that 0 on CUDA
    is one worker process unless ``read_in_thread``. One worker is the same single reader
    (index 0 of 1) as a thread, so it gives the very same batches in the same order, but
    with a GIL of its own: a GPU step of a few milliseconds is mostly Python launching
    kernels, and a thread parsing records beside it made the step up to 34 % longer
    (``benchmarks/records/nvidia-h100/train.json``)."""
    if num_workers == 0 and torch.device(device).type == "cuda" and not read_in_thread:
        return 1
    return num_workers


def batches_per_chunk(
    batch_size: int, device: torch.device | str, chunk_videos: int | None = None
) -> int:
    """Batches per chunk of ``make_loader``: ``chunk_videos`` (default ``CUDA_CHUNK_VIDEOS``
    on CUDA, 0 elsewhere) in whole batches, at least one (1: batch by batch)."""
    if chunk_videos is None:
        chunk_videos = CUDA_CHUNK_VIDEOS if torch.device(device).type == "cuda" else 0
    return max(1, chunk_videos // batch_size)


class DeviceChunks:
    """Batches of ``batch_size`` videos cut from the chunks of ``chunk_loader`` (each a whole
    number of batches), every chunk moved to ``device`` in one copy; the batches are views
    into it. Collation works video by video (``features.video_batch`` / ``frame_batch``), so
    these are the very batches a loader of ``batch_size`` gives, in the same order.
    Attributes other than ``batch_size`` are the chunk loader's."""

    def __init__(self, chunk_loader, batch_size: int, device: torch.device | str):
        self.chunk_loader = chunk_loader
        self.batch_size = batch_size
        self.device = torch.device(device)

    def __getattr__(self, name):
        return getattr(self.chunk_loader, name)

    def __iter__(self):
        for chunk in self.chunk_loader:
            chunk = to_device(chunk, self.device)
            for start in range(0, len(chunk["id"]), self.batch_size):
                yield {key: value[start : start + self.batch_size] for key, value in chunk.items()}


def to_device(batch: dict, device: torch.device) -> dict:
    non_blocking = device.type == "cuda"
    return {
        key: value.to(device, non_blocking=non_blocking) if torch.is_tensor(value) else value
        for key, value in batch.items()
    }

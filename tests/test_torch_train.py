"""The PyTorch side of the trainer contract that is PyTorch's own: the DataLoader over the
project's batches (readers, workers, chunks, devices), the optimizer step, and no
TensorFlow anywhere on the way. Records, checkpoints and resuming: test_trainer_contract."""

import itertools
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import files  # noqa: E402

from yt8m_lib.config import get_profile, with_overrides  # noqa: E402
from yt8m_lib.data.batches import InputSpec  # noqa: E402
from yt8m_lib.data.records import iter_examples  # noqa: E402
from yt8m_lib.torch import train as trainer  # noqa: E402
from yt8m_lib.torch.data import YT8MDataset, make_loader  # noqa: E402

pytestmark = pytest.mark.xdist_group("torch_train")
SMOKE = get_profile("smoke")


def make_dataset(
    paths,
    level,
    *,
    config=SMOKE.train,
    shuffle_seed=None,
    sampling=None,
    batch_size=8,
    rank=0,
    world_size=1,
):
    """A YT8MDataset of the smoke profile's training stream (``shuffle_seed`` None: file
    order, as evaluation reads)."""
    spec = InputSpec(
        tuple(str(p) for p in paths),
        level,
        30,
        batch_size,
        config.frames_per_video,
        sampling or config.frame_sampling,
        config.normalize,
        True,
        shuffle_seed,
        config.shuffle_buffer,
    )
    return YT8MDataset(spec, rank=rank, world_size=world_size)


# ------------------------------------------------------------------ input pipeline


def ids_of(dataset):
    return [example.id for example in dataset]


def test_ranks_together_read_every_record_once(data):
    paths = files(data, "video", "train")
    everything = sorted(ex.id for ex in iter_examples(paths, "video"))
    shares = [
        ids_of(make_dataset(paths, "video", shuffle_seed=3, rank=r, world_size=3)) for r in range(3)
    ]
    assert sorted(sum(shares, [])) == everything
    assert all(shares)


def test_dataloader_workers_of_all_ranks_read_every_record_once(data):
    # 2 ranks x 2 workers = 4 readers, each reader_index = rank * workers + worker
    paths = files(data, "video", "train")
    config = with_overrides(SMOKE.train, num_workers=2)
    per_rank = []
    for rank in (0, 1):
        dataset = make_dataset(
            paths, "video", config=config, shuffle_seed=0, rank=rank, world_size=2
        )
        per_rank.append(
            [i for batch in make_loader(dataset, 8, num_workers=2) for i in batch["id"]]
        )
    everything = sorted(ex.id for ex in iter_examples(paths, "video"))
    assert sorted(per_rank[0] + per_rank[1]) == everything
    assert per_rank[0] and per_rank[1]


def test_shuffle_depends_on_seed_and_epoch_only(data):
    paths = files(data, "video", "train")

    def order(seed, epoch):
        dataset = make_dataset(paths, "video", shuffle_seed=seed)
        dataset.set_epoch(epoch)
        return ids_of(dataset)

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    assert sorted(order(0, 0)) == sorted(order(1, 1))


def test_frame_batches_have_the_contract_keys_and_types(data):
    config = with_overrides(SMOKE.train, frame_sampling="random")
    dataset = make_dataset(files(data, "frame", "validate"), "frame", config=config, shuffle_seed=0)
    batch = next(iter(make_loader(dataset, 4)))
    k = config.frames_per_video
    assert set(batch) == {"id", "rgb", "audio", "num_frames", "mean_rgb", "mean_audio", "labels"}
    assert batch["rgb"].shape == (4, k, 1024) and batch["rgb"].dtype == torch.float32
    assert batch["audio"].shape == (4, k, 128)
    assert batch["num_frames"].dtype == torch.int64 and torch.all(batch["num_frames"] <= k)
    assert batch["labels"].shape == (4, 30) and set(batch["labels"].unique().tolist()) <= {0.0, 1.0}
    # random frame draws depend on (seed, epoch, video id) only: the same again
    again = next(iter(make_loader(dataset, 4)))
    assert torch.equal(batch["rgb"], again["rgb"])
    dataset.set_epoch(1)
    assert not torch.equal(batch["rgb"], next(iter(make_loader(dataset, 4)))["rgb"])


@pytest.mark.parametrize("level", ["video", "frame"])
def test_a_chunked_loader_gives_the_very_batches_of_a_plain_one(data, level):
    """Chunks (what the loader reads on CUDA: ``DeviceChunks``) are collated as one batch and
    cut into batches: the same videos, values and order, a short last batch included."""
    config = with_overrides(SMOKE.train, frame_sampling="random")
    dataset = make_dataset(files(data, level, "train"), level, config=config, shuffle_seed=4)
    dataset.set_epoch(1)
    plain = list(make_loader(dataset, 5, chunk_videos=0))
    chunked = list(make_loader(dataset, 5, chunk_videos=12))  # chunks of 2 batches
    assert len(plain) == len(chunked) and len(plain[-1]["id"]) < 5  # a short last batch
    for one, other in zip(plain, chunked):
        assert one.keys() == other.keys() and one["id"] == other["id"]
        for key in one.keys() - {"id"}:
            assert torch.equal(one[key], other[key]), key


@pytest.mark.parametrize("level", ["video", "frame"])
def test_one_reader_process_gives_the_very_batches_of_the_reading_thread(data, level):
    """On CUDA the default reader (0 workers) is one worker process: it is the same single
    reader as the thread, so shuffle, frame draw and order are the same, batch for batch."""
    config = with_overrides(SMOKE.train, frame_sampling="random")
    dataset = make_dataset(files(data, level, "train"), level, config=config, shuffle_seed=2)
    dataset.set_epoch(3)
    in_thread = list(make_loader(dataset, 5, chunk_videos=10))
    in_process = list(make_loader(dataset, 5, chunk_videos=10, num_workers=1))
    assert [b["id"] for b in in_thread] == [b["id"] for b in in_process]
    for one, other in zip(in_thread, in_process):
        for key in one.keys() - {"id"}:
            assert torch.equal(one[key], other[key]), key


def test_the_default_reader_is_a_process_on_cuda_and_a_thread_on_the_cpu():
    from yt8m_lib.torch.data import reading_workers

    assert reading_workers(0, "cuda") == 1
    assert reading_workers(0, "cuda:0") == 1
    assert reading_workers(0, "cuda", read_in_thread=True) == 0
    assert reading_workers(0, "cpu") == 0
    assert reading_workers(4, "cuda") == reading_workers(4, "cpu") == 4


def test_a_chunked_loader_with_workers_reads_every_video_once(data):
    paths = files(data, "video", "train")
    dataset = make_dataset(paths, "video", shuffle_seed=0)
    batches = list(make_loader(dataset, 4, num_workers=2, chunk_videos=8))
    assert all(len(batch["id"]) <= 4 for batch in batches)
    assert sorted(i for batch in batches for i in batch["id"]) == sorted(
        ex.id for ex in iter_examples(paths, "video")
    )


def test_collate_makes_tensors_and_keeps_ids_as_strings(data):
    dataset = make_dataset(files(data, "frame", "validate"), "frame")
    examples = list(itertools.islice(iter(dataset), 3))
    batch = dataset.collate(examples)
    assert batch["id"] == [ex.id for ex in examples]
    k = SMOKE.train.frames_per_video
    assert batch["num_frames"].tolist() == [min(ex.num_frames, k) for ex in examples]
    assert torch.is_tensor(batch["rgb"]) and batch["rgb"].shape == (3, k, 1024)
    assert batch["labels"].shape == (3, 30) and batch["labels"].dtype == torch.float32


def test_no_tensorflow_on_the_pytorch_path(data):
    code = f"""
import sys
import yt8m_lib.torch.models, yt8m_lib.torch.data, yt8m_lib.torch.train, yt8m_lib.training
from yt8m_lib.torch.data import YT8MDataset, make_loader
from yt8m_lib.data.batches import InputSpec
from yt8m_lib.config import get_profile
from pathlib import Path
spec = InputSpec.for_training(sorted(Path({str(data)!r}).glob('frame/train*')), 'frame',
                              get_profile('smoke').train, num_classes=30, seed=0)
ds = YT8MDataset(spec)
next(iter(make_loader(ds, 4)))
w = yt8m_lib.training.ScalarWriter(Path({str(data)!r}) / 'tb')
w.add_scalar('a', 1.0, 1)
w.close()
print('tensorflow' in sys.modules, 'keras' in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ loss


def test_clipped_bce_is_the_mean_binary_cross_entropy_of_clipped_probabilities():
    from yt8m_lib.torch.models import clipped_bce

    p = torch.tensor([[0.0, 0.5, 1.0], [0.9, 0.2, 1e-9]])
    y = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    eps = 1e-7
    q = np.clip(p.numpy().astype(np.float64), eps, 1 - eps)
    expected = -np.mean(y.numpy() * np.log(q) + (1 - y.numpy()) * np.log(1 - q))
    assert float(clipped_bce(p, y, eps)) == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------------------------ the step


def test_train_step_is_clipped_bce_adam_with_global_clipping(data):
    # the step fit, parity and the benchmarks share, against the same step written out
    import copy

    from yt8m_lib.torch.models import build_model, clipped_bce

    config = with_overrides(SMOKE.model, num_classes=30, dropout=0.0)
    train_config = with_overrides(SMOKE.train, global_clipnorm=0.01, learning_rate=0.01)
    torch.manual_seed(0)
    model = build_model("fc", config)
    reference = copy.deepcopy(model)
    dataset = make_dataset(files(data, "video", "train"), "video")
    batch = next(iter(make_loader(dataset, 16)))
    optimizer = trainer.make_optimizer(model, train_config)
    assert optimizer.defaults["eps"] == train_config.adam_epsilon
    ref_optimizer = torch.optim.Adam(
        reference.parameters(),
        lr=0.01,
        betas=(train_config.adam_beta_1, train_config.adam_beta_2),
        eps=train_config.adam_epsilon,
    )
    for _ in range(2):
        loss = trainer.train_step(model, optimizer, batch, train_config)
        ref_loss = clipped_bce(reference(batch), batch["labels"], train_config.bce_epsilon)
        ref_optimizer.zero_grad()
        ref_loss.backward()
        torch.nn.utils.clip_grad_norm_(list(reference.parameters()), 0.01)
        ref_optimizer.step()
        assert loss == pytest.approx(ref_loss.item(), rel=1e-6)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)

"""The PyTorch input pipeline and trainer: run records, checkpoints, resume, evaluation,
the autoencoder features, and no TensorFlow anywhere on the way."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from yt8m_lib.config import get_profile, with_overrides  # noqa: E402
from yt8m_lib.data.records import iter_examples  # noqa: E402
from yt8m_lib.torch import train as trainer  # noqa: E402
from yt8m_lib.torch.data import YT8MDataset, make_loader  # noqa: E402
from conftest import files, train_tiny  # noqa: E402

pytestmark = pytest.mark.xdist_group("torch_train")
SMOKE = get_profile("smoke")


def run_train(data, out, model="fc", level="video", **kwargs):
    return train_tiny(trainer, data, out, model, level, **kwargs)


# ------------------------------------------------------------------ input pipeline

def ids_of(dataset):
    return [example.id for example in dataset]


def test_ranks_together_read_every_record_once(data):
    paths = files(data, "video", "train")
    everything = sorted(ex.id for ex in iter_examples(paths, "video"))
    shares = [ids_of(YT8MDataset(paths, "video", num_classes=30, train_config=SMOKE.train,
                                 shuffle_seed=3, rank=r, world_size=3)) for r in range(3)]
    assert sorted(sum(shares, [])) == everything
    assert all(shares)


def test_dataloader_workers_of_all_ranks_read_every_record_once(data):
    # 2 ranks x 2 workers = 4 readers, each reader_index = rank * workers + worker
    paths = files(data, "video", "train")
    config = with_overrides(SMOKE.train, num_workers=2)
    per_rank = []
    for rank in (0, 1):
        dataset = YT8MDataset(paths, "video", num_classes=30, train_config=config,
                              shuffle_seed=0, rank=rank, world_size=2)
        per_rank.append([i for batch in make_loader(dataset, 8, num_workers=2)
                         for i in batch["id"]])
    everything = sorted(ex.id for ex in iter_examples(paths, "video"))
    assert sorted(per_rank[0] + per_rank[1]) == everything
    assert per_rank[0] and per_rank[1]


def test_shuffle_depends_on_seed_and_epoch_only(data):
    paths = files(data, "video", "train")

    def order(seed, epoch):
        dataset = YT8MDataset(paths, "video", num_classes=30, train_config=SMOKE.train,
                              shuffle_seed=seed)
        dataset.set_epoch(epoch)
        return ids_of(dataset)

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    assert sorted(order(0, 0)) == sorted(order(1, 1))


def test_frame_batches_have_the_contract_keys_and_types(data):
    config = with_overrides(SMOKE.train, frame_sampling="random")
    dataset = YT8MDataset(files(data, "frame", "validate"), "frame", num_classes=30,
                          train_config=config, shuffle_seed=0)
    batch = next(iter(make_loader(dataset, 4)))
    k = config.frames_per_video
    assert set(batch) == {"id", "rgb", "audio", "num_frames", "mean_rgb", "mean_audio", "labels"}
    assert batch["rgb"].shape == (4, k, 1024) and batch["rgb"].dtype == torch.float32
    assert batch["audio"].shape == (4, k, 128)
    assert batch["num_frames"].dtype == torch.int64 and torch.all(batch["num_frames"] <= k)
    assert batch["labels"].shape == (4, 30) and set(batch["labels"].unique().tolist()) <= {0., 1.}
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
    dataset = YT8MDataset(files(data, level, "train"), level, num_classes=30,
                          train_config=config, shuffle_seed=4)
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
    dataset = YT8MDataset(files(data, level, "train"), level, num_classes=30,
                          train_config=config, shuffle_seed=2)
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
    dataset = YT8MDataset(paths, "video", num_classes=30, train_config=SMOKE.train,
                          shuffle_seed=0)
    batches = list(make_loader(dataset, 4, num_workers=2, chunk_videos=8))
    assert all(len(batch["id"]) <= 4 for batch in batches)
    assert sorted(i for batch in batches for i in batch["id"]) == sorted(
        ex.id for ex in iter_examples(paths, "video"))


def test_collate_makes_tensors_and_keeps_ids_as_strings(data):
    dataset = YT8MDataset(files(data, "frame", "validate"), "frame", num_classes=30,
                          train_config=SMOKE.train)
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
from yt8m_lib.config import get_profile
from pathlib import Path
ds = YT8MDataset(sorted(Path({str(data)!r}).glob('frame/train*')), 'frame', num_classes=30,
                 train_config=get_profile('smoke').train, shuffle_seed=0)
next(iter(make_loader(ds, 4)))
yt8m_lib.torch.train.summary_writer(Path({str(data)!r}) / 'tb').close()
print('tensorflow' in sys.modules, 'keras' in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ loss

def test_clipped_bce_is_the_mean_binary_cross_entropy_of_clipped_probabilities():
    p = torch.tensor([[0.0, 0.5, 1.0], [0.9, 0.2, 1e-9]])
    y = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    eps = 1e-7
    q = np.clip(p.numpy().astype(np.float64), eps, 1 - eps)
    expected = -np.mean(y.numpy() * np.log(q) + (1 - y.numpy()) * np.log(1 - q))
    assert float(trainer.clipped_bce(p, y, eps)) == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------------------------ training

@pytest.fixture(scope="module")
def fc_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "fc"
    return out, run_train(data, out)


def test_training_writes_record_checkpoints_and_logs(fc_run):
    out, record = fc_run
    from yt8m_lib.runs.run_record import read_run_record

    assert read_run_record(out)["run_id"] == record["run_id"]
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    assert any((out / "tensorboard").glob("events.out.tfevents.*"))
    assert record["framework"] == "torch" and record["model"] == "fc"
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    for key in ("train_loss", "val_loss", "val_gap", "val_hit_at_1", "val_perr", "val_map",
                "epoch_seconds"):
        assert all(np.isfinite(h[key]) for h in record["history"]), key
    best = max(record["history"], key=lambda h: h["val_gap"])
    assert record["best_epoch"] == best["epoch"]
    assert record["evaluations"]["validate"]["gap"] == pytest.approx(best["val_gap"])
    assert "genre_accuracy" in record["evaluations"]["validate"]
    for key in ("train_examples_per_s", "median_step_s", "step_s_p10", "step_s_p90",
                "inference_videos_per_s", "inference_batch_latency_ms", "total_train_s"):
        assert record["timings"][key] > 0, key
    from yt8m_lib.torch.models import build_model, count_parameters
    config = with_overrides(SMOKE.model, num_classes=30)
    assert record["parameters"] == count_parameters(build_model("fc", config))
    assert record["data"]["num_train_videos"] == 64 and record["data"]["num_classes"] == 30
    assert record["distributed"]["world_size"] == 1
    assert "summary" in record["hardware"]


def test_best_checkpoint_holds_the_best_epoch(fc_run):
    out, record = fc_run
    assert torch.load(out / "best.pt")["epoch"] == record["best_epoch"]


def test_a_killed_run_resumed_ends_with_the_same_weights(data, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    run_train(data, straight, epochs=3)
    interrupted = tmp_path / "interrupted"
    monkeypatch.setenv(trainer.STOP_AFTER_ENV, "1")  # the process "dies" after epoch 1
    run_train(data, interrupted, epochs=3)
    assert len(json.loads((interrupted / "run.json").read_text())["history"]) == 1
    first_id = json.loads((interrupted / "run.json").read_text())["run_id"]
    monkeypatch.delenv(trainer.STOP_AFTER_ENV)
    resumed = run_train(data, interrupted, epochs=3)
    assert resumed["run_id"] == first_id
    a = torch.load(straight / "last.pt", weights_only=False)
    b = torch.load(interrupted / "last.pt", weights_only=False)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    # and a fresh start on request
    again = run_train(data, interrupted, epochs=1, resume=False)
    assert len(again["history"]) == 1


def test_evaluate_writes_predictions_and_the_record(fc_run, data, tmp_path):
    out, _ = fc_run
    from yt8m_lib.evaluation.predictions import read_predictions
    from yt8m_lib.runs.run_record import read_run_record

    predictions = tmp_path / "test.csv"
    metrics = trainer.evaluate(out, files(data, "video", "test"), predictions_path=predictions,
                               vocabulary=data / "vocabulary.csv", split_name="test")
    assert metrics["num_videos"] == 16
    assert 0 <= metrics["gap"] <= 1 and "genre_accuracy" in metrics
    rows = read_predictions(predictions)
    assert len(rows) == 16 and all(len(pairs) == 20 for pairs in rows.values())
    record = read_run_record(out)
    assert record["evaluations"]["test"]["gap"] == metrics["gap"]
    assert "validate" in record["evaluations"]


def test_frame_models_train_on_frames(data, tmp_path):
    record = run_train(data, tmp_path / "bilstm", model="bilstm", level="frame", epochs=1)
    assert record["data"]["level"] == "frame"
    assert np.isfinite(record["history"][0]["val_gap"])


def test_autoencoder_codes_feed_a_model(data, tmp_path):
    ae_dir = tmp_path / "ae"
    ae = trainer.train_autoencoder(level="frame", train_paths=files(data, "frame", "train"),
                                   val_paths=files(data, "frame", "validate"), out_dir=ae_dir,
                                   profile="smoke", seed=0, num_classes=30, device="cpu",
                                   progress=False, epochs=2)
    assert ae["model"] == "autoencoder" and len(ae["history"]) == 2
    for entry in ae["history"]:
        assert entry["val_loss"] == pytest.approx(entry["val_rgb_mse"] + entry["val_audio_mse"])
    assert ae["history"][1]["train_loss"] < ae["history"][0]["train_loss"]
    record = run_train(data, tmp_path / "hybrid", model="hybrid", level="frame", epochs=1,
                       features="autoencoder", autoencoder_dir=ae_dir)
    assert record["features"] == "autoencoder"
    assert record["config"]["model"]["rgb_dim"] == SMOKE.model.ae_rgb_code
    assert record["config"]["model"]["audio_dim"] == SMOKE.model.ae_audio_code
    metrics = trainer.evaluate(tmp_path / "hybrid", files(data, "frame", "test"))
    assert metrics["num_videos"] == 16


def test_train_step_is_clipped_bce_adam_with_global_clipping(data):
    # the step fit, parity and the benchmarks share, against the same step written out
    import copy

    from yt8m_lib.torch.models import build_model

    config = with_overrides(SMOKE.model, num_classes=30, dropout=0.0)
    train_config = with_overrides(SMOKE.train, global_clipnorm=0.01, learning_rate=0.01)
    torch.manual_seed(0)
    model = build_model("fc", config)
    reference = copy.deepcopy(model)
    dataset = YT8MDataset(files(data, "video", "train"), "video", num_classes=30,
                          train_config=SMOKE.train)
    batch = next(iter(make_loader(dataset, 16)))
    optimizer = trainer.make_optimizer(model, train_config)
    assert optimizer.defaults["eps"] == train_config.adam_epsilon
    ref_optimizer = torch.optim.Adam(reference.parameters(), lr=0.01,
                                     betas=(train_config.adam_beta_1, train_config.adam_beta_2),
                                     eps=train_config.adam_epsilon)
    for _ in range(2):
        loss = trainer.train_step(model, optimizer, batch, train_config)
        ref_loss = trainer.clipped_bce(reference(batch), batch["labels"],
                                       train_config.bce_epsilon)
        ref_optimizer.zero_grad()
        ref_loss.backward()
        torch.nn.utils.clip_grad_norm_(list(reference.parameters()), 0.01)
        ref_optimizer.step()
        assert loss == pytest.approx(ref_loss.item(), rel=1e-6)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)


def test_a_training_batch_of_one_video_is_skipped_and_counted_for_batchnorm(data, tmp_path):
    """64 training videos in batches of 63 end on a batch of one, which BatchNorm cannot
    normalise in training: fc (BatchNorm) skips it and says so in the record; logistic (no
    BatchNorm) trains on it."""
    record = run_train(data, tmp_path / "fc", "fc", batch_size=63, epochs=2)
    assert record["skipped_single_video_batches"] == 2  # one per epoch
    assert len(record["history"]) == 2
    record = run_train(data, tmp_path / "logistic", "logistic", batch_size=63, epochs=1)
    assert record["skipped_single_video_batches"] == 0

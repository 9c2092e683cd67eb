"""One rank of the DDP scaling benchmark (started by ``torchrun`` from ``scaling.py``).

Every rank trains the same model under DistributedDataParallel (gloo, CPU) on its own
preloaded batch of ``global_batch / world_size`` videos - the trainer's convention, where the
profile's batch size is the global batch - and rank 0 writes the per-step times (after
warm-up, each step ends with a barrier so it is the slowest rank's time) as JSON.
Threads: ``--threads`` per rank (the caller gives cores / world_size, so the total is equal).
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="fc")
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from yt8m_lib.config import (
        AUDIO_DIM,
        NUM_CLASSES_2018,
        RGB_DIM,
        get_profile,
        model_level,
        with_overrides,
    )
    from yt8m_lib.torch.models import build_model
    from yt8m_lib.torch.train import make_optimizer, train_step

    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    prof = get_profile("default")
    model = build_model(args.model, with_overrides(prof.model, num_classes=NUM_CLASSES_2018))
    ddp = DistributedDataParallel(model)
    opt = make_optimizer(model, prof.train)  # the trainer's optimizer and step
    b = args.global_batch // world
    g = torch.Generator().manual_seed(rank)
    if model_level(args.model) == "video":
        batch = {
            "rgb": torch.randn(b, RGB_DIM, generator=g),
            "audio": torch.randn(b, AUDIO_DIM, generator=g),
        }
    else:
        k = args.frames
        batch = {
            "rgb": torch.randn(b, k, RGB_DIM, generator=g),
            "audio": torch.randn(b, k, AUDIO_DIM, generator=g),
            "num_frames": torch.full((b,), k, dtype=torch.int64),
            "mean_rgb": torch.randn(b, RGB_DIM, generator=g),
            "mean_audio": torch.randn(b, AUDIO_DIM, generator=g),
        }
    batch["labels"] = (torch.rand(b, NUM_CLASSES_2018, generator=g) < 3 / NUM_CLASSES_2018).float()

    times = []
    for i in range(args.warmup + args.steps):
        dist.barrier()
        start = time.perf_counter()
        train_step(ddp, opt, batch, prof.train)  # DDP all-reduces the gradients in backward
        dist.barrier()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    if rank == 0:
        with open(args.out, "w") as f:
            json.dump(
                {
                    "world_size": world,
                    "threads_per_rank": args.threads,
                    "per_rank_batch": b,
                    "global_batch": b * world,
                    "step_s": times,
                    "model": args.model,
                    "torch_threads": torch.get_num_threads(),
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                },
                f,
            )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

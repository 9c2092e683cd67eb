"""One measurement of the memory-vs-data-size benchmark, in its own process (peak RSS is per
process): stream every batch of the given shards through one pipeline, print a JSON line
with the peak resident memory. ``--how``: ``torch`` (yt8m_lib.torch.data), ``keras`` (the
Keras trainer's batches: yt8m_lib.data.batches as TensorFlow tensors), or ``load_all`` (every
parsed record kept in a list: the contrast that grows with the data)."""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--how", choices=("torch", "keras", "load_all"), required=True)
    parser.add_argument("--level", default="frame")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()

    from benchmarks import adapters
    from yt8m_lib.runs import benchmarking as bm

    videos = 0
    if args.how == "load_all":
        from yt8m_lib.data.records import iter_examples

        kept = list(iter_examples(args.paths, args.level))
        videos = len(kept)
    else:
        # the baseline after imports: what the framework costs before any data
        make = getattr(adapters, f"{args.how}_batches")(
            args.paths, args.level, batch_size=args.batch_size
        )
        for batch in make():  # tensors, as the trainers consume them
            videos += int(batch["labels"].shape[0])
    print(json.dumps({"how": args.how, "videos": videos, "peak_rss_mb": bm.peak_rss_mb()}))


if __name__ == "__main__":
    main()

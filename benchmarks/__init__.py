"""`make bench`: speed of the input pipelines, training, inference and scaling, per framework.

Run ``python -m benchmarks.run --help``; one module per section (read, metrics, train,
infer, scaling); each writes ``results/bench/<section>.json`` through
``yt8m_lib.runs.benchmarking``, and ``run`` writes ``results/bench/summary.md``.
"""

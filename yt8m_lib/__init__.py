"""yt8m_lib: the thin package behind the yt8m-thesis notebooks.

Importing this package imports no deep-learning framework: the PyTorch code lives in
``yt8m_lib.torch`` and the Keras code in ``yt8m_lib.keras``, with the same names in both.
"""

import os as _os

# PyTorch's OpenMP threads spin while they wait for work. With any other busy thread in the
# process (the hardware monitor, a tf.data pipeline) or on the machine, a spinning thread
# holds a core the others need: measured on 2 cores, a smoke-size fc training step took
# 0.46 s with the hardware monitor running against 0.003 s with passive waiting. Passive
# waiting is what the benchmarks use too (benchmarks/run.py). It must be set before PyTorch
# loads its OpenMP runtime, so here, where every entry point starts; an explicit
# OMP_WAIT_POLICY in the environment wins. TensorFlow does not use OpenMP.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

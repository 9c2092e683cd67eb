"""The PyTorch half of the thesis: ``models`` (architectures), ``data`` (IterableDataset input
pipeline) and ``train`` (trainer with DistributedDataParallel), with the same names as
``yt8m_lib.keras``.

This subpackage is called ``torch``; inside it every ``import torch`` is absolute and means the
real PyTorch. Importing this package imports nothing heavy; import the submodules you need.
"""

"""yt8m_lib: the thin package behind the yt8m-thesis notebooks.

Importing this package imports no deep-learning framework: the PyTorch code lives in
``yt8m_lib.torch`` and the Keras code in ``yt8m_lib.keras``, with the same names in both.
"""

__version__ = "0.1.0"

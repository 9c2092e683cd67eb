"""The Keras half of the thesis (Keras 3 on the TensorFlow backend): ``models``
(architectures), ``data`` (tf.data input pipeline) and ``train`` (trainer with tf.distribute),
with the same names as ``yt8m_lib.torch``.

This subpackage is called ``keras``; inside it every ``import keras`` is absolute and means the
real Keras. Importing this package imports nothing heavy; import the submodules you need.
"""

"""TFX Trainer modules and the pieces they share (backbones, export signatures).

TensorFlow must load Keras 2 (tf_keras): tensorflow-transform and TFMA 1.16 require it, so
the variable is set before anything in this package can import TensorFlow.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

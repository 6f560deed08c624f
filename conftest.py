"""Makes every test process use Keras 2 (tf_keras) before TensorFlow can be imported."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

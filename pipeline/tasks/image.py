"""The image task: `<root>/<class>/<image>`, transfer learning from an ImageNet backbone."""

from pipeline.tasks import Demo, Task, register
from schemas import image_formats
from schemas.sections import image as sections


def summary_lines(summary: dict) -> list:
  metrics = summary.get("metrics", {})
  scratch = metrics.get("baselines", {}).get("from_scratch_accuracy")
  if scratch is None or "accuracy" not in metrics:
    return []
  return [f"Transfer learning: eval accuracy {metrics['accuracy']:.4f}; the same job from "
          f"scratch (small convnet, random weights, same splits) {scratch:.4f}"]


def model_card(config) -> dict:
  trainer, ingest = config.image_trainer, config.ingest
  return {
      "model": {"backbone": trainer.backbone, "weights": trainer.weights,
                "image_size": trainer.image_size, "head_epochs": trainer.head_epochs,
                "fine_tune_epochs": trainer.fine_tune_epochs},
      "limits": [
          image_formats.SERVING_NOTE,
          f"Files over {ingest.max_file_bytes} bytes, images over {ingest.max_pixels} "
          f"pixels (as their header declares) or with a side under {ingest.min_side} px are "
          "refused, as ingestion rejects them.",
          f"Every image is resized to {trainer.image_size} x {trainer.image_size} px "
          "(transparency flattened on the training background); the model knows only the "
          "classes above and gives one of them for any image, however unlike them."]}


TASK = register(Task(
    name="image",
    example_gen="components.image_example_gen.component.ImageExampleGen",
    schema_file="image_schema.pbtxt",
    run_fn="trainer.image.image_trainer.run_fn",
    tuner_fn="trainer.image.image_tuner.tuner_fn",
    tuning_section="image_tuning",
    augmentation="components.image_augmentation.component.ImageAugmentation",
    augmentation_section="image_augmentation",
    augmenter="trainer.image.augmentation",
    semantic_stats=True,
    trainer_sections=("image_trainer", "image_augmentation", "ingest", "image_tuning"),
    trainer_section="image_trainer",
    min_accuracy=0.6,
    warm_start=True,
    gates=("classes",),
    flags=sections.FLAGS,
    data_root="<root>/<class>/<image files> (or span-<N>/ or YYYY-MM-DD/ drops of them)",
    demos={
        "digits": Demo("demo_data/digits", "work/digits", "pipeline/demo_config.py",
                       "pipeline.demo_data.digits",
                       about="scikit-learn's digits, small convnet from scratch, offline"),
        "photos": Demo("demo_data/photos", "work/photos", "pipeline/photos_config.py",
                       "pipeline.demo_data.photos", weights=("mobilenet",),
                       about="123 real photos in 4 classes, MobileNet v1 with ImageNet "
                       "weights beside the same job from scratch"),
    },
    main_demo="photos",
    weights_installer="trainer.image.imagenet_weights",
    summary_lines=f"{__name__}.summary_lines",
    model_card=f"{__name__}.model_card"))

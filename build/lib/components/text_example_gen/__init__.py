"""TextExampleGen: folders of labelled documents -> tf.Examples {text, label, ...}."""

"""The text classifier's pieces (Chollet ch. 11), assembled by `trainer/text/text_trainer.py`.

documents.py      reading the text Examples: tf.data batches and whole splits in memory
vectorization.py  the TextVectorization adapted on the train split, and the raw-string model
models.py         bag of n-grams and the sequence models (conv1d, lstm, bilstm, gru)
embeddings.py     pretrained GloVe-format vectors for the adapted vocabulary, with coverage
baselines.py      majority class and TF-IDF + logistic regression on the same splits
wrong_examples.py the most confidently wrong eval documents, as Markdown
"""

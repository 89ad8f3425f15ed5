"""Neural next-symbol models (numpy inference; training in ``ngram.training.neural``)."""

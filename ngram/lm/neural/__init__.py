"""Neural next-symbol models (numpy inference; training in ``ngram.lm.neural.fit``)."""

"""How good is a model: metrics (NLL, cross-entropy), the classifier, the HTML report, plots."""

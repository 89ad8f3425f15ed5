"""The back-off model (ARPA's form) and its automaton view: scoring, pruning."""

"""The ground floor: errors, defaults, checks, the memory budget, file writing, vocabulary, corpus
reading and counting. Imports nothing above it."""

# The package's version, here so that the command line's --version does not import the whole
# library through ``ngram/__init__.py`` (pyproject.toml's version must match).
__version__ = "0.1.0"

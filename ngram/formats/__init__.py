"""Model files: the native archive, the compact memory-mapped form, ARPA, and validation on load."""

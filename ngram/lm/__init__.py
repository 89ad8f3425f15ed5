"""Language models: the protocol every model kind implements, the kinds themselves, and the record
of its training corpus every model carries (``provenance``)."""

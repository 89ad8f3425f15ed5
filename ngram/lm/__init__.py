"""Language models: the protocol every model kind implements, and the kinds themselves."""

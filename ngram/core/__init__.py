"""The ground floor: errors, vocabulary, corpus reading and counting. Imports nothing above it."""

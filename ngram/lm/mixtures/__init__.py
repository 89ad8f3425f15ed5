"""Mixtures of models: order mixtures, whole-name mixtures, and linear weights fitted by EM."""

"""Experiment configs: schema, interpolation, files, command."""

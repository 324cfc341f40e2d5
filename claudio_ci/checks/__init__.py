"""Checks: plain functions from data to findings. No printing, no git, no file I/O."""

"""Notebook pairing and sync (jupytext): rules, formats, cache, command."""

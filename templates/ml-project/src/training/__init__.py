"""Training entry point (``src/training/train.py``)."""

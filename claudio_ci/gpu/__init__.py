"""GPU cost per branch: sample NVML while a command runs, keep a ledger, price and report it.

NVML is read in `nvml.py` only; everything else works on `Snapshot`s, so a recorded
trace (`trace.py`) drives the same code as a live GPU.
"""

"""One module per command: each gathers data through the adapters, calls the pure checks
and returns an exit code. `cli.py` only maps arguments onto these functions."""

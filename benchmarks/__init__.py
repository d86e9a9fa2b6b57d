"""airgap-tui's benchmarks: one module per measure family and a runner (see run.py)."""

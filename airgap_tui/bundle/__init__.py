"""The on-media format: bundle.yaml, the tar layout, parts, read-back and verify.

Knows no network.
"""

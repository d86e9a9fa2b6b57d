"""The argparse front; no Textual import (the wizard is loaded lazily on a TTY).

The entry point is `airgap_tui.cli.launch:main` (it starts hashing a bundle, then runs
`airgap_tui.cli.commands:main`).
"""

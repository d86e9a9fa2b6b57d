"""The argparse front; no Textual import (the wizard is loaded lazily on a TTY)."""

from airgap_tui.cli.commands import main

__all__ = ["main"]

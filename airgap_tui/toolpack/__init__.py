"""airgap-tui.pyz: the tool that rides on the stick."""

"""airgap-tui: carry GitLab security-scanner images across an air gap."""

__version__ = "0.1.0"

"""Reusable pieces of the wizard's screens."""

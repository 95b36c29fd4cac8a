"""Tiny handlers for the probe stack; each exercises one path of the local cloud."""

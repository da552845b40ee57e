"""Adapters: one sub-package per technology, each implementing pulse_core ports.

Adapters import pulse_core and their own technology only; they never import each other
or pulse_http. Importing a sub-package does no I/O.
"""

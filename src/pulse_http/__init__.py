"""The Pulse service shell: settings, wiring, the Litestar REST API, the CLI.

Only this package knows every side of the hexagon; ``container.py`` chooses the adapters.
"""

"""The module ASGI servers load (``pulse_http.asgi:app``); nothing else imports it."""

from pulse_http.app import create_app

app = create_app()

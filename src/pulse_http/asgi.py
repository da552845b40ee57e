"""The module ASGI servers load (``pulse_http.asgi:app``); nothing else imports it."""

import gc

from pulse_http.app import create_app

app = create_app()
# Everything built so far (modules, the app, its routes and OpenAPI schema: ~140k objects)
# lives as long as the process. Moved out of the collector's reach, a full collection no
# longer walks them: it took ~40 ms, a pause every request in flight then waited for
# (the p99 of token minting under load was that pause).
gc.freeze()

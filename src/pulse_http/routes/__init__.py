"""Route handlers, one module per resource. Handlers translate HTTP to service calls and
back; they hold no business rules and no try/except (errors map in pulse_http.problems)."""

"""Request and response bodies of the REST API.

They are separate from the domain structs on purpose: a response can only show what its
type declares, so no secret hash can leak, and request types reject unknown fields.
"""

"""Request and response bodies of the REST API.

They are separate from the domain structs on purpose: a response can only show what its
type declares, so no secret hash can leak, and request types reject unknown fields.

Every field says what it is (:func:`doc`: a ``msgspec.Meta`` description, with examples),
and so does every struct (its docstring): both are the OpenAPI document's, and
``tests/http/test_openapi.py`` fails on a field without a description.
"""

from __future__ import annotations

from typing import Any

import msgspec


def doc(description: str, *examples: Any) -> msgspec.Meta:
    """A field's description (and examples) for the OpenAPI document; no constraint."""
    return msgspec.Meta(description=description, examples=list(examples) if examples else None)


#: Every list's ``next_cursor``.
NEXT_CURSOR = doc(
    "Pass it as `cursor` for the next page; null on the last page. Opaque.",
    "prj_01M8T76XBA01F2Z16J4GCEBSZ1",
)

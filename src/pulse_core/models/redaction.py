"""Reprs that keep secrets out of logs and tracebacks.

A model holding a secret, or a hash that an offline guess could be checked against,
defines ``__repr__`` with :func:`redacted_repr`: every field as msgspec would show it,
those named shown as ``'***'`` when set. New fields show up without anyone having to
remember this module; a new secret field must be named in its model's list.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import msgspec

#: What a set secret reads as.
HIDDEN: Final = "***"


def redacted_repr(struct: msgspec.Struct, secrets: Collection[str]) -> str:
    """``Name(field=value, …)`` with each field of ``secrets`` that is set as ``'***'``
    (unset or None stays as it is: whether there is one is not the secret)."""
    fields = []
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        hidden = name in secrets and value is not None and value is not msgspec.UNSET
        fields.append(f"{name}={HIDDEN if hidden else value!r}")
    return f"{type(struct).__name__}({', '.join(fields)})"

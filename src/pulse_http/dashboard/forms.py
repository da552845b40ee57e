"""Forms in, field errors out: a posted form becomes the REST API's own input struct
(the same fields, types and rules), and a refusal becomes a message next to its field.

Forms carry strings; they are converted to the struct in msgspec's lax mode (``"60"`` is
60), so a form and a JSON body meet the same validation. Empty fields are left out, so
an optional number left blank means "not set", as an absent JSON member does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import msgspec
from litestar import Request

from pulse_core.errors import InvalidInput, PulseError
from pulse_http.problems import pulse_problem
from pulse_http.strict_body import field_of

T = TypeVar("T")


class Form:
    """A posted form: single values, plus every value of repeated fields (checkboxes)."""

    def __init__(self, values: Mapping[str, str], lists: Mapping[str, list[str]]) -> None:
        self.values = dict(values)
        self.lists = {k: list(v) for k, v in lists.items()}

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def every(self, name: str) -> list[str]:
        return self.lists.get(name, [])

    def to(
        self,
        struct: type[T],
        *,
        lists: Iterable[str] = (),
        blank_is_null: bool = False,
        **extra: Any,
    ) -> T:
        """This form as ``struct``.

        Blank fields are left out (``blank_is_null``: sent as null, to clear a setting);
        dotted names nest (``rate_limit.requests``), as the API's error fields do;
        ``lists`` are taken whole, present or not (an unticked set of checkboxes is an
        empty list); ``extra`` goes on top; fields ``struct`` does not have are the
        page's own and left out. :class:`InvalidInput` names the wrong field."""
        data: dict[str, Any] = {}
        known = set(getattr(struct, "__struct_fields__", ()))
        for name, raw in self.values.items():
            value = raw  # as typed: a password's spaces are part of it
            if name.split(".", 1)[0] not in known or name in lists:
                continue  # the page's own fields (CSRF token, where to go next)
            if value == "" and not blank_is_null:
                continue
            _put(data, name, value if value != "" else None)
        for name in lists:
            _put(data, name, [v for v in self.every(name) if v])
        data.update(extra)
        try:
            return msgspec.convert(data, struct, strict=False)
        except msgspec.ValidationError as exc:
            field, reason = field_of(exc)
            raise InvalidInput(f"{field}: {reason}", field=field) from exc


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for parent in parents:
        child = data.setdefault(parent, {})
        if not isinstance(child, dict):
            raise InvalidInput(f"{dotted}: not an object", field=dotted)
        data = child
    data[last] = value


async def read_form(request: Request[Any, Any, Any]) -> Form:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    lists = {k: [v for v in form.getall(k) if isinstance(v, str)] for k in form}
    return Form(values, lists)


_LOCAL_MINUTES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
_ZONE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def utc_text(value: str) -> str:
    """A ``datetime-local`` field's value (minutes, no zone; the pages label such fields
    UTC) as RFC 3339 text in UTC, for the API's own parsing; a zone typed in is kept."""
    if _LOCAL_MINUTES.match(value):
        value += ":00"
    return value if _ZONE.search(value) else f"{value}Z"


class Refusal(msgspec.Struct, frozen=True):
    """A refused action, for a page to show: its status, its message and its field."""

    status: int
    detail: str
    field: str | None = None

    @classmethod
    def of(cls, exc: PulseError) -> Refusal:
        body, _ = pulse_problem(exc, None)
        return cls(status=body.status, detail=body.detail, field=body.field)

    def on(self, field: str) -> str | None:
        """The message to show next to ``field`` (None: not about it): about the field
        itself or a part of it (``output.urls[0]`` is shown at ``output.urls``)."""
        mine = self.field is not None and (
            self.field == field or self.field.startswith((f"{field}.", f"{field}["))
        )
        return self.detail if mine else None

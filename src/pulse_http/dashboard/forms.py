"""Forms in, field errors out: a posted form becomes the REST API's own input struct
(the same fields, types and rules), and a refusal becomes a message next to its field.

Forms carry strings; they are converted to the struct in msgspec's lax mode (``"60"`` is
60), so a form and a JSON body meet the same validation. Empty fields are left out, so
an optional number left blank means "not set", as an absent JSON member does, and a
required one left blank is refused as required (:func:`plain_message`: the parser's own
words are about JSON, not about the page).

An edit form is sent back whole, every field as the page showed it. So that saving one
field does not write back the others as they were when the page was opened (undoing
what someone changed meanwhile), an edit page also sends what it showed (its ``shown``
field, :func:`shown_field`) and the page writes only the fields that differ
(:func:`edits`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

import msgspec
from litestar import Request

from pulse_core.errors import InvalidInput, PulseError
from pulse_http.problems import pulse_problem
from pulse_http.strict_body import field_of

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)

#: The hidden field in which an edit page sends back what its form showed.
SHOWN: Final = "shown"


class Form:
    """A posted form: single values, plus every value of repeated fields (checkboxes)."""

    def __init__(self, values: Mapping[str, str], lists: Mapping[str, list[str]]) -> None:
        self.values = dict(values)
        self.lists = {k: list(v) for k, v in lists.items()}

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def every(self, name: str) -> list[str]:
        return self.lists.get(name, [])

    def shown(self) -> Form | None:
        """The form as its page showed it (its :data:`SHOWN` field); None when the form
        has none, or one no page makes (then the form is taken whole)."""
        try:
            shown = json.loads(self.values.get(SHOWN) or "null")
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return None
        if not isinstance(shown, dict):
            return None
        values: dict[str, str] = {}
        lists: dict[str, list[str]] = {}
        for name, value in shown.items():
            if isinstance(value, str):
                values[name] = value
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                lists[name] = value
            else:
                return None
        return Form(values, lists)

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
            raise InvalidInput(plain_message(field, reason), field=field) from exc


#: msgspec's words for a value of the wrong type, as a person would say them.
_KINDS: Final = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "datetime": "a date and time",
    "date": "a date",
    "time": "a time",
    "str": "text",
    "array": "a list",
    "object": "an object",
}
_EXPECTED = re.compile(r"^Expected `(\w+)(?: \| null)?`(?:, got `\w+`)?$")
_ZONED = re.compile(r"^Expected `(datetime|time)` with a timezone component$")
_BOUND = re.compile(r"^Expected `(?:int|float)` (>=|<=|>|<) (\S+)$")
_LENGTH = re.compile(r"^Expected `str` of length (>=|<=) (\d+)$")
_BOUNDS: Final = {
    ">=": "at least",
    "<=": "at most",
    ">": "greater than",
    "<": "less than",
}


def plain_message(field: str, reason: str) -> str:
    """A refusal of msgspec's parsing (``reason``) said plainly, naming ``field``.

    A form's fields are all text, and a blank one is left out: so a blank required field
    reaches msgspec as a missing member, and a mistyped one as text of the wrong form. The
    parser's words for those ("Object missing required field `name`", "Invalid RFC3339
    encoded datetime") describe JSON, not the page; any other reason (a rule of the
    struct itself) is kept as the API gives it."""
    # Missing: left blank; null: left blank where blank means null (``blank_is_null``).
    if reason.startswith("Object missing required field") or reason.endswith("got `null`"):
        return f"{field} is required"
    if reason.startswith("Invalid RFC3339 encoded "):
        kind = reason.removeprefix("Invalid RFC3339 encoded ")
        return f"{field} must be {_KINDS.get(kind, kind)}"
    if zoned := _ZONED.match(reason):
        return f"{field} must be {_KINDS[zoned.group(1)]} with a time zone"
    if (expected := _EXPECTED.match(reason)) and expected.group(1) in _KINDS:
        return f"{field} must be {_KINDS[expected.group(1)]}"
    if bound := _BOUND.match(reason):
        return f"{field} must be {_BOUNDS[bound.group(1)]} {bound.group(2)}"
    if length := _LENGTH.match(reason):
        if length.group(1) == ">=" and length.group(2) == "1":
            return f"{field} is required"
        return f"{field} must be {_BOUNDS[length.group(1)]} {length.group(2)} characters"
    return f"{field}: {reason}"


def shown_field(values: Mapping[str, str | bool | list[str]]) -> str:
    """The :data:`SHOWN` field of a page whose form shows ``values``, as the browser
    would post them untouched: a ticked checkbox (True) as ``"true"``, an unticked one
    (False) not at all, a set of checkboxes as the list of those ticked."""
    posted = {
        name: "true" if value is True else value
        for name, value in values.items()
        if value is not False
    }
    return json.dumps(posted, separators=(",", ":"), sort_keys=True)


def edits(form: Form, build: Callable[[Form], S], *, keep: Any = msgspec.UNSET) -> S:
    """``build(form)`` with the fields equal in ``build`` of what the page showed set to
    ``keep`` (what the update leaves as it is: unset, or None where the API's null keeps
    a value): what the person changed. A field changed both on the page and elsewhere
    since is written (the last writer of that field wins). Without a usable record of
    what was shown, ``build(form)`` whole. ``InvalidInput`` as ``build`` raises it."""
    typed = build(form)
    shown = form.shown()
    if shown is None:
        return typed
    try:
        before = build(shown)
    except PulseError:
        return typed
    unchanged = {
        name: keep
        for name in typed.__struct_fields__
        if getattr(typed, name) == getattr(before, name)
    }
    return msgspec.structs.replace(typed, **unchanged)


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

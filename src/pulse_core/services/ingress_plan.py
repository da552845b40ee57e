"""The ingress plan: a :class:`~pulse_core.models.media.CreateIngress` checked, as the
engine gets it. Pure, no I/O; the counterpart of :mod:`pulse_core.services.egress_plan`.
"""

from __future__ import annotations

from pulse_core import rooms
from pulse_core.errors import InvalidInput
from pulse_core.models.media import INGRESS_TYPES, CreateIngress, IngressType
from pulse_core.ports.media import PULL_SCHEMES, IngressRequest
from pulse_core.services import validation
from pulse_core.services.egress_plan import MAX_IDENTITY_LENGTH, MAX_URL_LENGTH, identifier


def plan_ingress(project_id: str, request: CreateIngress, ingress_id: str) -> IngressRequest:
    """The engine's request for ``request`` of project ``project_id``, labelled with
    Pulse's ``ingress_id``; ``InvalidInput`` naming the first field that breaks a rule.

    ``type`` is one of :data:`~pulse_core.models.media.INGRESS_TYPES`; the room is
    namespaced (:func:`pulse_core.rooms.to_livekit`); the participant's identity and
    name are opaque identifiers; ``url`` is required for a ``url`` (pull) ingress, with
    a scheme LiveKit can pull, and refused for the others.
    """
    if request.type not in INGRESS_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(INGRESS_TYPES)}", field="type")
    ingress_type: IngressType = request.type  # type: ignore[assignment]
    livekit_room = rooms.to_livekit(project_id, request.room)
    identity = identifier(
        request.participant_identity, "participant_identity", max_length=MAX_IDENTITY_LENGTH
    )
    name = None
    if request.participant_name is not None:
        name = identifier(
            request.participant_name, "participant_name", max_length=MAX_IDENTITY_LENGTH
        )
    url = None
    if ingress_type == "url":
        url = _pull_url(request.url, "url")
    elif request.url is not None:
        raise InvalidInput("only a url ingress takes a url", field="url")
    return IngressRequest(
        type=ingress_type,
        room_name=livekit_room,
        participant_identity=identity,
        participant_name=name,
        url=url,
        name=ingress_id,
    )


def _pull_url(value: str | None, field: str) -> str:
    if not value:
        raise InvalidInput(f"{field} is required for a url ingress", field=field)
    return validation.url(value, field, schemes=PULL_SCHEMES, max_length=MAX_URL_LENGTH)


__all__ = ["plan_ingress"]

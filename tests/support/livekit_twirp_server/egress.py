"""The Egress RPCs (start, update layout and streams, list, stop) and the lifecycle of
an egress: STARTING -> ACTIVE -> ENDING -> COMPLETE (or FAILED, ABORTED...), moved on
automatically with ``auto_progress`` or by hand with ``advance_egress``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from livekit.protocol import egress as lk_egress

from tests.support.livekit_twirp_server.egress_outputs import (
    _check_stream_url,
    _fill_results,
    _finish_streams,
    _invalid,
    _Outputs,
    _redacted_request,
    redact_stream_url,
)
from tests.support.livekit_twirp_server.rooms import _RoomHandlers
from tests.support.livekit_twirp_server.state import _clone, _guid, _now_ns
from tests.support.livekit_twirp_server.twirp import TwirpFailure

_ES = lk_egress.EgressStatus
_STOPPABLE = (_ES.EGRESS_STARTING, _ES.EGRESS_ACTIVE)
_ENDED = (_ES.EGRESS_COMPLETE, _ES.EGRESS_FAILED, _ES.EGRESS_ABORTED, _ES.EGRESS_LIMIT_REACHED)
_WITH_OUTPUTS = (_ES.EGRESS_COMPLETE, _ES.EGRESS_LIMIT_REACHED)
# Start method -> (EgressInfo "request" oneof field, source type), as livekit-server maps them.
_EGRESS_STARTS: dict[str, tuple[str, int]] = {
    "StartRoomCompositeEgress": ("room_composite", lk_egress.EGRESS_SOURCE_TYPE_WEB),
    "StartWebEgress": ("web", lk_egress.EGRESS_SOURCE_TYPE_WEB),
    "StartParticipantEgress": ("participant", lk_egress.EGRESS_SOURCE_TYPE_SDK),
    "StartTrackCompositeEgress": ("track_composite", lk_egress.EGRESS_SOURCE_TYPE_SDK),
    "StartTrackEgress": ("track", lk_egress.EGRESS_SOURCE_TYPE_SDK),
}


class _EgressHandlers(_RoomHandlers):
    """Egress RPCs (methods of ``LiveKitTwirpServer``); rooms are looked up or created
    through ``_RoomHandlers``."""

    auto_progress: bool
    strict_rooms: bool
    _outputs: dict[str, _Outputs]
    _stream_targets: dict[str, list[str]]

    # ----------------------------------------------------------------- egress

    def _egress_or_404(self, egress_id: str) -> lk_egress.EgressInfo:
        info = self.state.egresses.get(egress_id)
        if info is None:
            raise TwirpFailure("not_found", "egress does not exist")
        return info

    @staticmethod
    def _validate_source(kind: str, req: Any) -> None:
        required = {
            "room_composite": ("room_name",),
            "web": ("url",),
            "participant": ("room_name", "identity"),
            "track_composite": ("room_name",),
            "track": ("room_name", "track_id"),
        }[kind]
        for name in required:
            if not getattr(req, name):
                raise _invalid(name)
        if kind == "track_composite" and not (req.audio_track_id or req.video_track_id):
            raise _invalid("track_id")

    def _start_egress(self, method: str, req: Any) -> lk_egress.EgressInfo:
        kind, source_type = _EGRESS_STARTS[method]
        self._validate_source(kind, req)
        outputs = _Outputs.of(req)
        outputs.validate()
        room_name = getattr(req, "room_name", "")
        room_id = ""
        if room_name:
            if self.strict_rooms:
                room_id = self._room_or_404(room_name).sid
            else:
                room_id = self._ensure_room(room_name).sid
        now = _now_ns()
        info = lk_egress.EgressInfo(
            egress_id=_guid("EG_"),
            room_id=room_id,
            room_name=room_name,
            source_type=source_type,  # type: ignore[arg-type]
            status=_ES.EGRESS_STARTING,
            started_at=now,
            updated_at=now,
        )
        getattr(info, kind).CopyFrom(_redacted_request(req))
        targets = outputs.stream_targets()
        for dest_id, url in targets:
            info.stream_results.add(
                id=dest_id,
                url=redact_stream_url(url),
                started_at=now,
                status=lk_egress.StreamInfo.ACTIVE,
            )
        self.state.egresses[info.egress_id] = info
        self.state.egress_requests[info.egress_id] = _clone(req)
        self._outputs[info.egress_id] = outputs
        self._stream_targets[info.egress_id] = [url for _, url in targets]
        reply = _clone(info)
        if self.auto_progress:
            self._set_egress_status(info, _ES.EGRESS_ACTIVE)
        return reply

    def _set_egress_status(
        self, info: lk_egress.EgressInfo, status: int, *, error: str = "", error_code: int = 0
    ) -> None:
        now = _now_ns()
        info.status = status  # type: ignore[assignment]
        info.updated_at = now
        if status not in _ENDED:
            return
        if not info.ended_at:
            info.ended_at = now
        _finish_streams(info, now, failed=status == _ES.EGRESS_FAILED)
        if status in _WITH_OUTPUTS and not (info.file_results or info.segment_results):
            _fill_results(info, self._outputs.get(info.egress_id, _Outputs()))
        if status == _ES.EGRESS_FAILED:
            info.error = error or "egress failed"
            info.error_code = error_code or 500
        elif error:
            info.error, info.error_code = error, error_code

    def _stop_egress(self, _method: str, req: lk_egress.StopEgressRequest) -> Any:
        info = self._egress_or_404(req.egress_id)
        if info.status not in _STOPPABLE:
            name = _ES.Name(info.status)
            raise TwirpFailure(
                "failed_precondition", f"egress with status {name} cannot be stopped"
            )
        self._set_egress_status(info, _ES.EGRESS_ENDING)
        reply = _clone(info)
        if self.auto_progress:
            self._set_egress_status(info, _ES.EGRESS_COMPLETE)
        return reply

    def _list_egress(self, _method: str, req: lk_egress.ListEgressRequest) -> Message:
        if req.egress_id:  # livekit-server loads the one egress and ignores the other filters
            return lk_egress.ListEgressResponse(items=[self._egress_or_404(req.egress_id)])
        items = [
            info
            for info in self.state.egresses.values()
            if (not req.room_name or info.room_name == req.room_name)
            and (not req.active or info.ended_at == 0)
        ]
        return lk_egress.ListEgressResponse(items=items)

    def _update_layout(self, _method: str, req: lk_egress.UpdateLayoutRequest) -> Any:
        info = self._egress_or_404(req.egress_id)
        if info.ended_at:  # the egress participant has left the room
            raise TwirpFailure("not_found", "participant does not exist")
        if info.WhichOneof("request") == "room_composite":
            info.room_composite.layout = req.layout
        info.updated_at = _now_ns()
        return _clone(info)

    def _update_stream(self, _method: str, req: lk_egress.UpdateStreamRequest) -> Any:
        info = self._egress_or_404(req.egress_id)
        if info.status not in _STOPPABLE:
            name = _ES.Name(info.status)
            raise TwirpFailure(
                "failed_precondition", f"egress with status {name} cannot be updated"
            )
        outputs = self._outputs[info.egress_id]
        if not outputs.streams:
            raise TwirpFailure("invalid_argument", "UpdateStream called on non-streaming egress")
        protocol = outputs.streams[0].protocol
        additions = [("", u) for u in req.add_output_urls]
        additions += [(d.id, d.url) for d in req.add_destinations]
        for _, url in additions:
            _check_stream_url(url, protocol)
        targets = self._stream_targets[info.egress_id]
        for url in req.remove_output_urls:
            active = [
                i
                for i, target in enumerate(targets)
                if target == url and info.stream_results[i].status == lk_egress.StreamInfo.ACTIVE
            ]
            if not active:
                raise TwirpFailure("not_found", f"stream {redact_stream_url(url)} not found")
        now = _now_ns()
        for dest_id, url in additions:
            info.stream_results.add(
                id=dest_id,
                url=redact_stream_url(url),
                started_at=now,
                status=lk_egress.StreamInfo.ACTIVE,
            )
            targets.append(url)
        for url in req.remove_output_urls:
            for i, target in enumerate(targets):
                stream = info.stream_results[i]
                if target == url and stream.status == lk_egress.StreamInfo.ACTIVE:
                    stream.status = lk_egress.StreamInfo.FINISHED
                    stream.ended_at = now
                    stream.duration = now - stream.started_at
        info.updated_at = now
        return _clone(info)

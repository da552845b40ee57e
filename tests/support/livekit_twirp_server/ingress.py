"""The Ingress RPCs (create, update, list, delete): RTMP and WHIP ingresses get the
configured base URL and a stream key and are reusable; URL pull keeps its URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from google.protobuf.message import Message
from livekit.protocol import ingress as lk_ingress

from tests.support.livekit_twirp_server.state import ServerState, _clone, _guid
from tests.support.livekit_twirp_server.twirp import TwirpFailure


def _update_transcoding(info: lk_ingress.IngressInfo) -> None:
    """livekit-server's updateEnableTranscoding: WHIP defaults to passthrough."""
    if info.HasField("enable_transcoding"):
        info.bypass_transcoding = not info.enable_transcoding
    elif info.input_type == lk_ingress.IngressInput.WHIP_INPUT:
        info.enable_transcoding = False
        info.bypass_transcoding = True
    else:
        info.enable_transcoding = True


class _IngressHandlers:
    """Ingress RPCs (methods of ``LiveKitTwirpServer``)."""

    state: ServerState
    rtmp_base_url: str
    whip_base_url: str

    # ----------------------------------------------------------------- ingress

    def _ingress_or_404(self, ingress_id: str) -> lk_ingress.IngressInfo:
        info = self.state.ingresses.get(ingress_id)
        if info is None:
            raise TwirpFailure("not_found", "ingress does not exist")
        return info

    def _create_ingress(self, _method: str, req: lk_ingress.CreateIngressRequest) -> Any:
        kinds = lk_ingress.IngressInput
        if req.input_type == kinds.RTMP_INPUT:
            url = self.rtmp_base_url
        elif req.input_type == kinds.WHIP_INPUT:
            url = self.whip_base_url
        elif req.input_type == kinds.URL_INPUT:
            url = self._validate_pull_url(req)
        else:
            raise TwirpFailure("invalid_argument", "invalid ingress type")
        pull = req.input_type == kinds.URL_INPUT
        status = lk_ingress.IngressState.Status
        info = lk_ingress.IngressInfo(
            ingress_id=_guid("IN_"),
            name=req.name,
            stream_key="" if pull else _guid(""),
            url=url,
            input_type=req.input_type,
            room_name=req.room_name,
            participant_identity=req.participant_identity,
            participant_name=req.participant_name,
            participant_metadata=req.participant_metadata,
            reusable=not pull,
            state=lk_ingress.IngressState(
                status=status.ENDPOINT_BUFFERING if pull else status.ENDPOINT_INACTIVE
            ),
        )
        for name in ("audio", "video"):
            if req.HasField(name):
                getattr(info, name).CopyFrom(getattr(req, name))
        if req.HasField("enabled"):
            info.enabled = req.enabled
        if req.HasField("enable_transcoding"):
            info.enable_transcoding = req.enable_transcoding
        _update_transcoding(info)
        self.state.ingresses[info.ingress_id] = info
        return _clone(info)

    @staticmethod
    def _validate_pull_url(req: lk_ingress.CreateIngressRequest) -> str:
        """livekit-server's URL_INPUT checks (http/https/srt, room and identity required)."""
        if not req.url:
            raise TwirpFailure("invalid_argument", "invalid ingress: missing URL parameter")
        scheme = urlparse(req.url).scheme
        if scheme not in ("http", "https", "srt"):
            raise TwirpFailure("invalid_argument", f"invalid ingress: invalid url scheme {scheme}")
        if not req.room_name:
            raise TwirpFailure("invalid_argument", "invalid ingress: no room name")
        if not req.participant_identity:
            raise TwirpFailure("invalid_argument", "invalid ingress: no participant identity")
        return req.url

    def _update_ingress(self, _method: str, req: lk_ingress.UpdateIngressRequest) -> Any:
        info = self._ingress_or_404(req.ingress_id)
        if not info.reusable:
            raise TwirpFailure("invalid_argument", "ingress is not reusable and cannot be modified")
        for name in (
            "name",
            "room_name",
            "participant_identity",
            "participant_name",
            "participant_metadata",
        ):
            if getattr(req, name):
                setattr(info, name, getattr(req, name))
        for name in ("audio", "video"):
            if req.HasField(name):
                getattr(info, name).CopyFrom(getattr(req, name))
        if req.HasField("enabled"):
            info.enabled = req.enabled
        if req.HasField("enable_transcoding"):
            info.enable_transcoding = req.enable_transcoding
        _update_transcoding(info)
        return _clone(info)

    def _list_ingress(self, _method: str, req: lk_ingress.ListIngressRequest) -> Message:
        if req.ingress_id:
            return lk_ingress.ListIngressResponse(items=[self._ingress_or_404(req.ingress_id)])
        items = [
            info
            for info in self.state.ingresses.values()
            if not req.room_name or info.room_name == req.room_name
        ]
        return lk_ingress.ListIngressResponse(items=items)

    def _delete_ingress(self, _method: str, req: lk_ingress.DeleteIngressRequest) -> Any:
        info = self._ingress_or_404(req.ingress_id)
        del self.state.ingresses[req.ingress_id]
        info.state.status = lk_ingress.IngressState.Status.ENDPOINT_INACTIVE
        return info

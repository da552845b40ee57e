"""LiveKit adapters: the media engine on a real LiveKit server via ``livekit-api``."""

from pulse_adapters.livekit.engine import LiveKitMediaEngine

__all__ = ["LiveKitMediaEngine"]

"""LiveKit adapters: the media engine and the room engine on a real LiveKit server via
``livekit-api``."""

from pulse_adapters.livekit.engine import LiveKitMediaEngine
from pulse_adapters.livekit.rooms import LiveKitRoomEngine

__all__ = ["LiveKitMediaEngine", "LiveKitRoomEngine"]

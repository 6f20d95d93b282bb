"""One TCP connection to a pod's port through the API server's port-forward subresource.

The websocket speaks the `v4.channel.k8s.io` protocol: each binary frame starts with a channel byte,
channel 0 carries the connection's data and channel 1 the kubelet's error text, and the first frame of each
channel carries only the port number. We read it in a blocking loop of our own: the client library's proxy
thread (select over an SSL socket) can wait on the wire while a frame sits in the SSL buffer, which stalled
streams here for ~10 s, and it leaves the pod's connection open when its socket pair resets, so a client
that hung up was never seen to go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATA, ERROR = 0, 1


@dataclass
class Channels:
    """Which channels have had their port-number frame."""

    opened: set[int] = field(default_factory=set)

    def read(self, frame: bytes) -> tuple[int, bytes] | None:
        """(channel, payload) of one binary frame, or None for a channel's opening frame."""
        if not frame:
            return None
        channel, payload = frame[0], frame[1:]
        if channel not in self.opened:
            self.opened.add(channel)
            return None
        return channel, payload


class PodStream:
    """send()/recv() over an open port-forward websocket; recv() returns b"" once the connection is over."""

    def __init__(self, websocket):
        self.websocket = websocket
        self.channels = Channels()
        self.error = ""

    def send(self, data: bytes) -> None:
        self.websocket.send_binary(bytes([DATA]) + data)

    def recv(self) -> bytes:
        from websocket import ABNF, WebSocketException

        while True:
            try:
                opcode, frame = self.websocket.recv_data_frame(True)
            except (WebSocketException, OSError):
                return b""
            if opcode == ABNF.OPCODE_CLOSE:
                return b""
            read = self.channels.read(frame.data) if opcode == ABNF.OPCODE_BINARY else None
            if read is None:
                continue
            channel, payload = read
            if channel == ERROR:
                self.error += payload.decode("utf-8", "replace")
                return b""
            if payload:
                return payload

    def close(self) -> None:
        """Wake a recv() in another thread and drop the connection: the API server then closes the pod's."""
        self.websocket.abort()
        self.websocket.shutdown()

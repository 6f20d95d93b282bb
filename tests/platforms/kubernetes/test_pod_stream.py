from types import SimpleNamespace

from websocket import ABNF, WebSocketConnectionClosedException

from runner.platforms.kubernetes.pod_stream import Channels, PodStream


def test_each_channels_first_frame_is_its_port_number_and_carries_no_data():
    channels = Channels()
    assert channels.read(b"\x00\x28\x23") is None  # data channel opens on port 9000
    assert channels.read(b"\x01\x28\x23") is None  # error channel opens
    assert channels.read(b"\x00hello") == (0, b"hello")
    assert channels.read(b"\x01refused") == (1, b"refused")
    assert channels.read(b"") is None


class Frames:
    """A websocket that hands out the given frames, then reports itself closed."""

    def __init__(self, *frames):
        self.frames, self.sent = list(frames), []

    def recv_data_frame(self, control_frame):
        if not self.frames:
            raise WebSocketConnectionClosedException("closed")
        opcode, data = self.frames.pop(0)
        return opcode, SimpleNamespace(data=data)

    def send_binary(self, data):
        self.sent.append(data)


BINARY, PING = ABNF.OPCODE_BINARY, ABNF.OPCODE_PING


def test_recv_skips_the_opening_frames_and_control_frames_and_ends_when_the_websocket_does():
    stream = PodStream(Frames((BINARY, b"\x00\x28\x23"), (BINARY, b"\x01\x28\x23"), (PING, b""),
                              (BINARY, b"\x00"), (BINARY, b"\x00data")))
    assert stream.recv() == b"data"
    assert stream.recv() == b""


def test_the_kubelets_error_text_ends_the_stream_and_is_kept():
    stream = PodStream(Frames((BINARY, b"\x00\x28\x23"), (BINARY, b"\x01\x28\x23"),
                              (BINARY, b"\x01error forwarding port 9000: connection refused"), (BINARY, b"\x00late")))
    assert stream.recv() == b""
    assert stream.error == "error forwarding port 9000: connection refused"


def test_send_writes_on_the_data_channel():
    socket = Frames()
    PodStream(socket).send(b"GET / HTTP/1.1\r\n")
    assert socket.sent == [b"\x00GET / HTTP/1.1\r\n"]

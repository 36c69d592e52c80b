"""paho's client with a read-ahead buffer on the broker connection.

paho reads each incoming packet with three or four ``recv`` calls (the command byte, the remaining
length a byte at a time, then the rest) after a ``select``. Every one of those system calls releases
the GIL, and in the edge another thread (the writer) is usually waiting for it: paho then waits to
get it back before it can read on. Measured with ``py-spy --gil`` on single-reading messages, paho's
thread spent about 40 % of its time in ``recv`` and ``select`` waiting for the GIL, and it is the
thread that limits the ingest rate.

``ReadAheadSocket`` serves paho's small reads from one large ``recv``, so a burst of messages costs
one system call instead of four per message. ``Client.loop_read`` handles every complete packet
already read before returning to ``select`` (paho's ``loop_read`` handles one). paho's own
``pending()`` hook (it asks SSL sockets how many decrypted bytes they hold) tells its loop not to
wait in ``select`` while bytes are buffered.

The same convoy hit the writer thread from the other side: paho's ``ack`` writes a byte to a
socket pair for every message to wake paho's loop, and each of those writes gave the GIL away, and
then paho wrote every 4-byte PUBACK with its own ``send``. ``Client.ack_all`` queues the PUBACKs of
a whole commit as one write with one wake-up.

This depends on private parts of paho 2.x (``_create_socket``, ``_sock``, ``_packet_queue``);
``tests/edge/test_mqttclient.py`` fails if they change.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK

READ_AHEAD_BYTES = 64 * 1024  # a few hundred single-reading messages, six 100-reading ones
PACKETS_PER_READ = 1000  # a ReceiveMaximum's worth
_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id (reason code 0 is implied)


class ReadAheadSocket:
    """A socket (plain or SSL) whose ``recv`` reads up to ``READ_AHEAD_BYTES`` at once and serves
    later calls from what is left. Everything else is the wrapped socket's."""

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        pos = self._pos
        left = len(self._buf) - pos
        if left:
            if bufsize >= left:
                data = self._buf[pos:] if pos else self._buf
                self._buf, self._pos = b"", 0
                return data
            self._pos = pos + bufsize
            return self._buf[pos:pos + bufsize]
        data = self._sock.recv(max(bufsize, READ_AHEAD_BYTES))  # BlockingIOError etc. reach paho as before
        if len(data) <= bufsize:
            return data
        self._buf, self._pos = data, bufsize
        return data[:bufsize]

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def pending(self) -> int:
        """Bytes readable without waiting: ours, plus what an SSL socket has decrypted."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return self.buffered() + inner

    def __getattr__(self, name: str) -> Any:  # send, fileno, close, setblocking, settimeout, ...
        return getattr(self._sock, name)


class Client(mqtt.Client):
    """``paho.mqtt.client.Client`` reading through a ``ReadAheadSocket``."""

    def _create_socket(self) -> Any:
        return ReadAheadSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """Handle what the socket has, and then the packets already buffered: at most
        ``PACKETS_PER_READ`` in all, so that a broker streaming without pause cannot keep paho from
        writing PUBACKs and keepalives (its loop does those between reads)."""
        rc = super().loop_read(max_packets)
        sock = self._sock
        for _ in range(PACKETS_PER_READ):
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, ReadAheadSocket) \
                    or not sock.buffered() or self._sock is not sock:
                break
            rc = super().loop_read(max_packets)
        return rc

    def ack_all(self, mids: Iterable[int]) -> None:
        """PUBACK these QoS-1 messages (``manual_ack``), all in one queued write."""
        packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
        if packet:
            self._packet_queue(PUBACK, packet, 0, 1)

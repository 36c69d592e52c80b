"""Just enough MQTT 3.1.1 (OASIS standard, sections 2-3) to publish at QoS 1 from a raw socket.

The load generator encodes CONNECT and PUBLISH packets itself so that publishing costs one
``sendall`` per chunk of pre-encoded packets instead of a trip through a client library per message.
"""

from __future__ import annotations

import struct

CONNECT = 0x10
CONNACK = 0x20
PUBLISH_QOS1 = 0x32  # type 3, DUP 0, QoS 1, RETAIN 0
PUBACK = 0x40
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = b"\xe0\x00"


def remaining_length(n: int) -> bytes:
    """The variable-length "remaining length" of the fixed header (1-4 bytes, 7 bits each)."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"remaining length out of range: {n}")
    out = bytearray()
    while True:
        digit, n = n & 0x7F, n >> 7
        if n:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect(client_id: str, keepalive: int = 0, clean_session: bool = True) -> bytes:
    flags = 0x02 if clean_session else 0x00
    body = utf8("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + utf8(client_id)
    return bytes((CONNECT,)) + remaining_length(len(body)) + body


def publish_prefix(topic: str) -> tuple[bytes, bytes]:
    """The parts of a QoS-1 PUBLISH around the packet id: (first byte, encoded topic)."""
    return bytes((PUBLISH_QOS1,)), utf8(topic)


def publish(topic_bytes: bytes, packet_id: int, payload: bytes) -> bytes:
    """One QoS-1 PUBLISH; ``topic_bytes`` is the length-prefixed topic from ``utf8``."""
    body_len = len(topic_bytes) + 2 + len(payload)
    return b"".join((b"\x32", remaining_length(body_len), topic_bytes, struct.pack("!H", packet_id), payload))


def packet_id(index: int) -> int:
    """Packet ids 1..65535, cycling; valid while fewer than 65,535 publishes are unacked."""
    return index % 65535 + 1


def split_packets(buf: bytearray) -> list[tuple[int, bytes]]:
    """Remove the complete packets at the front of ``buf``; return (first byte, body) of each."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    n = len(buf)
    while pos + 2 <= n:
        mult, length, i = 1, 0, pos + 1
        while True:
            if i >= n:
                del buf[:pos]
                return out
            byte = buf[i]
            length += (byte & 0x7F) * mult
            mult <<= 7
            i += 1
            if not byte & 0x80:
                break
        if i + length > n:
            break
        out.append((buf[pos], bytes(buf[i : i + length])))
        pos = i + length
    del buf[:pos]
    return out

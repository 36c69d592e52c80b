"""Command-line options that also read ``EDGEHUB_*`` environment variables.

Precedence is flag, then environment variable, then default. A bad value fails at start-up
with a message that names the variable and the value, never deep inside a component.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse


def env_name(flag: str) -> str:
    """``--mqtt-url`` -> ``EDGEHUB_MQTT_URL``."""
    return "EDGEHUB_" + flag.lstrip("-").replace("-", "_").upper()


def add(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    default: Any = None,
    type: Callable[[str], Any] = str,
    help: str = "",
    env: str | None = None,
) -> None:
    """Add ``flag`` whose default comes from its environment variable when set."""
    name = env or env_name(flag)
    raw = os.environ.get(name)
    value = default
    if raw is not None and raw != "":
        try:
            value = type(raw)
        except (TypeError, ValueError) as exc:
            parser.error(f"environment variable {name}={raw!r} is not valid: {exc}")
    shown = f" (env {name}; default {default})" if default is not None else f" (env {name})"
    parser.add_argument(flag, default=value, type=type, help=help + shown)


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"expected a number >= 0, got {text}")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"expected a port number 0-65535, got {text}")
    return value


def size_bytes(text: str) -> int:
    """``512MB``, ``2GiB``, ``1000000`` -> bytes."""
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    stripped = text.strip().upper()
    digits = stripped.rstrip("KMGIB")
    unit = stripped[len(digits):]
    if unit not in units or not digits:
        raise ValueError(f"expected a size like 500MB or 2GiB, got {text!r}")
    return int(float(digits) * units[unit])


def mqtt_url(text: str) -> tuple[str, int]:
    """``mqtt://host:port`` -> (host, port)."""
    parsed = urlparse(text if "://" in text else f"mqtt://{text}")
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"expected mqtt://HOST:PORT, got {text!r}")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


def host_port(text: str) -> str:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return text

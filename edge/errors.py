"""Exceptions of the edge gateway.

    EdgeError
    ├── BufferError      the DuckDB buffer cannot be opened or written
    ├── UplinkError      the stream to the hub failed (retried with backoff)
    │   └── AuthError    the hub refused the edge token (retried slowly, logged loudly)
    └── ConfigError      a setting is invalid (raised at start-up)
"""


class EdgeError(Exception):
    """Base of every error the edge raises on purpose."""


class BufferError(EdgeError):
    """The buffer file cannot be opened or written."""


class UplinkError(EdgeError):
    """The stream to the hub failed; the caller reconnects."""


class AuthError(UplinkError):
    """The hub answered UNAUTHENTICATED or PERMISSION_DENIED."""


class ConfigError(EdgeError):
    """A setting is invalid."""

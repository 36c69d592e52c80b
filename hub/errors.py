"""Exceptions of the hub; the HTTP layer maps each to a status code and ``{"error": message}``.

    HubError
    ├── BadRequest   400  the request is malformed or misses something it needs
    ├── Unauthorized 401  no valid credential
    ├── Forbidden    403  authenticated, but not allowed
    ├── NotFound     404  no such object (or not one the caller may see)
    └── Conflict     409  exists already
"""


class HubError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HubError):
    status = 400


class Unauthorized(HubError):
    status = 401


class Forbidden(HubError):
    status = 403


class NotFound(HubError):
    status = 404


class Conflict(HubError):
    status = 409

"""The errors every service raises: a message a person understands, and the form field it belongs to."""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, message: str, field: str | None = None):
        message = str(message)  # a lazy translation is fixed in the language of the moment
        super().__init__(message)
        self.message = message
        self.field = field


class PermissionDenied(ServiceError):
    pass


class NotFound(ServiceError):
    pass

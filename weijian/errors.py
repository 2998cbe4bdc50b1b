"""The product's own exceptions. Adapters map them to HTTP status codes and CLI exit codes
(``weijian.api.errors``, ``weijian.cli``); the core never speaks HTTP."""

from __future__ import annotations


class WeijianError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, zh: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.zh = zh  # the same, in Chinese, where a clerk reads it (import reports)

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class InputError(WeijianError):
    """The input (a file, a parameter) cannot be used as given."""

    exit_code = 2


class NotFoundError(WeijianError):
    """A named thing (layer, version, field) does not exist."""

    exit_code = 3


class ConflictError(WeijianError):
    """The request conflicts with the current state (e.g. a prerequisite layer is missing)."""

    exit_code = 4


class PermissionDenied(WeijianError):
    """The user is known but its role may not do this (a grid worker signing a case off)."""

    exit_code = 6


class NotAuthenticated(WeijianError):
    """No valid credentials: a missing, expired or unknown token, a wrong password."""

    exit_code = 6


class TooLarge(WeijianError):
    """An upload is larger than the configured limit."""

    exit_code = 2


class RateLimited(WeijianError):
    """Too many requests from one address in the configured window."""

    exit_code = 7


class EnvironmentProblem(WeijianError):
    """The machine lacks something the product needs (PostgreSQL, PostGIS, permissions)."""

    exit_code = 5

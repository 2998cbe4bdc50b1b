"""The product's own exceptions. Adapters map them to HTTP status codes and CLI exit codes
(``weijian.api.errors``, ``weijian.cli.output``); the core never speaks HTTP.

Every error carries what a person reads and what a program keys on:

- ``message``: in Chinese, what is wrong and what to do — shown by the pages and the CLI;
- ``code``: a stable machine code, ``area.what`` (``case.version_conflict``);
- ``detail``: the same in English, kept for the clients and logs that read it;
- ``hint``: in English, how to fix it.

``InputError("月份格式不正确，应为“年-月”，如 2026-03", code="period.month_invalid",
detail="'3/2026' is not a month", hint="give the month as YYYY-MM")``.
"""

from __future__ import annotations


class WeijianError(Exception):
    """Base class of the product's errors."""

    exit_code = 1
    #: the machine code and Chinese text of the class, where a raise gives none
    default_code = "error"
    default_message = "操作未能完成"
    #: what a program needs beside the words, joined to the API's error body (a version
    #: conflict: ``{"case": …}``, the case as it stands and its last change)
    context: dict | None = None

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        zh: str | None = None,
        *,
        code: str | None = None,
        detail: str | None = None,
    ):
        if zh is not None:  # the older form: an English message with its Chinese beside it
            message, detail = zh, detail or message
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        self.code = code or self.default_code

    @property
    def zh(self) -> str | None:
        """The Chinese message, or None where the raise gave only English."""
        return self.message if _is_chinese(self.message) else None

    @property
    def readable(self) -> str:
        """What a person reads: the Chinese message, else the class's Chinese text."""
        return self.zh or self.default_message

    @property
    def en(self) -> str:
        """The English account: the detail, or the message when it is English."""
        return self.detail or self.message

    def __str__(self) -> str:
        text = self.message if not self.detail else f"{self.message} ({self.detail})"
        return f"{text}\n  → {self.hint}" if self.hint else text


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


class InputError(WeijianError):
    """The input (a file, a parameter) cannot be used as given."""

    exit_code = 2
    default_code = "input.invalid"
    default_message = "输入的内容有误，请检查后重试"


class NotFoundError(WeijianError):
    """A named thing (layer, version, field, case) does not exist — or not in your scope."""

    exit_code = 3
    default_code = "not_found"
    default_message = "未找到（或不在您的权限范围内）"


class ConflictError(WeijianError):
    """The request conflicts with the current state (e.g. a prerequisite layer is missing)."""

    exit_code = 4
    default_code = "conflict"
    default_message = "与当前状态冲突，请刷新后重试"


class PermissionDenied(WeijianError):
    """The user is known but its role may not do this (a grid worker signing a case off)."""

    exit_code = 6
    default_code = "permission.denied"
    default_message = "您的角色无权进行此操作"


class NotAuthenticated(WeijianError):
    """No valid credentials: a missing, expired or unknown token, a wrong password."""

    exit_code = 6
    default_code = "auth.required"
    default_message = "请先登录（登录已失效或用户名、密码有误）"


class TooLarge(WeijianError):
    """An upload is larger than the configured limit."""

    exit_code = 2
    default_code = "upload.too_large"
    default_message = "上传的文件过大"


class RateLimited(WeijianError):
    """Too many requests from one address in the configured window; ``retry_after``: the
    seconds the client is asked to wait, where known (HTTP's ``Retry-After``)."""

    exit_code = 7
    default_code = "rate_limited"
    default_message = "操作过于频繁，请稍后再试"
    retry_after: int | None = None

    def __init__(self, message: str, *args, retry_after: int | None = None, **kwargs):
        super().__init__(message, *args, **kwargs)
        self.retry_after = retry_after


class EnvironmentProblem(WeijianError):
    """The machine lacks something the product needs (PostgreSQL, PostGIS, permissions)."""

    exit_code = 5
    default_code = "environment"
    default_message = "运行环境缺少必要的组件，请联系系统管理员"

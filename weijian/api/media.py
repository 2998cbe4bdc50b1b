"""A photo an Open311 client names by URL (``media_url``), fetched by the server: only from the
hosts the setting ``open311_media_hosts`` lists (a city's own image server; none by default),
over http or https, without following redirects, within ``open311_media_max_mb``, and kept only
when its bytes are a photo the evidence store accepts (JPEG, PNG or WebP, by what the bytes
are, :func:`weijian.cases.evidence.inspect`). Every refusal says in Chinese what was wrong."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from weijian.cases.evidence import inspect
from weijian.errors import InputError, WeijianError
from weijian.settings import Settings

TIMEOUT_S = 15.0


def _refused(message: str, code: str, detail: str, hint: str | None = None) -> InputError:
    return InputError(f"照片链接（media_url）{message}", code=code, detail=detail, hint=hint)


def checked_url(url: str, settings: Settings) -> str:
    """``url`` when it is http(s) on an allowed host, else a refusal saying why."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refused(
            f"无效：{url[:200]}，应为 http:// 或 https:// 开头的图片地址",
            "open311.media_url_invalid",
            "media_url must be an http(s) URL",
        )
    allowed = {h.strip().lower() for h in settings.open311_media_hosts if h.strip()}
    if not allowed:
        raise _refused(
            "未开放：本系统不从外部地址获取照片。请不带 media_url 重新提交，或请系统管理员在"
            " WEIJIAN_OPEN311_MEDIA_HOSTS 中列出允许的图片服务器",
            "open311.media_hosts_none",
            "no media_url host is allowed (WEIJIAN_OPEN311_MEDIA_HOSTS is empty)",
        )
    host = parts.hostname.lower()
    if host not in allowed and f"{host}:{parts.port}" not in allowed:
        raise _refused(
            f"的主机 {host} 不在允许的图片服务器之列（{'、'.join(sorted(allowed))}）",
            "open311.media_host_not_allowed",
            f"media_url host {host} is not among WEIJIAN_OPEN311_MEDIA_HOSTS",
        )
    return url.strip()


def fetch_photo(url: str, settings: Settings) -> tuple[bytes, str]:
    """The photo at ``url`` and a file name for it, or an :class:`InputError`."""
    url = checked_url(url, settings)
    limit = int(settings.open311_media_max_mb * 1024 * 1024)
    too_large = _refused(
        f"指向的文件超过 {settings.open311_media_max_mb:g} MB，请压缩后再提供",
        "open311.media_too_large",
        f"the file at media_url is larger than {settings.open311_media_max_mb:g} MB",
    )
    chunks, size = [], 0
    try:
        with httpx.stream("GET", url, timeout=TIMEOUT_S, follow_redirects=False) as answer:
            if answer.status_code != 200:
                raise _refused(
                    f"无法获取：图片服务器答复 HTTP {answer.status_code}，请确认地址可直接访问",
                    "open311.media_unreachable",
                    f"GET media_url answered {answer.status_code}",
                )
            declared = answer.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise too_large
            for chunk in answer.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except httpx.HTTPError as e:
        raise _refused(
            "无法获取：连接图片服务器失败，请稍后重试",
            "open311.media_unreachable",
            f"fetching media_url failed: {type(e).__name__}",
        ) from None
    content = b"".join(chunks)
    name = PurePosixPath(unquote(urlsplit(url).path)).name or "media"
    try:
        inspect(content, name, "photo")
    except WeijianError as e:
        raise _refused(
            f"指向的不是可用的照片（仅接受 JPEG、PNG、WebP）：{e.message}",
            "open311.media_not_image",
            f"the file at media_url is not a usable photo: {e.detail or e.code}",
        ) from None
    return content, name

"""A file answered for download or display, named in Chinese (RFC 6266 ``filename*``), never
kept by a shared cache."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response


def file_response(content: bytes, media_type: str, filename: str, *, inline: bool) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )

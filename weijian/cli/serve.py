"""Serving the web application, over HTTP or — with a certificate and its key — HTTPS (phones
need a secure context for the field app's service worker and GPS)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated

import typer

from weijian.cli.context import database, serve_app
from weijian.cli.output import handles_errors
from weijian.errors import InputError
from weijian.settings import get_settings


def tls_files(cert: Path | None, key: Path | None) -> tuple[str, str] | None:
    """The certificate and key files, checked: both given, readable and a matching pair (in
    PEM); None for plain HTTP."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing = "--tls-cert（证书）" if cert is None else "--tls-key（私钥）"
        raise InputError(
            f"启用 HTTPS 需要同时提供证书和私钥，缺少 {missing}",
            code="serve.tls_incomplete",
            detail="HTTPS needs both --tls-cert and --tls-key",
            hint="give both PEM files, or neither for plain HTTP",
        )
    for path, what in ((cert, "证书"), (key, "私钥")):
        if not path.is_file():
            raise InputError(
                f"找不到{what}文件 {path}，请核对路径",
                code="serve.tls_file_missing",
                detail=f"no such file: {path}",
            )
        try:
            path.read_bytes()
        except OSError as exc:
            raise InputError(
                f"无法读取{what}文件 {path}（{exc.strerror}），请检查文件权限",
                code="serve.tls_file_unreadable",
                detail=f"{path} cannot be read: {exc}",
                hint="let the service user read it",
            ) from None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as exc:
        raise InputError(
            f"证书 {cert} 与私钥 {key} 无法使用：应为 PEM 格式且相互匹配（私钥不能设置口令）",
            code="serve.tls_invalid",
            detail=f"the certificate and key cannot be loaded: {exc}",
            hint="give a PEM certificate (with its chain) and its unencrypted PEM key",
        ) from None
    return str(cert), str(key)


@handles_errors
def serve(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    workers: Annotated[int, typer.Option("--workers")] = 1,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate (with its chain): HTTPS")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="the certificate's PEM private key")
    ] = None,
) -> None:
    """Serve the API, the pages and the field app on the configured address (HTTPS with
    --tls-cert and --tls-key)."""
    settings = get_settings()
    tls = tls_files(tls_cert, tls_key)
    database()  # start and migrate before the workers fork
    serve_app(host or settings.host, port or settings.port, workers, tls=tls)

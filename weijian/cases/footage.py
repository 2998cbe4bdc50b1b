"""Footage of a law-enforcement recorder (执法记录仪) on a case.

A recorder's file runs to several GB: it arrives in pieces and is written to disk by the
evidence store while it is hashed (:meth:`EvidenceStore.put_stream`), never whole in memory and
never in a ``bytea`` (which caps at 1 GB) — on disk even where ``WEIJIAN_EVIDENCE_STORAGE`` is
``database``. Before it joins the store, ``ffprobe`` reads it (:func:`probe`): a container a
recorder writes holding a video stream, or it is refused; its length and the time the recorder
started (the container's ``creation_time``) where the file has them. The footage belongs to
one step of the case (an event's ``seq``) and is recorded as the case's evidence with an
``add_evidence`` event, so ``weijian audit verify`` checks its bytes like any other file.

A ``<video>`` element cannot send the pages' bearer token: a user who may see the case is given
a playback link signed for that file, that case and one hour with the hash of the token that
asked (:func:`sign`). It is worth no more than that token: it dies with it (logout, expiry, a
disabled user), and the user must still see the case when it is played.

A video's ``case_evidence.kind`` is ``video`` (migration 0019; its media type is ``video/…``,
which no photo or document can have): a video never proves a step that needs a document.
A mixin of :class:`~weijian.cases.service.CaseService`; plain Python: no HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import filetype
from sqlalchemy import Connection, text

from weijian.cases import history, users
from weijian.cases.clock import LOCAL
from weijian.cases.evidence import DESCRIPTIONS_ZH, clean_filename, sniff
from weijian.cases.scope import Principal
from weijian.errors import (
    EnvironmentProblem,
    InputError,
    NotAuthenticated,
    NotFoundError,
    TooLarge,
)

MB = 1024 * 1024
#: the kind of a video's evidence row
FOOTAGE_KIND = "video"
#: events that are no step of the work: footage is not attached to them
NOT_A_STEP = ("add_evidence", "link", "merged_from")
PROBE_TIMEOUT_S = 60
#: how long a playback link works (the page asks for a new one when it has run out)
PLAYBACK_LIFETIME = timedelta(hours=1)
#: the containers recorders and their export software write, by ffprobe's name
CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mpegts": "video/mp2t",
    "mpeg": "video/mpeg",
    "flv": "video/x-flv",
    "asf": "video/x-ms-asf",
}
#: the demuxers ffprobe may use: a playlist (HLS, concat) naming other files or addresses is
#: never opened, nor any protocol but the file itself
DEMUXERS = ",".join(CONTAINERS)
#: a file's name where the client gave none
EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/mp2t": ".ts",
    "video/mpeg": ".mpg",
    "video/x-flv": ".flv",
    "video/x-ms-asf": ".wmv",
}
#: times a recorder whose clock was never set writes (1904 and 1970 epochs, zero dates)
EARLIEST = datetime(2000, 1, 1, tzinfo=LOCAL)
#: the tags that may carry the start of the recording, most precise first
TIME_TAGS = ("com.apple.quicktime.creationdate", "creation_time", "date")
FOOTAGE_COLUMNS = (
    "e.sha256, e.media_type, e.filename, e.size, e.width, e.height, e.recorded_at, "
    "e.duration_s, e.event_seq, e.uploaded_at, u.display_name AS uploader_name, "
    "u.role AS uploader_role, s.action AS step_action, s.at AS step_at"
)


@dataclass(frozen=True)
class Probe:
    """What ``ffprobe`` read of a video file."""

    media_type: str
    container: str  # ffprobe's format name
    codec: str  # of the first video stream
    width: int | None
    height: int | None
    duration_s: float | None
    recorded_at: datetime | None  # the recorder's start, with its zone


# -------------------------------------------------------------------------------- probing


def _ffprobe(path: Path) -> dict | None:
    """ffprobe's account of ``path`` as JSON; None when it cannot read the file at all."""
    program = shutil.which("ffprobe")
    if program is None:
        raise EnvironmentProblem(
            "服务器未安装 ffprobe，无法读取执法记录仪视频，请联系系统管理员安装 ffmpeg",
            code="footage.ffprobe_missing",
            detail="ffprobe (Debian's ffmpeg package) is not installed on the server",
            hint="apt-get install ffmpeg",
        )
    try:
        done = subprocess.run(
            [program, "-v", "error", "-protocol_whitelist", "file", "-format_whitelist",
             DEMUXERS, "-print_format", "json", "-show_format", "-show_streams", "--", str(path)],
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    try:
        data = json.loads(done.stdout or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _media_type(container: str, fmt: dict, path: Path) -> str:
    if container == "matroska,webm":
        with open(path, "rb") as handle:
            found = filetype.guess(handle.read(4096))
        return "video/webm" if found and found.mime == "video/webm" else CONTAINERS[container]
    if container.startswith("mov,") and (fmt.get("tags") or {}).get("major_brand") == "qt  ":
        return "video/quicktime"
    return CONTAINERS[container]


def _duration(fmt: dict, streams: list[dict]) -> float | None:
    """The file's length in seconds: the container's, else its longest stream's."""
    values = [fmt.get("duration"), *(s.get("duration") for s in streams)]
    for value in values:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds > 0:
            return round(seconds, 3)
    return None


def parse_time(value: str | None) -> datetime | None:
    """A tag's time (“2026-03-02T01:05:00.000000Z”, “2026-03-02T09:05:00+0800”, “2026-03-02
    09:05:00”); one without a zone is Beijing time, as a recorder's own clock runs. None when
    it is no time, or one a recorder whose clock was never set writes."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL)
    return moment if moment >= EARLIEST else None


def _recorded_at(fmt: dict, streams: list[dict]) -> datetime | None:
    tag_sets = [fmt.get("tags") or {}, *((s.get("tags") or {}) for s in streams)]
    for name in TIME_TAGS:
        for tags in tag_sets:
            found = parse_time(tags.get(name))
            if found is not None:
                return found
    return None


def probe(path: Path, filename: str | None = None) -> Probe:
    """Read a stored file with ffprobe: a container of :data:`CONTAINERS` with a video stream
    (a cover picture is none), or :class:`InputError` saying what it is instead."""
    shown = f"“{filename}”" if filename else "该文件"
    if path.stat().st_size == 0:
        raise _not_video(shown, filename, "它是空文件（0 字节），可能是上传中断", "empty (0 bytes)")
    data = _ffprobe(path)
    fmt = (data or {}).get("format") or {}
    container = str(fmt.get("format_name") or "")
    if data is None or container not in CONTAINERS:
        with open(path, "rb") as handle:
            looks = DESCRIPTIONS_ZH.get(sniff(handle.read(4096)) or "")
        why = f"它看起来是{looks}" if looks else "无法识别为视频"
        raise _not_video(shown, filename, why, f"ffprobe reads it as {container or 'nothing'}")
    streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not video:
        raise _not_video(shown, filename, "其中没有视频画面（仅有音频）", "it has no video stream")
    first = video[0]
    return Probe(
        media_type=_media_type(container, fmt, path),
        container=container,
        codec=str(first.get("codec_name") or ""),
        width=first.get("width") if isinstance(first.get("width"), int) else None,
        height=first.get("height") if isinstance(first.get("height"), int) else None,
        duration_s=_duration(fmt, streams),
        recorded_at=_recorded_at(fmt, streams),
    )


def _not_video(shown: str, filename: str | None, why: str, english: str) -> InputError:
    return InputError(
        f"{shown}不是可接受的执法记录仪视频：{why}。请上传记录仪导出的视频文件"
        "（MP4、MOV、AVI、TS、MKV 或 WebM）",
        code="footage.not_video",
        detail=f"{filename or 'the file'} is not a recorder's video: {english}.",
        hint="upload the video file as the recorder exported it (MP4, MOV, AVI, TS, MKV, WebM)",
    )


def too_large(max_bytes: int, filename: str | None) -> TooLarge:
    limit = f"{max_bytes / MB:g}"
    shown = f"“{filename}”" if filename else "该视频"
    return TooLarge(
        f"{shown}超过 {limit} MB 上限，未予保存。请在记录仪的管理软件中把视频分段导出后分别上传，"
        "或请系统管理员调整上限（WEIJIAN_MAX_FOOTAGE_MB）",
        code="footage.too_large",
        detail=f"{filename or 'the video'} is larger than the {limit} MB limit; nothing was kept",
        hint="export the recording in parts, or raise WEIJIAN_MAX_FOOTAGE_MB",
    )


def refuse_whole(media_type: str, sha256: str, number: str = "{number}") -> None:
    """A video is not read whole into memory (a file of several GB): it is played back by
    ranges from its own address."""
    if media_type.startswith("video/"):
        where = f"GET /api/v1/cases/{number}/footage/{sha256}"
        raise InputError(
            "视频文件请在案件页的“执法记录仪视频”中播放",
            code="footage.use_playback",
            detail=f"a video is read by ranges, not whole: {where}",
            hint=f"{where} with a Range header",
        )


# ------------------------------------------------------------------------------ playback


def _signature(key: str, number: str, sha256: str, user_id: int, expires: int) -> str:
    message = f"weijian-footage\n{number}\n{sha256}\n{user_id}\n{expires}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def sign(token: str, user_id: int, number: str, sha256: str, now: datetime) -> dict:
    """The query of a playback link for the holder of ``token``: ``u``, ``exp``, ``sig``."""
    expires = int((now + PLAYBACK_LIFETIME).timestamp())
    key = users.sha256(token)
    return {"u": user_id, "exp": expires, "sig": _signature(key, number, sha256, user_id, expires)}


def _link_refused(expired: bool) -> NotAuthenticated:
    if expired:
        return NotAuthenticated(
            "播放链接已过期，请刷新案件页后重新播放",
            code="footage.link_expired",
            detail="the playback link has expired",
            hint="list the case's footage again for a new link",
        )
    return NotAuthenticated(
        "播放链接无效（或已退出登录），请刷新案件页后重新播放",
        code="footage.link_invalid",
        detail="the playback link is not valid, or its login has ended",
        hint="list the case's footage again for a new link",
    )


def checked_link(
    conn: Connection, number: str, sha256: str, user_id: int, expires: int, sig: str, now: datetime
) -> Principal:
    """The user a playback link was signed for, while it and its token are valid."""
    stamp = now.timestamp()
    if expires < stamp:
        raise _link_refused(expired=True)
    if expires > stamp + PLAYBACK_LIFETIME.total_seconds() + 60:
        raise _link_refused(expired=False)
    for key, principal in users.live_tokens(conn, user_id, now):
        if hmac.compare_digest(sig, _signature(key, number, sha256, user_id, expires)):
            return principal
    raise _link_refused(expired=False)


# ------------------------------------------------------------------------------- the case


def _step(conn: Connection, case_id: int, number: str, seq: int) -> dict:
    """The event ``seq`` of the case, which must be a step of its work."""
    row = conn.execute(
        text("SELECT seq, action, at FROM case_event WHERE case_id = :c AND seq = :s"),
        {"c": case_id, "s": seq},
    ).first()
    if row is None:
        raise InputError(
            f"案件 {number} 没有第 {seq} 条办理记录，请从案件的办理过程中选择视频所属的步骤",
            code="footage.step_unknown",
            detail=f"case {number} has no event #{seq}",
            hint="give event=<seq> of one of the case's events",
        )
    if row.action in NOT_A_STEP:
        raise InputError(
            f"第 {seq} 条记录是上传或关联记录，不是办理步骤，请选择视频所拍摄的办理步骤",
            code="footage.not_a_step",
            detail=f"event #{seq} ({row.action}) is no step of the work",
            hint="give the seq of a step such as the site visit",
        )
    return dict(row._mapping)


def _step_item(s, wf) -> dict:
    return {
        "seq": s.seq,
        "action": s.action,
        "label": wf.label_of(s.action),
        "at": s.at,
        "actor_name": s.actor_name,
    }


class FootageMixin:
    """The case service's part for recorder footage (uses its engine, store, clock, scope)."""

    @property
    def footage_max_bytes(self) -> int:
        return int(self.settings.max_footage_mb * MB)

    def add_footage(
        self,
        principal: Principal,
        ref: str | int,
        chunks: Iterable[bytes],
        filename: str | None,
        event_seq: int,
        token: str | None = None,
    ) -> dict:
        """Stream a recorder's video into the store, read it with ffprobe, and record it on
        the case for its step ``event_seq`` with an ``add_evidence`` event. The case and the
        step are checked before a byte is read. ``token``: to sign the answer's playback link."""
        named = clean_filename(filename, "") if (filename or "").strip() else None
        now = self.clock.now()
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
            _step(conn, row["id"], row["number"], event_seq)
        read: list[Probe] = []
        max_bytes = self.footage_max_bytes
        try:
            stored = self.store.on_disk().put_stream(
                chunks, max_bytes, check=lambda path: read.append(probe(path, named))
            )
        except TooLarge as exc:
            raise too_large(max_bytes, named) from exc
        facts = read[0]
        name = named or "执法记录仪视频" + EXTENSIONS.get(facts.media_type, "")
        with self.engine.begin() as conn:
            row = self._visible(conn, ref, principal, lock=True)
            inserted = self._insert_footage(
                conn, row, stored, facts, name, event_seq, principal, now
            )
            item = self._footage_rows(conn, row["id"], stored.sha256)[0]
        return {
            "case": row["number"],
            **self._footage_item(item, row["number"], principal, token, now),
            "already_uploaded": inserted is None,
        }

    def _insert_footage(self, conn, row, stored, facts: Probe, name, seq, actor, now):
        """The stored video recorded on the case (locked ``row``) with its ``add_evidence``
        event; None when the case holds these bytes already."""
        inserted = conn.execute(
            text(
                "INSERT INTO case_evidence (case_id, sha256, kind, media_type, filename, size, "
                "width, height, storage, path, uploaded_by, uploaded_at, recorded_at, "
                "duration_s, event_seq) VALUES (:case_id, :sha, :kind, :media, :filename, "
                ":size, :w, :h, 'disk', :path, :by, :now, :rec, :dur, :seq) "
                "ON CONFLICT (case_id, sha256) DO NOTHING RETURNING id"
            ),
            {
                "case_id": row["id"],
                "sha": stored.sha256,
                "kind": FOOTAGE_KIND,
                "media": facts.media_type,
                "filename": name,
                "size": stored.size,
                "w": facts.width,
                "h": facts.height,
                "path": stored.path,
                "by": actor.id,
                "now": now,
                "rec": facts.recorded_at,
                "dur": facts.duration_s,
                "seq": seq,
            },
        ).scalar()
        if inserted is not None:
            history.record(
                conn,
                row,
                action="add_evidence",
                actor=actor,
                at=now,
                data={
                    "kind": FOOTAGE_KIND,
                    "filename": name,
                    "step": seq,
                    "duration_s": facts.duration_s,
                    "recorded_at": facts.recorded_at.isoformat() if facts.recorded_at else None,
                },
                evidence=[stored.sha256],
            )
        return inserted

    def footage(self, principal: Principal, ref: str | int, token: str | None = None) -> dict:
        """The case's footage, oldest first, each with its step and (for ``token``'s holder) a
        playback link; the steps footage may be attached to; the size limit."""
        now = self.clock.now()
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
            items = self._footage_rows(conn, row["id"])
            steps = conn.execute(
                text(
                    "SELECT seq, action, at, actor_name FROM case_event WHERE case_id = :c "
                    "AND action <> ALL(:skip) ORDER BY seq"
                ),
                {"c": row["id"], "skip": list(NOT_A_STEP)},
            ).all()
        wf = self.workflow
        return {
            "case": row["number"],
            "max_mb": self.settings.max_footage_mb,
            "steps": [_step_item(s, wf) for s in steps],
            "footage": [self._footage_item(i, row["number"], principal, token, now) for i in items],
        }

    def _footage_rows(self, conn: Connection, case_id: int, sha: str | None = None) -> list:
        return conn.execute(
            text(
                f"SELECT {FOOTAGE_COLUMNS} FROM case_evidence e "
                "LEFT JOIN app_user u ON u.id = e.uploaded_by "
                "LEFT JOIN case_event s ON s.case_id = e.case_id AND s.seq = e.event_seq "
                "WHERE e.case_id = :c AND e.media_type LIKE 'video/%' "
                "AND (CAST(:s AS text) IS NULL OR e.sha256 = :s) ORDER BY e.id"
            ),
            {"c": case_id, "s": sha},
        ).all()

    def _footage_item(self, r, number: str, principal: Principal, token, now) -> dict:
        wf = self.workflow
        link = (
            sign(token, principal.id, number, r.sha256, now)
            if token and principal.id is not None
            else None
        )
        return {
            "sha256": r.sha256,
            "kind": FOOTAGE_KIND,
            "media_type": r.media_type,
            "filename": r.filename,
            "size": r.size,
            "width": r.width,
            "height": r.height,
            "recorded_at": r.recorded_at,
            "duration_s": r.duration_s,
            "step": {
                "seq": r.event_seq,
                "action": r.step_action,
                "label": wf.label_of(r.step_action) if r.step_action else None,
                "at": r.step_at,
            },
            "uploaded_at": r.uploaded_at,
            "uploaded_by": {"name": r.uploader_name, "role": r.uploader_role}
            if r.uploader_name
            else None,
            "playback": link,
        }

    def footage_file(self, principal: Principal, ref: str | int, sha: str) -> dict:
        """Where a video of the case lies on disk, to be read by ranges: path, size, media
        type, file name."""
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
            item = conn.execute(
                text(
                    "SELECT media_type, filename, size FROM case_evidence WHERE case_id = :c "
                    "AND sha256 = :s AND media_type LIKE 'video/%'"
                ),
                {"c": row["id"], "s": sha},
            ).first()
        if item is None:
            raise NotFoundError(
                f"案件 {row['number']} 中没有该执法记录仪视频，请刷新案件页后重试",
                code="footage.not_found",
                detail=f"case {row['number']} has no video {sha}",
            )
        path = self.store.on_disk().file_path(sha)
        return {
            "path": path,
            "size": path.stat().st_size,
            "media_type": item.media_type,
            "filename": item.filename,
            "sha256": sha,
        }

    def playback_user(self, ref: str, sha: str, user_id: int, expires: int, sig: str) -> Principal:
        """The user a playback link of the case's video was signed for (401 otherwise)."""
        with self.engine.connect() as conn:
            return checked_link(conn, ref, sha, user_id, expires, sig, self.clock.now())

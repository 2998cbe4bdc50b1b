"""Law-enforcement recorder footage (执法记录仪) on a case, over real HTTP on a real PostGIS, with
real videos made by ffmpeg and read by ffprobe:

* a video is streamed in as the raw body of a request, kept on disk by the evidence store (even
  where the evidence of the case is kept in the database), read for its length and the
  recorder's start, recorded on a step of the case with an ``add_evidence`` event, listed with
  a playback link that works without the token, and played back by HTTP ranges (206, 416);
* a video past the limit is refused 413 — at once when its length says so, and at the limit
  when it has none — and a file that is no video (a JPEG or a text named .mp4, audio) 422, each
  with a Chinese message, and nothing is kept;
* a 1 GiB video (a real MP4 followed by a top-level ``free`` box, sent from a generator) streams
  into a server running in a process of its own whose resident memory grows by less than
  50 MB, is read by ffprobe, and plays back by ranges byte for byte;
* ``weijian audit verify`` counts the footage and names a changed or missing file;
* the workbench's case page uploads a WebM with a progress bar, lists it and plays it in a
  ``<video>`` (screenshots at 1366 and 390 px in /tmp).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.casekit import COMPOUND, PASSWORD, served_city, site_photo
from tests.conftest import _free_port, login
from weijian.cases.evidence import EvidenceStore
from weijian.cases.footage import probe
from weijian.errors import InputError, NotFoundError, TooLarge
from weijian.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30
MIB = 1 << 20
STARTED = "2026-03-02T01:05:00Z"  # the recorder's start: 09:05 in Beijing
SHOTS = Path("/tmp")


# ------------------------------------------------------------------------------ the videos


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def mp4(path: Path, seconds: float, started: str | None = STARTED, colour: str = "") -> bytes:
    """A real H.264 MP4 from ffmpeg's test pattern, its index (moov) first as recorders'
    exports have it, with the recorder's start as ``creation_time``."""
    source = "testsrc=size=320x240:rate=25" if not colour else f"color=c={colour}:s=320x240:r=25"
    meta = ["-metadata", f"creation_time={started}"] if started else []
    ffmpeg("-f", "lavfi", "-i", source, "-t", str(seconds), "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", *meta, str(path))  # fmt: skip
    return path.read_bytes()


@dataclass(frozen=True)
class Videos:
    clip: bytes  # 3 s MP4 with its start
    second: bytes  # 1 s MP4, another colour
    warm: bytes  # 1 s MP4 without a start
    webm: Path  # 2 s VP8 WebM (Chromium here may lack H.264)
    audio: bytes  # an M4A: audio only
    photo: bytes  # a JPEG
    folder: Path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Videos:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.fail("recorder footage needs Debian's ffmpeg: apt-get install ffmpeg (./dev does)")
    folder = tmp_path_factory.mktemp("videos")
    webm = folder / "执法记录仪_20260302_0905.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "2", "-c:v", "libvpx",
           "-b:v", "300k", "-metadata", f"creation_time={STARTED}", str(webm))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "sine=duration=2", str(folder / "a.m4a"))
    return Videos(
        clip=mp4(folder / "clip.mp4", 3),
        second=mp4(folder / "second.mp4", 1, colour="teal"),
        warm=mp4(folder / "warm.mp4", 1, started=None, colour="navy"),
        webm=webm,
        audio=(folder / "a.m4a").read_bytes(),
        photo=site_photo(126.42, 41.94),
        folder=folder,
    )


def padded(head: bytes, total: int, hasher=None) -> Iterator[bytes]:
    """``head`` (an MP4) followed by a top-level ``free`` box of zeros up to ``total`` bytes —
    a file ffprobe still reads — generated a MiB at a time, hashed as it goes."""
    pad = total - len(head)
    assert 8 < pad < 1 << 32
    zeros = memoryview(bytes(MIB))
    for piece in (head, struct.pack(">I", pad) + b"free"):
        if hasher:
            hasher.update(piece)
        yield piece
    left = pad - 8
    while left:
        piece = zeros[: min(left, MIB)]
        if hasher:
            hasher.update(piece)
        yield bytes(piece)
        left -= len(piece)


def padded_bytes(head: bytes, total: int, first: int, last: int) -> bytes:
    """Bytes ``first``..``last`` of :func:`padded`, without making the rest."""
    box = head + struct.pack(">I", total - len(head)) + b"free"
    out = box[first : last + 1]
    return out + bytes(last + 1 - first - len(out))


# ------------------------------------------------------------------------------- the site


@dataclass
class Site:
    api: object
    engine: object
    number: str
    step: int  # the site visit's seq
    evidence: Path
    url: str  # the database's


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    """The hand-built city served with a 1 MB limit for footage and the evidence of cases kept
    in the database; a case reported, photographed and visited."""
    folder = tmp_path_factory.mktemp("footage")
    with served_city(folder, max_footage_mb=1, evidence_storage="database") as (api, engine):
        number = api.report("gridder", COMPOUND)["number"]
        photo = api.photo("ue_hj", number)
        api.act("ue_hj", number, "site_visit", evidence=[photo])
        step = next(
            e["seq"] for e in api.case("ue_hj", number)["events"] if e["action"] == "site_visit"
        )
        url = engine.url.render_as_string(hide_password=False)
        yield Site(api, engine, number, step, folder / "evidence", url)


def upload(base: str, auth: dict, number: str, content, filename: str, event, headers=None):
    """``POST …/footage`` of ``content`` (bytes or a generator) as ``auth``'s user."""
    params = {"filename": filename, "event": event} if event is not None else {"filename": filename}
    return httpx.post(
        f"{base}/api/v1/cases/{number}/footage",
        params=params,
        content=content,
        headers={**auth, "Content-Type": "video/mp4", **(headers or {})},
        timeout=600,
    )


def stored_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def evidence_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM case_evidence")).scalar_one()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def audit(monkeypatch, database_url: str, evidence: Path) -> tuple[int, dict]:
    """``weijian audit verify --json`` on the module's database and evidence folder."""
    from typer.testing import CliRunner

    from weijian.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WEIJIAN_EVIDENCE_DIR", str(evidence))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["audit", "verify", "--json"])
    finally:
        get_settings.cache_clear()
    return done.exit_code, json.loads(done.stdout)


# -------------------------------------------------------------------------------- the tests


def test_the_store_streams_a_file_in_refuses_it_past_the_limit_and_keeps_it_once(tmp_path):
    store = EvidenceStore(tmp_path / "evidence", "database").on_disk()
    pieces = [b"a" * 1000, b"b" * 1000, b"c" * 48]
    whole = b"".join(pieces)
    stored = store.put_stream(iter(pieces), len(whole))
    sha = hashlib.sha256(whole).hexdigest()
    assert stored == (sha, len(whole), f"{sha[:2]}/{sha}")
    assert store.file_path(sha).read_bytes() == whole
    assert store.put_stream(iter(pieces), len(whole)) == stored  # kept once
    seen = []
    with pytest.raises(TooLarge):
        store.put_stream(iter(pieces), len(whole) - 1)
    with pytest.raises(InputError):  # a check that refuses: nothing kept
        store.put_stream(
            iter([b"x" * 10]), 100, check=lambda path: seen.append(path) or probe(path)
        )
    assert seen and not seen[0].exists()
    incoming = tmp_path / "evidence" / ".incoming"
    old = incoming / ".stream-left.tmp"  # what a server stopped mid-upload left
    old.write_bytes(b"part")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    store.put_stream(iter([b"y"]), 1)
    assert list(incoming.iterdir()) == []
    assert [p.relative_to(store.root).as_posix() for p in stored_files(store.root)] == sorted(
        [stored.path, store.relative_path(hashlib.sha256(b"y").hexdigest())]
    )
    with pytest.raises(NotFoundError):
        store.file_path("0" * 64)


def test_a_recorder_video_is_kept_read_and_played_back_by_ranges(site: Site, videos: Videos):
    api, number = site.api, site.number
    clip = videos.clip
    r = upload(api.url, api.headers("ue_hj"), number, clip, "执法记录仪_0302.mp4", site.step)
    assert r.status_code == 201, r.text
    item = r.json()
    sha = hashlib.sha256(clip).hexdigest()
    assert item["sha256"] == sha and item["size"] == len(clip) and item["kind"] == "video"
    assert item["media_type"] == "video/mp4" and item["filename"] == "执法记录仪_0302.mp4"
    assert item["duration_s"] == pytest.approx(3.0, abs=0.05)
    assert at(item["recorded_at"]) == at(STARTED)
    assert (item["width"], item["height"]) == (320, 240)
    assert item["step"] == {
        "seq": site.step, "action": "site_visit", "label": "现场核查", "at": item["step"]["at"]
    }  # fmt: skip
    assert item["already_uploaded"] is False and item["case"] == number
    # its link works whatever the case was named by in the request (its number or its id)
    with site.engine.connect() as conn:
        case_id = conn.execute(
            text("SELECT id FROM violation_case WHERE number = :n"), {"n": number}
        ).scalar_one()
    by_id = upload(api.url, api.headers("ue_hj"), str(case_id), clip, "a.mp4", site.step).json()
    assert by_id["already_uploaded"] and by_id["play_url"] == item["play_url"]
    assert httpx.get(api.url + by_id["play_url"], headers={"Range": "bytes=0-3"}).status_code == 206

    # on disk by the evidence store, although this city keeps evidence in the database
    with site.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT storage, path, content IS NULL AS empty, event_seq, duration_s, "
                "recorded_at FROM case_evidence WHERE sha256 = :s"
            ),
            {"s": sha},
        ).one()
    assert (row.storage, row.path, row.empty, row.event_seq) == (
        "disk",
        f"{sha[:2]}/{sha}",
        True,
        site.step,
    )
    assert (site.evidence / sha[:2] / sha).read_bytes() == clip
    assert not list((site.evidence / ".incoming").iterdir())

    # in the case's history and its files, as a video
    case = api.case("ue_hj", number)
    last = case["events"][-1]
    assert last["action"] == "add_evidence" and last["evidence"] == [sha]
    assert last["data"]["kind"] == "video" and last["data"]["step"] == site.step
    (kept,) = [e for e in case["evidence"] if e["sha256"] == sha]
    assert kept["kind"] == "video" and kept["event_seq"] == site.step

    # listed with a playback link, which plays without the token
    listed = api.get(f"/api/v1/cases/{number}/footage", "ue_hj").json()
    assert listed["max_mb"] == 1 and [s["seq"] for s in listed["steps"]] == [1, site.step]
    (entry,) = [f for f in listed["footage"] if f["sha256"] == sha]
    link = api.url + entry["play_url"]
    whole = httpx.get(link)
    assert whole.status_code == 200 and whole.content == clip
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    for asked, first, last in (
        ("bytes=100-1099", 100, 1099),
        ("bytes=1000-", 1000, len(clip) - 1),
        ("bytes=-500", len(clip) - 500, len(clip) - 1),
        (f"bytes=0-{len(clip) * 2}", 0, len(clip) - 1),
    ):
        part = httpx.get(link, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == clip[first : last + 1], asked
        assert part.headers["content-range"] == f"bytes {first}-{last}/{len(clip)}"
    refused = httpx.get(link, headers={"Range": f"bytes={len(clip)}-{len(clip) + 10}"})
    assert refused.status_code == 416
    assert refused.headers["content-range"] == f"bytes */{len(clip)}"
    assert "超出文件范围" in refused.json()["message"]
    # with the token instead of a link
    direct = api.send(
        "GET", f"/api/v1/cases/{number}/footage/{sha}", "ue_hj", headers={"Range": "bytes=0-9"}
    )
    assert direct.status_code == 206 and direct.content == clip[:10]

    # a link opens that file of that case only, while its login lasts
    forged = link.replace(f"sig={entry['playback']['sig']}", "sig=" + "0" * 64)
    assert httpx.get(forged).json()["code"] == "footage.link_invalid"
    longer = link.replace(f"exp={entry['playback']['exp']}", f"exp={entry['playback']['exp'] + 60}")
    assert httpx.get(longer).status_code == 401
    assert httpx.get(link.split("?")[0]).status_code == 401
    token = login(api.url, "ue_hj", PASSWORD).json()["access_token"]
    mine = httpx.get(
        f"{api.url}/api/v1/cases/{number}/footage", headers={"Authorization": f"Bearer {token}"}
    )
    own_link = api.url + mine.json()["footage"][0]["play_url"]
    assert httpx.get(own_link, headers={"Range": "bytes=0-0"}).status_code == 206
    httpx.post(f"{api.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    gone = httpx.get(own_link, headers={"Range": "bytes=0-0"})
    assert gone.status_code == 401 and "播放链接无效" in gone.json()["message"]

    # someone who does not see the case sees no video
    other = api.send("GET", f"/api/v1/cases/{number}/footage/{sha}", "ue_jy")
    assert other.status_code == 404
    assert api.get(f"/api/v1/cases/{number}/footage", "ue_jy").status_code == 404
    # the download of a case's file does not read a video whole
    whole_file = api.get(f"/api/v1/cases/{number}/evidence/{sha}", "ue_hj")
    assert whole_file.status_code == 422 and whole_file.json()["code"] == "footage.use_playback"
    assert api.get(f"/api/v1/cases/{number}/evidence/{sha}", "ue_hj", thumb=320).status_code == 422
    # nor does it prove a step that needs a document
    events = len(case["events"])
    again = upload(api.url, api.headers("ue_hj"), number, clip, "副本.mp4", site.step)
    assert again.status_code == 201 and again.json()["already_uploaded"] is True
    assert len(api.case("ue_hj", number)["events"]) == events


def test_too_large_or_not_a_video_is_refused_and_nothing_is_kept(site: Site, videos: Videos):
    api, number = site.api, site.number
    headers = api.headers("ue_hj")
    files, rows = stored_files(site.evidence), evidence_rows(site.engine)

    # announced past the 1 MB limit: 413 before the body is read
    parts = urlsplit(api.url)
    head = (
        f"POST /api/v1/cases/{number}/footage?filename=a.mp4&event={site.step} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\nContent-Type: video/mp4\r\n"
        f"Content-Length: {2 * MIB}\r\nAuthorization: {headers['Authorization']}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode() + videos.clip[:1000])
        answer = sock.recv(65536).decode("utf-8", "replace")
    assert answer.startswith("HTTP/1.1 413") and "最多接受 1 MB" in answer, answer

    # sent without a length: counted, and refused at the limit
    r = upload(api.url, headers, number, padded(videos.clip, 2 * MIB), "大视频.mp4", site.step)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "footage.too_large"
    assert "“大视频.mp4”超过 1 MB 上限" in r.json()["message"]

    # not a video, whatever its name says
    for content, name, words in (
        (videos.photo, "现场.mp4", "JPEG 图片"),
        ("这不是视频\n".encode() * 100, "说明.mp4", "纯文本文件"),
        (videos.audio, "录音.mp4", "没有视频画面"),
        (b"", "空.mp4", "空文件"),
        (b"#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n", "列表.mp4", "纯文本"),
        (os.urandom(4096), "乱码.mp4", "无法识别为视频"),
    ):
        r = upload(api.url, headers, number, content, name, site.step)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["code"] == "footage.not_video", name
        assert words in r.json()["message"] and f"“{name}”" in r.json()["message"], r.json()

    # a step of the case, seen by the user, logged in
    for event, code in (
        (99, "footage.step_unknown"),
        (2, "footage.not_a_step"),
        (None, "request.invalid"),
    ):
        r = upload(api.url, headers, number, videos.second, "b.mp4", event)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
    r = upload(api.url, api.headers("ue_jy"), number, videos.second, "b.mp4", site.step)
    assert r.status_code == 404 and "未找到案件" in r.json()["message"]
    r = upload(api.url, {}, number, videos.second, "b.mp4", site.step)
    assert r.status_code == 401 and "请先登录" in r.json()["message"]
    # a JSON body is no video's size
    r = upload(api.url, headers, number, b"{}" + bytes(2 * MIB), "c.mp4", site.step,
               headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413

    assert stored_files(site.evidence) == files
    assert evidence_rows(site.engine) == rows


def test_audit_verify_counts_footage_and_names_a_changed_or_missing_file(
    site: Site, videos: Videos, monkeypatch
):
    api = site.api
    r = upload(api.url, api.headers("ue_hj"), site.number, videos.second, "第二段.mp4", site.step)
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    code, result = audit(monkeypatch, site.url, site.evidence)
    assert code == 0, result["problems"]
    with site.engine.connect() as conn:
        files, size = conn.execute(
            text("SELECT count(*), sum(size) FROM case_evidence WHERE media_type LIKE 'video/%'")
        ).one()
        # footage is evidence of its own kind (migration 0019), never a document
        kinds = conn.execute(
            text("SELECT DISTINCT kind FROM case_evidence WHERE media_type LIKE 'video/%'")
        ).scalars()
        assert list(kinds) == ["video"]
    assert result["footage"] == {"files": files, "bytes": size}
    path = site.evidence / sha[:2] / sha
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        code, result = audit(monkeypatch, site.url, site.evidence)
        assert code == 1
        (problem,) = result["problems"]
        assert problem["case"] == site.number
        assert problem["problem"].startswith(f"recorder footage {sha[:12]}…: content changed")
        path.unlink()
        code, result = audit(monkeypatch, site.url, site.evidence)
        assert code == 1 and result["problems"][0]["problem"].endswith(": missing")
    finally:
        path.write_bytes(original)
    assert audit(monkeypatch, site.url, site.evidence)[0] == 0


# ---------------------------------------------------------------- a server of its own, 1 GiB


@contextmanager
def server_process(database_url: str, evidence: Path, log: Path) -> Iterator[tuple[str, int]]:
    """The app in a uvicorn process of its own (its memory measured apart from the tests'),
    with the default limits: its base URL and process id."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEIJIAN_EVIDENCE_DIR": str(evidence),
        "WEIJIAN_EVIDENCE_STORAGE": "database",
    }
    env.pop("WEIJIAN_MAX_FOOTAGE_MB", None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "weijian.api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-proxy-headers"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


class Sampler(threading.Thread):
    """The largest VmRSS of a process, sampled every 50 ms while it runs."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, memory_kib(self.pid)["VmRSS"])
            time.sleep(0.05)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


def test_a_1gib_video_streams_in_without_the_server_growing_and_plays_back(
    site: Site, videos: Videos, tmp_path, monkeypatch
):
    hasher = hashlib.sha256()
    try:
        streamed_in_a_server_of_its_own(site, videos, tmp_path, hasher)
        # weijian audit verify counts it and checks its bytes
        started = time.monotonic()
        code, result = audit(monkeypatch, site.url, site.evidence)
        print(f"audit verify: {time.monotonic() - started:.1f} s")
        assert code == 0, result["problems"]
        assert result["footage"]["files"] >= 2 and result["footage"]["bytes"] > GIB
    finally:  # a GiB is not left behind in the kept temporary folders
        sha = hasher.hexdigest()
        (site.evidence / sha[:2] / sha).unlink(missing_ok=True)


def streamed_in_a_server_of_its_own(site: Site, videos: Videos, tmp_path: Path, hasher) -> None:
    with server_process(site.url, site.evidence, tmp_path / "server.log") as (base, pid):
        headers = {
            "Authorization": "Bearer " + login(base, "ue_hj", PASSWORD).json()["access_token"]
        }
        # the code of an upload run once (ffprobe, the store's folders) before measuring
        warm = upload(base, headers, site.number, videos.warm, "预热.mp4", site.step)
        assert warm.status_code == 201, warm.text
        assert warm.json()["recorded_at"] is None  # a file without a start says so
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM from here
        before = memory_kib(pid)
        sampler = Sampler(pid)
        sampler.start()
        started = time.monotonic()
        body = padded(videos.clip, GIB, hasher)
        r = upload(base, headers, site.number, body, "执法记录仪_1GiB.mp4", site.step,
                   headers={"Content-Length": str(GIB)})  # fmt: skip
        took = time.monotonic() - started
        peak_rss = sampler.stop()
        after = memory_kib(pid)
        assert r.status_code == 201, r.text
        grown_mb = (after["VmHWM"] - before["VmRSS"]) / 1024
        print(
            f"\n1 GiB streamed in {took:.1f} s ({GIB / MIB / took:.0f} MiB/s); server RSS "
            f"{before['VmRSS'] / 1024:.0f} MB before, peak {after['VmHWM'] / 1024:.0f} MB "
            f"(sampled {peak_rss / 1024:.0f} MB): grew {grown_mb:.1f} MB"
        )
        assert grown_mb < 50, (before, after)
        item = r.json()
        sha = hasher.hexdigest()
        assert item["sha256"] == sha and item["size"] == GIB
        # ffprobe still reads it: the MP4's length and the recorder's start
        assert item["duration_s"] == pytest.approx(3.0, abs=0.05)
        assert at(item["recorded_at"]) == at(STARTED)
        assert (site.evidence / sha[:2] / sha).stat().st_size == GIB

        # played back by ranges, byte for byte, from the link the list gives
        listed = httpx.get(f"{base}/api/v1/cases/{site.number}/footage", headers=headers).json()
        (entry,) = [f for f in listed["footage"] if f["sha256"] == sha]
        link = base + entry["play_url"]
        player = httpx.Client(timeout=60)  # as a browser plays: one connection, kept alive
        for first, last in (
            (0, 4095),  # the MP4's index
            (len(videos.clip) - 100, len(videos.clip) + 100),  # across into the free box
            (GIB // 2, GIB // 2 + MIB - 1),
            (GIB - MIB, GIB - 1),  # the last MiB
        ):
            started = time.monotonic()
            part = player.get(link, headers={"Range": f"bytes={first}-{last}"})
            ms = (time.monotonic() - started) * 1000
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes {first}-{last}/{GIB}"
            assert part.content == padded_bytes(videos.clip, GIB, first, last), (first, last)
            print(f"range {first}-{last} ({last - first + 1} bytes): {ms:.0f} ms")
        assert player.get(link, headers={"Range": f"bytes={GIB}-"}).status_code == 416
        player.close()


# -------------------------------------------------------------------------------- the page


PAGES = {
    "desk": {"viewport": {"width": 1366, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}


def test_the_case_page_uploads_lists_and_plays_footage(site: Site, videos: Videos, browser):
    from tests.test_workbench_browser import Bench

    api = site.api
    number = api.report("gridder", COMPOUND, description="院内私建板房")["number"]
    api.act("ue_hj", number, "site_visit", evidence=[api.photo("ue_hj", number)])
    bench = Bench(browser, api.url, "ue_hj", PAGES["desk"])
    try:
        bench.open(number)
        page = bench.page
        page.wait_for_selector("#footage h2:text-is('执法记录仪视频')")
        # the site visit is offered as the step, the latest first
        assert "现场核查" in page.inner_text("#footage-step option:checked")
        page.set_input_files("#footage-file", str(videos.webm))
        assert "执法记录仪_20260302_0905.webm" in page.inner_text("#footage")
        # on a slow line: the progress bar moves, and the upload may be cancelled
        cdp = bench.context.new_cdp_session(page)
        cdp.send("Network.enable")
        slow = {"offline": False, "latency": 20, "downloadThroughput": 10_000_000}
        cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": 10_000})
        page.click("#footage-upload")
        page.wait_for_selector(".footage-progress:not([hidden])")
        bench.wait("document.querySelector('.footage-progress progress').value > 0.1")
        assert "已上传" in page.inner_text(".footage-status")
        page.locator("#footage-form").screenshot(path=str(SHOTS / "footage-1366-progress.png"))
        page.click(".footage-cancel")
        page.wait_for_selector("#toasts :text('已取消上传，视频未保存')")
        cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
        deadline = time.monotonic() + 10
        while list((site.evidence / ".incoming").iterdir()):  # the server let go of the part
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert page.locator("#footage-list .footage-item").count() == 0
        page.click("#footage-upload")
        bench.wait(
            "document.querySelectorAll('#footage-list .footage-item').length === 1", timeout=60000
        )
        bench.settle()
        bench.wait(
            "(() => { const v = document.querySelector('#footage-list video');"
            " return v && v.readyState >= 1 && v.duration > 0; })()",
            timeout=30000,
        )
        duration = bench.js("document.querySelector('#footage-list video').duration")
        assert duration == pytest.approx(2.0, abs=0.1)
        item = page.inner_text("#footage-list .footage-item")
        assert "2026年3月2日 09:05" in item and "0:02" in item and "现场核查" in item
        sha = hashlib.sha256(videos.webm.read_bytes()).hexdigest()
        assert sha[:12] in item
        # the history shows the upload as a video, which opens the player rather than a download
        assert "视频" in page.inner_text(f"#timeline .file[data-sha='{sha}']")
        page.screenshot(path=str(SHOTS / "footage-1366.png"), full_page=True)
        page.locator("#footage").screenshot(path=str(SHOTS / "footage-1366-panel.png"))
        bench.check_clean()
    finally:
        bench.close()

    # on a phone, under the page's own Content-Security-Policy (the other browser tests set it
    # aside): the playback link is a source the policy allows
    context = browser.new_context(locale="zh-CN", bypass_csp=False, **PAGES["phone"])
    try:
        page = context.new_page()
        refused, errors = [], []
        page.on(
            "console", lambda m: refused.append(m.text) if "Content Security" in m.text else None
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{api.url}/work/cases/{number}")
        page.fill("#login input[name=username]", "ue_hj")
        page.fill("#login input[name=password]", PASSWORD)
        page.click("#login button[type=submit]")
        loaded = "(() => { const v = document.querySelector('#footage-list video');"
        loaded += " return !!v && v.readyState >= 1 && v.duration > 0; })()"
        deadline = time.monotonic() + 30
        while not page.evaluate(loaded):  # evaluated by the browser's tools: no eval in the page
            assert time.monotonic() < deadline, "the video did not load under the CSP"
            time.sleep(0.2)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        page.locator("#footage").screenshot(path=str(SHOTS / "footage-390-panel.png"))
        page.screenshot(path=str(SHOTS / "footage-390.png"), full_page=True)
        assert refused == [] and errors == [], (refused, errors)
    finally:
        context.close()

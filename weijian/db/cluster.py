"""The embedded default database: a project-local PostgreSQL + PostGIS cluster.

It lives in a git-ignored folder of the checkout (``.weijian/pg``), listens on a free loopback
port with a generated password, and is started on demand by every command that needs a
database while ``DATABASE_URL`` is unset. As root it runs under a non-root system user, because
PostgreSQL refuses to run as root; missing binaries are installed through apt when we are root,
otherwise we stop and print the exact command to run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from weijian.errors import EnvironmentProblem

SERVICE_USER = "weijian"
DATABASE_NAME = "weijian"
DB_SUPERUSER = "weijian"
POSTGRES_ROOT = Path("/usr/lib/postgresql")
EXTENSION_ROOT = Path("/usr/share/postgresql")
DEFAULT_PG_MAJOR = 15  # Debian 12


def shared_buffers_mb(memory_bytes: int | None = None) -> int:
    """PostgreSQL's own cache: an eighth of the machine's memory (the server shares the machine
    with the app's workers and needs the OS page cache too), between 256 MB and 4 GB. A town's
    ledger reads some 50,000 pages of cases and events: at 256 MB they evicted each other on
    every download, and each page was read again from the OS (a million-case city's ledger
    took 0.2 s more)."""
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            memory_bytes = 0
    return max(256, min(4096, memory_bytes // 8 // 2**20))


SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": f"{shared_buffers_mb()}MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
    "max_connections": "100",
    # as the app's connections ask (``db.engine.CONNECT_ARGS``), for every other client too
    "jit": "off",
    # every acknowledged commit survives a crash of the database or of the machine: the WAL is
    # flushed to disk before a commit returns (never `synchronous_commit=off`)
    "synchronous_commit": "on",
    "fsync": "on",
    "full_page_writes": "on",
    # group commit: when at least 4 other transactions are active, a commit waits 200 µs so
    # that one WAL flush serves the commits arriving together (many grid workers at once)
    "commit_delay": "200",
    "commit_siblings": "4",
}


def archive_options(archive: Path) -> str:
    """The server settings that archive every finished WAL segment to ``archive`` (never
    overwriting one there), within a minute even when little is written."""
    command = f"test ! -f {archive}/%f && cp %p {archive}/%f"
    return (
        "-c wal_level=replica -c archive_mode=on -c archive_timeout=60 "
        f"-c 'archive_command={command}'"
    )


@dataclass
class ClusterState:
    run_dir: str
    port: int
    password: str
    bin_dir: str
    archive_dir: str | None = None  # where the WAL is archived (point-in-time recovery)

    @property
    def data_dir(self) -> Path:
        return Path(self.run_dir) / "data"

    @property
    def log_file(self) -> Path:
        return Path(self.run_dir) / "postgres.log"

    def url(self, database: str = DATABASE_NAME) -> str:
        return (
            f"postgresql+psycopg://{DB_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"
        )


def is_root() -> bool:
    return os.geteuid() == 0


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL server whose PostGIS extension is installed."""
    if not POSTGRES_ROOT.is_dir():
        return None
    majors = sorted(
        (int(p.name) for p in POSTGRES_ROOT.iterdir() if p.name.isdigit()), reverse=True
    )
    for major in majors:
        bin_dir = POSTGRES_ROOT / str(major) / "bin"
        control = EXTENSION_ROOT / str(major) / "extension" / "postgis.control"
        if (bin_dir / "postgres").exists() and (bin_dir / "initdb").exists() and control.exists():
            return bin_dir
    return None


def postgis_package() -> str:
    """The Debian package that brings PostGIS for the server already installed, if any."""
    majors = []
    if POSTGRES_ROOT.is_dir():
        majors = sorted(int(p.name) for p in POSTGRES_ROOT.iterdir() if p.name.isdigit())
    major = majors[-1] if majors else DEFAULT_PG_MAJOR
    return f"postgresql-{major}-postgis-3"


def ensure_binaries(log=print) -> Path:
    bin_dir = find_bin_dir()
    if bin_dir:
        return bin_dir
    package = postgis_package()
    command = f"apt-get update && apt-get install -y {package}"
    if not is_root():
        raise EnvironmentProblem(
            f"本机没有安装带 PostGIS 的 PostgreSQL。请以管理员身份运行 `sudo sh -c '{command}'`，"
            "或将 DATABASE_URL 设为已有的 PostGIS 数据库",
            code="database.postgis_missing",
            detail="PostgreSQL with PostGIS is not installed on this machine.",
            hint=f"run `sudo sh -c '{command}'`, or set DATABASE_URL to an existing PostGIS "
            "(postgresql+psycopg://user:password@host:5432/dbname)",
        )
    if not shutil.which("apt-get"):
        raise EnvironmentProblem(
            "本机没有安装带 PostGIS 的 PostgreSQL，也没有 apt-get。请用系统的包管理器安装 "
            "PostgreSQL 13 或更高版本及 PostGIS 3，或将 DATABASE_URL 设为已有的 PostGIS 数据库",
            code="database.postgis_missing",
            detail="PostgreSQL with PostGIS is not installed and this machine has no apt-get.",
            hint="install PostgreSQL ≥ 13 with PostGIS 3 by the system's package manager, "
            "or set DATABASE_URL to an existing PostGIS",
        )
    log(f"PostgreSQL/PostGIS missing: installing {package} through apt (as root) …")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise EnvironmentProblem(
                f"安装 {package} 时命令 `{' '.join(args)}` 执行失败。"
                f"请手动运行 `{command}` 并查看其输出",
                code="database.install_failed",
                detail=f"`{' '.join(args)}` failed:\n{done.stderr.strip()[-2000:]}",
                hint=f"run `{command}` by hand and read its message",
            )
    bin_dir = find_bin_dir()
    if not bin_dir:
        raise EnvironmentProblem(
            f"已安装 {package}，但在 {POSTGRES_ROOT} 下找不到带 PostGIS 的 PostgreSQL 服务器。"
            f"请用 `dpkg -L {package}` 检查安装的文件",
            code="database.postgis_not_found",
            detail=f"{package} was installed but no PostgreSQL server with PostGIS was found "
            f"under {POSTGRES_ROOT}.",
            hint="check `dpkg -L " + package + "`",
        )
    return bin_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether PostgreSQL could listen on ``port``: like it, with SO_REUSEADDR, so that the
    connections a stopped server leaves in TIME_WAIT do not count as taking the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class EmbeddedCluster:
    """The cluster under ``home`` (normally ``<checkout>/.weijian``)."""

    def __init__(self, home: Path, log=print):
        self.home = Path(home).resolve()
        self.state_file = self.home / "cluster.json"
        self.log = log

    # -- state ---------------------------------------------------------------------------
    def load_state(self) -> ClusterState | None:
        if not self.state_file.exists():
            return None
        return ClusterState(**json.loads(self.state_file.read_text()))

    def _save_state(self, state: ClusterState) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(asdict(state), indent=2))
        self.state_file.chmod(0o600)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "cluster.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- running commands as the right user -------------------------------------------------
    def _as_service_user(self, args: list[str]) -> list[str]:
        if is_root():
            return ["runuser", "-u", SERVICE_USER, "--", *args]
        return args

    def _run(
        self, args: list[str], check: bool = True, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            self._as_service_user(args),
            capture_output=True,
            text=True,
            cwd="/",
            env={**os.environ, **env} if env else None,
        )
        if check and done.returncode != 0:
            log = self.load_state().log_file if self.load_state() else self.home
            raise EnvironmentProblem(
                f"内置数据库的命令 `{' '.join(args)}` 执行失败（退出码 {done.returncode}）。"
                f"请查看 {log} 中的记录",
                code="database.command_failed",
                detail=f"`{' '.join(args)}` failed (exit {done.returncode}):\n"
                f"{(done.stderr or done.stdout).strip()[-3000:]}",
                hint=f"see {log}",
            )
        return done

    def _ensure_service_user(self) -> None:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--comment",
                    "weijian embedded PostgreSQL",
                    SERVICE_USER,
                ],
                check=True,
                capture_output=True,
            )

    def _choose_run_dir(self) -> Path:
        """``.weijian/pg`` in the checkout; as root, a folder under /var/lib when the service
        user cannot reach the checkout (e.g. a clone under /root)."""
        run_dir = self.home / "pg"
        run_dir.mkdir(parents=True, exist_ok=True)
        if not is_root():
            return run_dir
        user = pwd.getpwnam(SERVICE_USER)
        os.chown(run_dir, user.pw_uid, user.pw_gid)
        reachable = (
            subprocess.run(
                ["runuser", "-u", SERVICE_USER, "--", "test", "-w", str(run_dir)]
            ).returncode
            == 0
        )
        if reachable:
            return run_dir
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        run_dir = Path("/var/lib/weijian") / digest
        run_dir.mkdir(parents=True, exist_ok=True)
        os.chown(run_dir, user.pw_uid, user.pw_gid)
        self.log(f"{self.home} is not reachable by user {SERVICE_USER}; cluster in {run_dir}")
        return run_dir

    # -- lifecycle ---------------------------------------------------------------------------
    def init(self, port: int | None = None) -> ClusterState:
        bin_dir = ensure_binaries(self.log)
        if is_root():
            self._ensure_service_user()
        run_dir = self._choose_run_dir()
        state = ClusterState(
            run_dir=str(run_dir),
            port=port or free_port(),
            password=secrets.token_urlsafe(18),
            bin_dir=str(bin_dir),
        )
        data_dir = state.data_dir
        if data_dir.exists():
            shutil.rmtree(data_dir)
        pwfile = run_dir / "initdb.pw"
        pwfile.write_text(state.password + "\n")
        if is_root():
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        self.log(f"creating a PostgreSQL cluster in {data_dir} …")
        try:
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    DB_SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._save_state(state)
        return state

    def is_running(self, state: ClusterState | None = None) -> bool:
        state = state or self.load_state()
        if not state or not state.data_dir.exists():
            return False
        done = self._run(
            [str(Path(state.bin_dir) / "pg_ctl"), "status", "-D", str(state.data_dir)],
            check=False,
        )
        return done.returncode == 0

    def _service_dir(self, path: Path, what: str) -> Path:
        """``path`` made (and given to the service user when we are root), checked writable
        by the database server."""
        path = Path(path).resolve()
        if "'" in str(path) or " " in str(path):
            raise EnvironmentProblem(
                f"{what}目录 {path} 的路径含空格或引号，请换一个目录",
                code="database.dir_invalid",
                detail=f"{path}: choose a path without spaces or quotes",
            )
        path.mkdir(parents=True, exist_ok=True)
        if is_root():
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(path, user.pw_uid, user.pw_gid)
            path.chmod(0o700)
        if self._run(["test", "-w", str(path)], check=False).returncode != 0:
            raise EnvironmentProblem(
                f"{what}目录 {path} 不能被数据库服务用户 {SERVICE_USER} 写入，"
                "请选择该用户可以访问的目录（如 /var/lib/weijian 下）",
                code="database.dir_unreachable",
                detail=f"{path} is not writable by the database's service user {SERVICE_USER}",
                hint="choose a folder under /var/lib/weijian, or one every parent of which the "
                "user may enter",
            )
        return path

    def start(self, port: int | None = None, archive: Path | None = None) -> ClusterState:
        """Start the cluster (created on first use) on the port it was given when created, so
        that a running application finds it again after a restart; ``port`` moves it.
        ``archive``: a folder the WAL is archived to from now on (kept for later starts) —
        what point-in-time recovery replays (:meth:`recover`)."""
        with self._lock():
            state = self.load_state()
            if state and not (state.data_dir / "PG_VERSION").exists():
                state = None
            if state and not Path(state.bin_dir, "postgres").exists():
                state.bin_dir = str(ensure_binaries(self.log))
            if state is None:
                state = self.init(port)
            if archive is not None:
                archive = self._service_dir(archive, "WAL 归档")
            if self.is_running(state):
                if archive is not None and str(archive) != state.archive_dir:
                    raise EnvironmentProblem(
                        "内置数据库正在运行，开启 WAL 归档需要重启：请先 weijian db stop，"
                        f"再 weijian db start --archive {archive}",
                        code="database.archive_while_running",
                        detail="archiving starts with a restart: stop the database first",
                        hint=f"weijian db stop && weijian db start --archive {archive}",
                    )
                if port is not None and port != state.port:
                    raise EnvironmentProblem(
                        f"内置数据库正在端口 {state.port} 上运行，请先停止，再改用端口 {port}"
                        f"（weijian db stop && weijian db start --port {port}）",
                        code="database.move_while_running",
                        detail=f"the embedded database is running on port {state.port}; "
                        f"stop it before moving it to {port}.",
                        hint="weijian db stop && weijian db start --port " + str(port),
                    )
                return state
            if port is not None:
                state.port = port
            if not port_is_free(state.port):
                raise EnvironmentProblem(
                    f"内置数据库的端口 {state.port} 已被其他程序占用：请停止该程序，"
                    "或用 weijian db start --port 端口号 更换端口",
                    code="database.port_taken",
                    detail=f"port {state.port} of 127.0.0.1, where the embedded database listens, "
                    "is taken by another program.",
                    hint="stop that program (`ss -ltnp | grep :"
                    f"{state.port}` names it), or move the database with "
                    "`weijian db start --port N` (servers started before must be restarted)",
                )
            if archive is not None:
                state.archive_dir = str(archive)
            self._save_state(state)
            options = " ".join(
                f"-c {k}={v!s}" if v else f"-c {k}=''" for k, v in SERVER_SETTINGS.items()
            )
            if state.archive_dir:
                options += " " + archive_options(Path(state.archive_dir))
            self._run(
                [
                    str(Path(state.bin_dir) / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(state.data_dir),
                    "-l",
                    str(state.log_file),
                    "-o",
                    f"-p {state.port} {options}",
                ]
            )
            self._ensure_database(state)
            return state

    def _ensure_database(self, state: ClusterState) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(
                    host="127.0.0.1",
                    port=state.port,
                    user=DB_SUPERUSER,
                    password=state.password,
                    dbname="postgres",
                    autocommit=True,
                )
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def _running(self) -> ClusterState:
        state = self.load_state()
        if not state or not self.is_running(state):
            raise EnvironmentProblem(
                "内置数据库没有运行，请先 weijian db start",
                code="database.not_running",
                detail="the embedded database is not running",
            )
        return state

    def _base_backup(self, state: ClusterState, target: Path, *extra: str) -> None:
        """``pg_basebackup`` of the cluster ``state`` describes into ``target``, the WAL it
        needs streamed in."""
        self._run(
            [str(Path(state.bin_dir) / "pg_basebackup"), "-h", "127.0.0.1", "-p",
             str(state.port), "-U", DB_SUPERUSER, "-D", str(target), "-Fp", "-X", "stream",
             "-c", "fast", "--no-password", *extra],
            env={"PGPASSWORD": state.password},
        )  # fmt: skip

    def base_backup(self, target: Path) -> dict:
        """A base backup of the running cluster (``pg_basebackup``, the WAL it needs streamed
        in) into the empty folder ``target``: where point-in-time recovery starts."""
        state = self._running()
        target = self._service_dir(target, "基础备份")
        if any(target.iterdir()):
            raise EnvironmentProblem(
                f"基础备份目录 {target} 不是空的，请换一个新目录",
                code="database.base_not_empty",
                detail=f"{target} is not empty",
            )
        self._base_backup(state, target)
        return {"base": str(target), "archive": state.archive_dir}

    def make_replica(self, replica_home: Path, port: int | None = None) -> EmbeddedCluster:
        """A streaming replica of this (running) cluster, PostgreSQL's own: a base backup
        with ``-R`` (``standby.signal`` and the primary's address written in), started as a
        hot standby on its own loopback port; its state lives in ``replica_home``."""
        primary = self._running()
        replica = EmbeddedCluster(replica_home, log=self.log)
        with replica._lock():
            state = ClusterState(
                run_dir=str(replica._choose_run_dir()),
                port=port or free_port(),
                password=primary.password,
                bin_dir=primary.bin_dir,
            )
            if state.data_dir.exists():
                shutil.rmtree(state.data_dir)
            self._base_backup(primary, state.data_dir, "-R")
            replica._save_state(state)
        replica.start()
        return replica

    def recover(self, base: Path, until: datetime) -> dict:
        """The cluster replaced by ``base`` (a :meth:`base_backup`) replayed from the WAL
        archive up to the moment ``until`` (e.g. ``2026-12-05 10:30:00+08``), then opened for
        writing. The data folder it replaces is kept beside it."""
        state = self.load_state()
        if not state or not state.archive_dir:
            raise EnvironmentProblem(
                "内置数据库没有开启 WAL 归档，无法恢复到指定时刻；"
                "请先用 weijian db start --archive 目录 开启归档并做基础备份",
                code="database.no_archive",
                detail="point-in-time recovery needs the WAL archive (db start --archive)",
            )
        base = Path(base).resolve()
        if not (base / "PG_VERSION").is_file():
            raise EnvironmentProblem(
                f"{base} 不是基础备份目录（缺少 PG_VERSION），"
                "请指定 weijian db basebackup 生成的目录",
                code="database.base_invalid",
                detail=f"{base} is not a base backup",
            )
        self.stop()
        kept = state.data_dir.with_name(f"data.before-recovery-{int(time.time())}")
        if state.data_dir.exists():
            state.data_dir.rename(kept)
        self._run(["cp", "-a", str(base), str(state.data_dir)])
        archive = Path(state.archive_dir)
        with (state.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"\nrestore_command = 'cp {archive}/%f %p'\n"
                f"recovery_target_time = '{until.isoformat(sep=' ')}'\n"
                "recovery_target_action = 'promote'\n"
            )
        signal = state.data_dir / "recovery.signal"
        signal.touch()
        if is_root():
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(signal, user.pw_uid, user.pw_gid)
        self.start()
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=state.port, user=DB_SUPERUSER, password=state.password,
            dbname="postgres", autocommit=True,
        ) as conn:  # fmt: skip
            # pg_ctl returns once reads are served; the replay goes on up to the moment, then
            # the server is promoted and takes writes
            deadline = time.monotonic() + 600
            while conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(
                        f"恢复到 {until} 未在 10 分钟内完成，请查看 {state.log_file}",
                        code="database.recovery_slow",
                        detail=f"recovery to {until} did not finish within 10 minutes",
                        hint=f"see {state.log_file}",
                    )
                time.sleep(0.2)
            for name in ("restore_command", "recovery_target_time", "recovery_target_action"):
                conn.execute(f"ALTER SYSTEM RESET {name}")
            conn.execute("SELECT pg_reload_conf()")
        return {"recovered_to": until.isoformat(), "previous_data": str(kept)}

    def stop(self) -> bool:
        with self._lock():
            state = self.load_state()
            if not state or not self.is_running(state):
                return False
            self._run(
                [
                    str(Path(state.bin_dir) / "pg_ctl"),
                    "stop",
                    "-w",
                    "-m",
                    "fast",
                    "-D",
                    str(state.data_dir),
                ]
            )
            return True

    def status(self) -> dict:
        state = self.load_state()
        if not state:
            return {"initialised": False, "running": False, "home": str(self.home)}
        running = self.is_running(state)
        version = None
        pg_version = state.data_dir / "PG_VERSION"
        if pg_version.exists():
            version = pg_version.read_text().strip()
        return {
            "initialised": True,
            "running": running,
            "data_dir": str(state.data_dir),
            "port": state.port,
            "postgres_major": version,
            "log": str(state.log_file),
            "url": re.sub(r":[^:@/]+@", ":***@", state.url()),
        }

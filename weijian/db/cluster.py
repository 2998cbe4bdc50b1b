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
from pathlib import Path

from weijian.errors import EnvironmentProblem

SERVICE_USER = "weijian"
DATABASE_NAME = "weijian"
DB_SUPERUSER = "weijian"
POSTGRES_ROOT = Path("/usr/lib/postgresql")
EXTENSION_ROOT = Path("/usr/share/postgresql")
DEFAULT_PG_MAJOR = 15  # Debian 12
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
    "max_connections": "100",
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


@dataclass
class ClusterState:
    run_dir: str
    port: int
    password: str
    bin_dir: str

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

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(self._as_service_user(args), capture_output=True, text=True, cwd="/")
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

    def start(self, port: int | None = None) -> ClusterState:
        """Start the cluster (created on first use) on the port it was given when created, so
        that a running application finds it again after a restart; ``port`` moves it."""
        with self._lock():
            state = self.load_state()
            if state and not (state.data_dir / "PG_VERSION").exists():
                state = None
            if state and not Path(state.bin_dir, "postgres").exists():
                state.bin_dir = str(ensure_binaries(self.log))
            if state is None:
                state = self.init(port)
            if self.is_running(state):
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
            self._save_state(state)
            options = " ".join(
                f"-c {k}={v!s}" if v else f"-c {k}=''" for k, v in SERVER_SETTINGS.items()
            )
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

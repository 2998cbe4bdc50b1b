"""One settings class for the whole product, read once from the environment.

Variables carry the ``WEIJIAN_`` prefix, except ``DATABASE_URL`` which other systems already set.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the checkout (or installation) root: the folder that holds the ``weijian`` package
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIJIAN_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "WEIJIAN_DATABASE_URL"),
        description="SQLAlchemy URL of an existing PostGIS; unset → the embedded cluster",
    )
    database_replica_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_REPLICA_URL", "WEIJIAN_DATABASE_REPLICA_URL"),
        description="SQLAlchemy URL of a streaming replica of the database: the jurisdiction "
        "snapshot and the map's case table are read there (the writes, LISTEN and the check "
        "of what changed stay on the primary)",
    )
    replica_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a reload waits for the replica to replay a change before it "
        "keeps the snapshot it has and tries again later",
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".weijian",
        description="state of the embedded cluster and other local files (git-ignored)",
    )
    samples_dir: Path = Field(default=PROJECT_ROOT / "data" / "samples")
    shared_data_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data",
        description="third-party reference data (Baishan districts, DBF cases), when present",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: int = 512

    # hostile files: what an import reads at most (gis/readers.py, gis/integrity.py)
    max_extract_mb: int = Field(
        default=2048,
        description="a zip's members together at most this many MB once extracted, and at "
        "most max_extract_factor times the archive (never less than 64 MB)",
    )
    max_extract_factor: int = Field(
        default=20, description="a zip's extracted total at most this many times its size"
    )
    max_zip_ratio: int = Field(
        default=100,
        description="one zip member (over 1 MB) expands at most this many times its "
        "compressed size",
    )
    max_features: int = Field(default=2_000_000, description="features in one imported file")
    max_feature_vertices: int = Field(
        default=500_000, description="vertices in one imported feature; more is refused"
    )
    max_json_depth: int = Field(
        default=64, description="nesting of arrays and objects in an imported GeoJSON"
    )

    # cases
    evidence_storage: Literal["disk", "database"] = Field(
        default="disk", description="where evidence bytes live: files on disk, or a bytea column"
    )
    evidence_dir: Path | None = Field(
        default=None, description="folder of evidence files (default: <home>/evidence)"
    )
    max_evidence_mb: float = Field(default=20.0, description="largest photo or document accepted")
    document_templates: Path | None = Field(
        default=None,
        description="folder of the city's own enforcement-document templates and "
        "documents.json (legal basis, appeal rights, numbering words); what it lacks comes "
        "from the defaults shipped with weijian",
    )
    max_footage_mb: float = Field(
        default=8192.0,
        gt=0,
        description="largest law-enforcement recorder video accepted (MB; a recorder's file "
        "runs to several GB), streamed to disk by the evidence store",
    )
    gps_limit_m: float = Field(
        default=100.0, description="a photo taken farther than this from the case is flagged"
    )
    duplicate_radius_m: float = Field(
        default=30.0, description="open cases this near a new one are offered as duplicates"
    )
    rebound_radius_m: float = Field(
        default=50.0, description="a new case this near a signed-off one is a rebound"
    )
    rebound_months: int = Field(default=12, description="how far back a sign-off counts")
    deadline_days: Literal["calendar", "working"] = "calendar"
    holiday_file: Path | None = Field(
        default=None, description="CSV of date,kind (holiday|workday) for working-day deadlines"
    )
    token_hours: float = Field(default=12.0, description="lifetime of a login token")
    citizen_reports_per_hour: int = Field(
        default=5, description="anonymous reports accepted per client address per hour"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or CIDRs of the reverse proxies whose X-Forwarded-For is "
        "believed (the right-most hop not among them is the client), e.g. "
        '["127.0.0.1", "10.0.0.0/8"]; empty: the peer address is the client',
    )
    open311_media_hosts: list[str] = Field(
        default_factory=list,
        description="hosts (name or name:port) an Open311 client's media_url may name, whose "
        'photos the server fetches, e.g. ["img.12345.example.cn"]; empty: media_url refused',
    )
    project_inspection_days: int = Field(
        default=30,
        ge=1,
        description="a project under construction is inspected at least every so many days",
    )
    project_completion_days: int = Field(
        default=15,
        ge=1,
        description="days after a project enters completion acceptance within which its "
        "completion inspection is due",
    )
    public_photo_max_mb: float = Field(
        default=10.0, description="largest photo a citizen attaches to a report on /report"
    )
    citizen_challenge_bits: int = Field(
        default=18,
        ge=1,
        le=28,
        description="difficulty of the proof of work (leading zero bits of a SHA-256) a "
        "citizen's browser solves past citizen_reports_per_hour; each bit doubles the work",
    )
    open311_media_max_mb: float = Field(
        default=10.0, description="largest photo fetched from an Open311 media_url"
    )
    max_footprint_m2: float = Field(
        default=1_000_000.0,
        description="largest footprint a report may draw, in square metres (a building's lot)",
    )
    idempotency_days: float = Field(
        default=7.0,
        description="how long the answer to a request with an Idempotency-Key is kept for "
        "its retries (then the key is purged)",
    )

    # logins and request limits
    login_delay_after: int = Field(
        default=5, description="failed logins of one account before each try must wait"
    )
    login_lockout_after: int = Field(
        default=10, description="failed logins that lock an account until an admin unlocks it"
    )
    login_address_delay_after: int = Field(
        default=20, description="failed logins from one client address before it must wait"
    )
    login_delay_seconds: float = Field(
        default=2.0, description="the first wait; it doubles with each further failure"
    )
    login_delay_max_seconds: float = Field(default=300.0, description="the longest wait")
    login_window_minutes: float = Field(
        default=30.0, description="failures older than this (and not locking) are forgotten"
    )
    password_workers: int = Field(
        default=2, description="threads that check passwords (Argon2id), per server process"
    )
    password_queue: int = Field(
        default=32, description="logins waiting for those threads; more are answered 503 at once"
    )
    max_json_mb: float = Field(default=1.0, description="largest JSON or form body accepted")

    made_at_max_age_days: float = Field(
        default=7.0,
        description="a record made on a phone offline (made_at) is accepted this many days "
        "later at most; one made later than the server's clock (beyond ten minutes) never",
    )
    public_steps_file: Path | None = Field(
        default=None,
        description="the words a receipt's holder reads for each step of the case (JSON "
        '{"steps": {"<action>": "<words>"}}; default: the one beside the workflow)',
    )
    gate_rule_file: Path | None = Field(
        default=None,
        description="the gate log's materials and warning rule as JSON (default: the one of "
        "weijian/cases/gate_rule.json)",
    )

    ledger_due_day: int = Field(
        default=5, description="a town's monthly ledger is due by this day of the next month"
    )

    # the supervisors' map
    basemap_url: str | None = Field(
        default=None,
        description="XYZ tile URL of a basemap on the city's network, e.g. an intranet "
        "Tianditu mirror (http://tdt.example.gov.cn/vec_w/{z}/{x}/{y}.png); unset: none",
    )
    basemap_crs: Literal["wgs84", "cgcs2000", "gcj02"] = Field(
        default="wgs84",
        description="datum of the basemap's tiles: gcj02 (AMap, Tencent) has them shifted "
        "back so the overlays fall in place",
    )
    basemap_attribution: str = ""
    basemap_max_zoom: int = 18
    basemap: Literal["xyz", "tianditu"] | None = Field(
        default=None,
        description="a preset: tianditu (天地图: vector map and its annotation, Web Mercator, "
        "with WEIJIAN_TIANDITU_KEY); unset: the XYZ tiles of WEIJIAN_BASEMAP_URL, if any",
    )
    tianditu_key: str | None = Field(default=None, description="the city's Tianditu key (tk)")
    tianditu_url: str = Field(
        default="https://t{s}.tianditu.gov.cn",
        description="where Tianditu's tiles are: the public service, or an intranet mirror "
        "answering the same WMTS requests (http://tdt.example.gov.cn)",
    )
    map_poll_seconds: float = Field(
        default=2.0, description="how often the map's case table catches up with the database"
    )
    password_hashing: Literal["rfc9106-low-memory", "cheapest"] = Field(
        default="rfc9106-low-memory",
        description="the Argon2id parameters of new password hashes: RFC 9106's low-memory "
        "profile (64 MiB, 3 passes, about 0.2 s a login); `cheapest` is for the test suite "
        "alone, whose thousands of logins would spend minutes hashing, and never for a server "
        "people log in to (a hash keeps its parameters: those made cheap are made again at "
        "the next login under the default)",
    )
    figures_warm_seconds: float = Field(
        default=60.0,
        description="how often the app brings the statistics of this month and this year up "
        "to date in the background, so that a click finds them counted (0: never)",
    )
    track_retention_days: int = Field(
        default=180,
        description="patrol tracks older than this many days are deleted (at server start and "
        "by `weijian patrol purge-tracks`); 0 keeps them",
    )
    web_assets_dir: Path = Field(
        default=PROJECT_ROOT / "weijian" / "web_map" / "node_modules",
        description="the map's front-end libraries, installed from npm by the setup",
    )

    snapshot_dir: Path | None = Field(
        default=None,
        description="folder of the jurisdiction snapshot's zone layer files, built once per "
        "machine and mapped by every server and job worker (default: <home>/snapshots)",
    )
    snapshot_shared: bool = Field(
        default=True,
        description="share the snapshot's zone layers between the processes of this machine "
        "through files in snapshot_dir; false builds them in each process's memory",
    )

    @property
    def evidence_root(self) -> Path:
        return self.evidence_dir or self.home / "evidence"

    @property
    def snapshot_files(self) -> Path | None:
        """Where the processes of this machine share the snapshot (None: not shared)."""
        if not self.snapshot_shared:
            return None
        return self.snapshot_dir or self.home / "snapshots"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

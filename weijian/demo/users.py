"""The demo's people: one user per role on the sample city's first district, town, community
and compound, the department users of every district, and the demo hotline's API key. On a
database the demo created itself they get the documented demo password and key; on any other
(one DATABASE_URL names) random ones, printed once — unless asked for the documented ones.
Idempotent: existing users are left as they are."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

from sqlalchemy import Engine, text

DEMO_PASSWORD = "weijian-demo"
DEMO_API_KEY = "demo-12345"
#: the demo's random seed (names and phones of its users, the stories of its cases)
SEED = 20260301
#: acting department users created for every district: (username prefix, role, title)
DEPARTMENT_USERS = (
    ("chengguan", "urban_enforcement", "城管执法队员"),
    ("ziranziyuan", "natural_resources", "自然资源执法员"),
    ("quxian", "county_government", "区县政府工作人员"),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙朱马胡郭林何高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜"
GIVEN = "建国志强海军秀英桂兰玉梅明辉俊杰丽娟春燕立新红霞国庆晓东文博德胜宏伟淑珍凤霞永刚"


class Passwords:
    """The password each new demo user gets: the documented one, or a random one of its own,
    kept to be printed once (:meth:`report`)."""

    def __init__(self, documented: bool = True):
        self.documented = documented
        self.given: dict[str, str] = {}

    def __call__(self, username: str) -> str:
        if self.documented:
            return DEMO_PASSWORD
        self.given[username] = secrets.token_urlsafe(12)
        return self.given[username]

    def api_key(self) -> str:
        if self.documented:
            return DEMO_API_KEY
        self.given["api_key:12345"] = secrets.token_urlsafe(24)
        return self.given["api_key:12345"]

    def report(self, log: Callable[[str], None]) -> None:
        if not self.given:
            return
        log(
            "random passwords of the new demo users (shown only this once; "
            "change them with weijian user passwd):"
        )
        for name, password in self.given.items():
            log(f"  {name}  {password}")


def is_demo_database(engine: Engine) -> bool:
    """Did ``weijian demo`` create this database (see :func:`mark_demo_database`)?"""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM demo_database")).first() is not None


def mark_demo_database(engine: Engine) -> None:
    """Mark the database as the demo's own: its users may have the documented password."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO demo_database DEFAULT VALUES ON CONFLICT DO NOTHING"))


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))


def ensure_department_users(
    engine: Engine, snap, password: str | Callable[[str], str]
) -> list[str]:
    """``chengguan-CODE``, ``ziranziyuan-CODE`` and ``quxian-CODE`` for every district, bound to
    the district's departments. Existing users are left as they are."""
    from weijian.cases import users
    from weijian.cases.workflow import default_workflow

    district = snap.grids["district"]
    created = []
    with engine.begin() as conn:
        known = set(conn.execute(text("SELECT username FROM app_user")).scalars())
        for code in sorted(str(c) for c in district.codes):
            rng = random.Random(f"{SEED}:users:{code}")
            for prefix, role, title in DEPARTMENT_USERS:
                username = f"{prefix}-{code}"
                if username in known:
                    continue
                users.add_user(
                    conn,
                    snap,
                    default_workflow(),
                    username=username,
                    password=password if isinstance(password, str) else password(username),
                    role=role,
                    display_name=f"{person(rng)}（{title}）",
                    grid_code=code,
                    phone=f"139{code[-4:]}{rng.randint(0, 9999):04d}",
                    created_by="demo",
                )
                created.append(username)
    return created


def ensure_demo_users(
    engine: Engine, log: Callable[[str], None] = print, passwords: Passwords | None = None
) -> list[dict]:
    """One user per role on the sample city's first district, town, community and compound,
    all with the documented demo password (or those ``passwords`` gives); an API key for the
    demo hotline. Idempotent."""
    # imported here: the command line reads this module's password for its help
    from weijian.cases import users
    from weijian.cases.workflow import default_workflow
    from weijian.jurisdiction.snapshot import load_snapshot

    passwords = passwords or Passwords()
    snap = load_snapshot(engine)
    chain: dict[str, str | None] = {"district": None, "town": None, "community": None}
    grids = snap.grids
    if "compound" in grids and len(grids["compound"].codes):
        compound = str(grids["compound"].codes[0])
        chain["compound"] = compound
        for lower, upper in (
            ("compound", "community"),
            ("community", "town"),
            ("town", "district"),
        ):
            code = chain[lower]
            grid = grids.get(lower)
            if code and grid is not None:
                parent = grid.parents[grid.row_of[code]]
                chain[upper] = str(parent) if parent else None
    plan: list[tuple[str, str, str | None, str, str | None]] = [
        ("admin", "admin", None, "系统管理员", None),
        ("supervisor", "supervisor", None, "市督导员", None),
        ("chengguan", "urban_enforcement", chain["district"], "城管执法队员", None),
        # dispatches the district's city-management cases to its officers (派遣)
        (
            "duizhang",
            "department_leader",
            chain["district"],
            "城管执法中队长",
            "urban_enforcement",
        ),
        ("ziranziyuan", "natural_resources", chain["district"], "自然资源执法员", None),
        ("quxian", "county_government", chain["district"], "区县政府工作人员", None),
        ("jiedao", "town", chain["town"], "街道办工作人员", None),
        ("shequ", "community", chain["community"], "社区工作人员", None),
        ("wanggeyuan", "grid_worker", chain.get("compound") or chain["community"], "网格员", None),
        ("wuye", "property_company", chain.get("compound"), "物业公司项目负责人", None),
    ]
    created = []
    with engine.begin() as conn:
        for username, role, grid, name, department_type in plan:
            if role != "admin" and role != "supervisor" and not grid:
                continue
            exists = conn.execute(
                text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}
            ).first()
            if exists:
                continue
            users.add_user(
                conn,
                snap,
                default_workflow(),
                username=username,
                password=passwords(username),
                role=role,
                display_name=name,
                grid_code=grid,
                created_by="demo",
                department_type=department_type,
            )
            created.append({"username": username, "role": role, "grid": grid})
        known = conn.execute(text("SELECT 1 FROM api_client WHERE name = '12345'")).first()
        if not known:
            users.add_api_client(
                conn, default_workflow(), "12345", "hotline", key=passwords.api_key()
            )
    if created:
        said = f"password {DEMO_PASSWORD}" if passwords.documented else "random passwords"
        log(
            f"demo users created ({len(created)}), {said}: "
            + ", ".join(f"{u['username']} ({u['role']})" for u in created)
        )
    return created

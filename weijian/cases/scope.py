"""Who is asking, and what they may see: the principal and its scope.

Every user is bound to a grid (its scope; none for city-wide roles) and, for a department role,
to a district's department. A user reads a case when the case's frozen grid chain passes
through the user's grid, when the user's department holds the case, or when the user reported
it. Outside that the case does not exist for the user (404, not 403: its existence is not
disclosed). The public (anyone, without an account or key) reads the reports the public made —
by the citizen and hotline channels — and never by place: it is nobody's city-wide user.
Pure: no database, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from weijian.layers.model import GRID_LEVELS

CITIZEN = "citizen"  # an anonymous reporter: no account, reads back only its receipt
PUBLIC = "public"  # anyone at all: reads the public's own reports (shown without people)
#: the channels by which the public reports; the cases that came by them are public
PUBLIC_CHANNELS = ("citizen", "hotline")


#: the columns of a case :meth:`Principal.can_read` judges by
SCOPE_FIELDS = (
    "channel",
    "api_client_id",
    "district_code",
    "town_code",
    "community_code",
    "compound_code",
    "department_code",
    "reporter_user_id",
)


@dataclass(frozen=True)
class Principal:
    id: int | None
    username: str
    display_name: str
    role: str
    grid_code: str | None = None
    grid_level: str | None = None
    district_code: str | None = None
    department_code: str | None = None
    department_type: str | None = None
    phone: str | None = None
    api_client_id: int | None = None
    channel: str | None = None  # for API clients: the channel their reports arrive by

    @property
    def acts_as(self) -> str:
        """The role the workflow's rules know the user by: a department's leader acts as its
        department's officers may (城管执法、自然资源、区县政府)."""
        if self.role == "department_leader" and self.department_type:
            return self.department_type
        return self.role

    @property
    def city_wide(self) -> bool:
        return self.grid_code is None and self.role != PUBLIC

    def holds(self, department_code: str | None) -> bool:
        return bool(self.department_code) and self.department_code == department_code

    def can_read(self, case: dict) -> bool:
        """``case`` has the columns of :data:`SCOPE_FIELDS`."""
        if self.role == CITIZEN:
            return False
        if self.role == PUBLIC:
            return case.get("channel") in PUBLIC_CHANNELS
        if self.api_client_id is not None:
            return case.get("api_client_id") == self.api_client_id
        if self.id is not None and case.get("reporter_user_id") == self.id:
            return True
        if self.holds(case.get("department_code")):
            return True
        if self.city_wide:
            return True
        return case.get(f"{self.grid_level}_code") == self.grid_code

    def sees_people_of(self, chain) -> bool:
        """Whether this user may read the names and phones of the people responsible for a
        place whose grid chain (its codes, any order) is ``chain``: staff of the whole city,
        or staff whose own grid is in the chain — never a citizen or another system."""
        if self.role == CITIZEN or self.api_client_id is not None:
            return False
        return self.city_wide or self.grid_code in set(chain)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "grid_code": self.grid_code,
            "grid_level": self.grid_level,
            "district_code": self.district_code,
            "department_code": self.department_code,
            "phone": self.phone,
        }


def scope_sql(principal: Principal, alias: str = "c") -> tuple[str, dict]:
    """The same rule as :meth:`Principal.can_read`, as a SQL condition with its parameters."""
    if principal.role == CITIZEN:
        return "false", {}
    if principal.role == PUBLIC:
        return f"{alias}.channel = ANY(:scope_channels)", {"scope_channels": list(PUBLIC_CHANNELS)}
    if principal.api_client_id is not None:
        return f"{alias}.api_client_id = :scope_client", {"scope_client": principal.api_client_id}
    if principal.city_wide:
        return "true", {}
    assert principal.grid_level in GRID_LEVELS
    parts = [f"{alias}.{principal.grid_level}_code = :scope_grid"]
    params: dict = {"scope_grid": principal.grid_code}
    if principal.department_code:
        parts.append(f"{alias}.department_code = :scope_department")
        params["scope_department"] = principal.department_code
    if principal.id is not None:
        parts.append(f"{alias}.reporter_user_id = :scope_user")
        params["scope_user"] = principal.id
    return "(" + " OR ".join(parts) + ")", params


#: the public, as the one asking (Open311 without a key)
PUBLIC_READER = Principal(id=None, username="public", display_name="公众", role=PUBLIC)

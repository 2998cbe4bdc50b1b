"""What the supervisor chose to see: the map's filters, checked once, in one shape for the
PostGIS tiles (a SQL condition) and for the in-memory aggregates (a NumPy mask, in
:mod:`.casestore`). Pure: no HTTP."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from weijian.cases.service import overdue_sql
from weijian.cases.workflow import Workflow
from weijian.errors import InputError
from weijian.oversight.periods import period


@dataclass(frozen=True)
class MapFilters:
    states: tuple[str, ...] = ()
    category: str | None = None  # "open" | "closed"
    channels: tuple[str, ...] = ()
    track: str | None = None  # "new" | "backlog"
    reported_from: datetime | None = None  # included
    reported_to: datetime | None = None  # excluded
    district: str | None = None
    overdue: bool | None = None

    @classmethod
    def parse(
        cls,
        workflow: Workflow,
        *,
        state: str | None = None,
        category: str | None = None,
        channel: str | None = None,
        track: str | None = None,
        start: date | None = None,
        end: date | None = None,
        district: str | None = None,
        overdue: bool | None = None,
    ) -> MapFilters:
        """From the query string: ``state`` and ``channel`` may list several, comma-separated;
        ``start``/``end`` are Beijing dates, both included."""
        states = tuple(s for s in (state or "").split(",") if s)
        for s in states:
            workflow.state(s)
        channels = tuple(c for c in (channel or "").split(",") if c)
        for c in channels:
            workflow.check_channel(c)
        if track:
            workflow.check_track(track)
        if category not in (None, "", "open", "closed"):
            raise InputError(
                f"类别 category“{category}”无效，应为 open（在办）或 closed（已办结）",
                code="list.category_invalid",
                detail="category must be open or closed",
                hint="e.g. category=open",
            )
        if start and end:
            period(start, end)  # refuses a period that ends before it starts
        lo = period(start, start)[0] if start else None
        hi = period(end, end)[1] if end else None
        return cls(
            states=states,
            category=category or None,
            channels=channels,
            track=track or None,
            reported_from=lo,
            reported_to=hi,
            district=district or None,
            overdue=overdue,
        )

    @property
    def key(self) -> str:
        """A short stable digest, for ETags and caches."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    def sql(self, alias: str = "c") -> tuple[str, dict]:
        """The filters as a SQL condition over ``violation_case`` (``:now`` must be bound when
        ``overdue`` is set)."""
        a = alias
        parts, params = [], {}
        if self.states:
            parts.append(f"{a}.state = ANY(:f_states)")
            params["f_states"] = list(self.states)
        if self.category:
            parts.append(f"{a}.is_open" if self.category == "open" else f"NOT {a}.is_open")
        if self.channels:
            parts.append(f"{a}.channel = ANY(:f_channels)")
            params["f_channels"] = list(self.channels)
        if self.track:
            parts.append(f"{a}.track = :f_track")
            params["f_track"] = self.track
        if self.reported_from:
            parts.append(f"{a}.reported_at >= :f_from")
            params["f_from"] = self.reported_from
        if self.reported_to:
            parts.append(f"{a}.reported_at < :f_to")
            params["f_to"] = self.reported_to
        if self.district:
            parts.append(f"{a}.district_code = :f_district")
            params["f_district"] = self.district
        if self.overdue is not None:
            cond = overdue_sql(a)
            parts.append(cond if self.overdue else f"NOT {cond}")
        return (" AND ".join(parts) or "true"), params

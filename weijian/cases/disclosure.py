"""What each reader may see of the people behind a place or a case.

The names and phones of grid staff and of reporters are personal data: anyone may learn which
department and which grid answer for a spot, but the people only a logged-in user whose scope
holds the grid (``Principal.sees_people_of``); a citizen reads back his own report without
anyone's name, phone or internal notes."""

from __future__ import annotations

from weijian.cases.scope import CITIZEN, Principal
from weijian.cases.users import ancestors
from weijian.errors import NotFoundError
from weijian.jurisdiction.engine import public_answer
from weijian.jurisdiction.snapshot import Snapshot

#: what an anonymous reporter reads back of the case his report opened
PUBLIC_CASE_FIELDS = (
    "number",
    "state",
    "state_label",
    "category",
    "track",
    "track_label",
    "channel",
    "channel_label",
    "description",
    "address",
    "lon",
    "lat",
    "reported_at",
    "updated_at",
    "closed_at",
    "receipt",
)


def _is_staff(principal: Principal | None) -> bool:
    return principal is not None and principal.role != CITIZEN and principal.api_client_id is None


def public_case(detail: dict) -> dict:
    """A case as its anonymous reporter reads it: its number, state and place, the department
    and the grids that answer for it by name — no person, no note, no evidence."""
    out = {k: detail[k] for k in PUBLIC_CASE_FIELDS if k in detail}
    answer = public_answer(detail.get("jurisdiction") or {})
    out["department"] = {
        k: v for k, v in (detail.get("department") or {}).items() if k in ("code", "type", "name")
    } or None
    out["grid"] = answer.get("grid")
    out["reporter"] = None  # not even his own: the answer may be read over his shoulder
    # another case is read by its number only by staff who may read it
    out["possible_duplicates"] = [
        {k: d.get(k) for k in ("state", "state_label", "distance_m") if k in d}
        for d in detail.get("possible_duplicates") or []
    ]
    linked = detail.get("linked_to")
    out["linked_to"] = (
        {k: linked[k] for k in ("state", "state_label", "distance_m")} if linked else None
    )
    return out


def _chain(snap: Snapshot, code: str) -> list[str]:
    try:
        return ancestors(snap, code)
    except NotFoundError:  # a grid of an older version, no longer in the active ones
        return [code]


def layer_features(collection: dict, principal: Principal | None, snap: Snapshot) -> dict:
    """One version's features as ``principal`` may read them: without a login no attributes
    and no people; staff read zones whole, and the people of the grids in their scope (their
    own grid, those above it and those below)."""
    staff = _is_staff(principal)
    own_chain = set(_chain(snap, principal.grid_code)) if staff and principal.grid_code else set()
    features = []
    for feature in collection["features"]:
        properties = dict(feature["properties"])
        is_grid = "responsible" in properties
        if is_grid:
            code = str(properties.get("code"))
            sees = staff and (principal.sees_people_of(_chain(snap, code)) or code in own_chain)
            if not sees:
                properties.pop("responsible", None)
                properties.pop("attributes", None)
        elif not staff:
            properties.pop("attributes", None)
        features.append({**feature, "properties": properties})
    return {**collection, "features": features}

"""What a layer is made of: the storage SRID, the zone kinds, the four grid levels, the two
layer families and the channel that announces an activation. The tables themselves are created
by the Alembic migrations (``weijian/db/migrations``); the repository modules query them in SQL.
Geometries are stored in CGCS2000 geographic (EPSG:4490)."""

from __future__ import annotations

STORAGE_SRID = 4490
ZONE_KINDS = (
    "urban_managed",
    "town_planned",
    "rural_construction",
    "homestead",
    "agricultural",
    "farmland",
    "forest",
    "construction",
    "unused",
)
GRID_LEVELS = ("district", "town", "community", "compound")
LAYER_FAMILIES = ("zones", "grids")
NOTIFY_CHANNEL = "weijian_layer_activated"

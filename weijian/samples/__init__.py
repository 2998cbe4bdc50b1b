"""Deterministic sample city around Baishan (白山市), Jilin, written the way the city hands it over.

:func:`generate` writes, into one folder, the layers a Chinese city's departments would send to
the platform — with the quirks of real deliveries, so that the importer is exercised:

- ``grid_district/district.shp`` — EPSG:4551, DBF in GBK with a ``.cpg`` saying ``GBK``;
- ``grid_town/town.shp`` — EPSG:4530 (zone-prefixed eastings, 42,xxx,xxx), DBF in GBK with no
  ``.cpg`` and the DBF language byte 0: read without an encoding it is mojibake;
- ``社区网格.zip`` — folder ``社区网格/`` holding ``社区网格.shp`` (EPSG:4551, GBK, ``.cpg`` =
  ``936``), member names in GBK without the zip's UTF-8 flag; no parent-code field;
- ``grid_compound.gpkg`` — layer ``compound``, EPSG:4551;
- ``zones/urban_managed.shp``, ``zones/town_planned.shp`` — EPSG:4551, GBK + ``.cpg``;
- ``landuse/landuse.shp`` — EPSG:4551, GBK + ``.cpg``; a few bow-tie and self-touching rings
  and some parcels with holes;
- ``cases.csv`` — UTF-8, WGS84 lon/lat, one reported violation per row;
- ``manifest.json`` — what to import, in load order, and the counts.

The six county-level units come from the shared reference file of the real boundaries
(GCJ-02, converted to WGS84/CGCS2000) when it is there, else they are generated. Everything
below them is invented but plausible: streets (街道) and towns (镇) tiling each district,
communities (社区) and villages (村) tiling each town, residential compounds (小区) in the urban
parts, the urban management area (城市化管理区域) and town-planned construction land
(县城、镇总体规划确定的建设用地), a land-use survey layer (GB/T 21010-2017 codes) whose parcels
share their edges exactly, and cases of illegal construction (违法建设). The land-use survey
covers a 20 km window around the Hunjiang seat (small) or windows around all six seats
(city); elsewhere only the zones and grids answer.

Geometry is built in EPSG:4551 (CGCS2000 3-degree Gauss-Krüger, CM 126E). The same seed gives
byte-identical attribute tables and geometries: every random draw comes from a numpy generator
seeded by ``(seed, layer)``, and no file carries the current date.

Scales: ``small`` (the repository's ``data/samples``, a few MB) and ``city`` (benchmarks:
100,000 land-use parcels, 5,000 compounds, 1,000,000 cases; write it outside the repository).

Run as ``python -m weijian.samples --out DIR --scale small|city|province [--seed N]``.

The modules, by what they make: :mod:`.profiles` (scales, the six units), :mod:`.boundaries`
(districts), :mod:`.grids` (towns and streets, communities and villages), :mod:`.zones`,
:mod:`.compounds`, :mod:`.landscape` and :mod:`.landuse` (the survey layer), :mod:`.cases`,
:mod:`.people` and :mod:`.names` (who is responsible, what places are called), on the shared
:mod:`.geometry` and :mod:`.common`; :mod:`.writers` write the files, :mod:`.delivery` says
where they go and how to import them, :mod:`.generator` runs it all.
"""

from __future__ import annotations

from weijian.samples.boundaries import SHARED_DISTRICTS_FILE
from weijian.samples.cases import CASE_SOURCES
from weijian.samples.common import GEOGRAPHIC_CRS, METRIC_CRS, WGS84_CRS, ZONE_PREFIXED_CRS
from weijian.samples.delivery import (
    FILE_FORMATS,
    PATH_CASES,
    PATH_COMMUNITY,
    PATH_COMPOUND,
    PATH_DISTRICT,
    PATH_LANDUSE,
    PATH_MANIFEST,
    PATH_PLANNED,
    PATH_TOWN,
    PATH_URBAN,
)
from weijian.samples.generator import DEFAULT_SEED, generate, main
from weijian.samples.landuse import LAND_USE_NAMES
from weijian.samples.profiles import (
    PROFILE_BY_CODE,
    PROFILES,
    SCALES,
    DistrictProfile,
    ScaleSpec,
)

__all__ = [
    "CASE_SOURCES",
    "DEFAULT_SEED",
    "FILE_FORMATS",
    "GEOGRAPHIC_CRS",
    "LAND_USE_NAMES",
    "METRIC_CRS",
    "PATH_CASES",
    "PATH_COMMUNITY",
    "PATH_COMPOUND",
    "PATH_DISTRICT",
    "PATH_LANDUSE",
    "PATH_MANIFEST",
    "PATH_PLANNED",
    "PATH_TOWN",
    "PATH_URBAN",
    "PROFILES",
    "PROFILE_BY_CODE",
    "SCALES",
    "SHARED_DISTRICTS_FILE",
    "WGS84_CRS",
    "ZONE_PREFIXED_CRS",
    "DistrictProfile",
    "ScaleSpec",
    "generate",
    "main",
]

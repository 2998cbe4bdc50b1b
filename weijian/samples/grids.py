"""The grids below the districts: streets (街道) and towns (镇) tiling each district,
communities (社区) and villages (村) tiling each town, each with its responsible person."""

from __future__ import annotations

import geopandas as gpd
import shapely

from weijian.samples.common import METRIC_CRS, Rng
from weijian.samples.geometry import (
    blob,
    cluster_seeds,
    part_containing,
    polygonal,
    ring_seeds,
    spread_seeds,
    voronoi_split,
)
from weijian.samples.names import (
    COMMUNITY_HEADS,
    GENERIC_STREET_HEADS,
    GENERIC_TOWN_HEADS,
    NAME_SYLLABLES_A,
    NAME_SYLLABLES_B,
    PLACE_PREFIXES,
    PLACE_SUFFIXES,
    VILLAGE_HEADS,
    NamePicker,
    combos,
)
from weijian.samples.people import PeopleRegistry
from weijian.samples.profiles import PROFILE_BY_CODE, ScaleSpec

# ---------------------------------------------------------------------------------------------
# Towns and streets (镇、街道)
# ---------------------------------------------------------------------------------------------


def build_towns(
    districts: gpd.GeoDataFrame, spec: ScaleSpec, rng: Rng, people: PeopleRegistry
) -> gpd.GeoDataFrame:
    """Streets (街道) tiling an urban core around each district seat, towns (镇) tiling the rest
    of the district.

    Codes: district code + 001… for streets, + 100… for towns."""
    rows = []
    for district in districts.itertuples():
        profile = PROFILE_BY_CODE[district.code]
        n_streets = profile.streets[spec.index]
        n_towns = profile.towns[spec.index]
        area = district.geometry
        seat = (district.seat_x, district.seat_y)
        radius = profile.urban_radius_m
        core = part_containing(
            shapely.intersection(blob(seat, radius * 1.8, rng, roughness=0.25), area), seat
        )
        rest = polygonal(shapely.difference(area, core))
        street_seeds = ring_seeds(
            seat,
            n_streets,
            core,
            rng,
            radius_m=(0.35 * radius, 0.95 * radius),
            min_spacing=0.45 * radius,
        )
        town_seeds = spread_seeds(rest, n_towns, rng, existing=[seat, *street_seeds])
        pieces = voronoi_split(core, street_seeds) + voronoi_split(rest, town_seeds)
        street_names = NamePicker(
            rng, profile.street_names, [h + "街道" for h in GENERIC_STREET_HEADS], False
        )
        town_names = NamePicker(
            rng, profile.town_names, [h + "镇" for h in GENERIC_TOWN_HEADS], False
        )
        for i, (seed, piece) in enumerate(zip(street_seeds + town_seeds, pieces, strict=True)):
            is_street = i < n_streets
            number = i + 1 if is_street else 100 + i - n_streets
            name, phone = people.person(profile.korean_share)
            rows.append(
                {
                    "code": f"{district.code}{number:03d}",
                    "name": street_names.take() if is_street else town_names.take(),
                    "kind": "street" if is_street else "town",
                    "district_code": district.code,
                    "seat_x": seed[0],
                    "seat_y": seed[1],
                    "fzr": name,
                    "lxdh": phone,
                    "geometry": piece,
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)


# ---------------------------------------------------------------------------------------------
# Communities and villages (社区、村)
# ---------------------------------------------------------------------------------------------


def build_communities(
    towns: gpd.GeoDataFrame, spec: ScaleSpec, rng: Rng, people: PeopleRegistry
) -> gpd.GeoDataFrame:
    """Communities (社区) in streets, clustered near the street seat so urban ones are small;
    villages (村) spread over towns. Each level tiles its town.

    Codes: town code + 001… for communities, + 200… for villages."""
    rows = []
    pickers: dict[str, tuple[NamePicker, NamePicker]] = {}
    for town in towns.itertuples():
        profile = PROFILE_BY_CODE[town.district_code]
        if town.district_code not in pickers:
            pickers[town.district_code] = (
                NamePicker(
                    rng,
                    [h + "社区" for h in COMMUNITY_HEADS],
                    [n + "社区" for n in combos(NAME_SYLLABLES_A, NAME_SYLLABLES_B)],
                    True,
                ),
                NamePicker(
                    rng,
                    [h + "村" for h in VILLAGE_HEADS],
                    [n + "村" for n in combos(PLACE_PREFIXES, PLACE_SUFFIXES)],
                    True,
                ),
            )
        community_names, village_names = pickers[town.district_code]
        seat = (town.seat_x, town.seat_y)
        area = town.geometry
        if town.kind == "street":
            low, high = spec.communities_per_street
            n = int(rng.integers(low, high + 1))
            seeds = [
                seat,
                *cluster_seeds(
                    seat,
                    n - 1,
                    area,
                    rng,
                    scale_m=600.0 + 90.0 * n,
                    min_spacing=380.0,
                    existing=[seat],
                ),
            ]
        else:
            low, high = spec.villages_per_town
            n = int(rng.integers(low, high + 1))
            seeds = [seat, *spread_seeds(area, n - 1, rng, existing=[seat])]
        pieces = voronoi_split(area, seeds)
        for j, (seed, piece) in enumerate(zip(seeds, pieces, strict=True)):
            is_community = town.kind == "street"
            name, phone = people.person(profile.korean_share)
            rows.append(
                {
                    "code": f"{town.code}{(j + 1) if is_community else (200 + j):03d}",
                    "name": community_names.take() if is_community else village_names.take(),
                    "kind": "community" if is_community else "village",
                    "town_code": town.code,
                    "district_code": town.district_code,
                    "seat_x": seed[0],
                    "seat_y": seed[1],
                    "fzr": name,
                    "lxdh": phone,
                    "geometry": piece,
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)

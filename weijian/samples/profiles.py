"""The scales of the sample city, and what the generator knows about the six county-level
units of Baishan: codes, names, seats, sizes, and the names of their streets and towns."""

from __future__ import annotations

from dataclasses import dataclass, replace

from weijian.samples.common import XY


@dataclass(frozen=True)
class ScaleSpec:
    """How big each layer is at one scale."""

    name: str
    index: int  # column of the per-scale tuples in DistrictProfile
    communities_per_street: tuple[int, int]  # inclusive range
    villages_per_town: tuple[int, int]
    compounds: int
    compound_pitch_m: float  # block grid spacing (block + road)
    compounds_in_towns: bool  # also put compounds on town-planned land
    parcels: int  # target number of land-use parcels
    seeds_per_parcel: float  # Voronoi seeds per target parcel (corridors and borders add faces)
    segments_per_spacing: float  # edge densification: segments per local parcel spacing
    landuse_windows_km: tuple[tuple[str, float], ...]  # (district code, side of square window)
    holed_parcels: int
    invalid_parcels: int
    cases: int


SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec(
        name="small",
        index=0,
        communities_per_street=(4, 5),
        villages_per_town=(2, 4),
        compounds=400,
        compound_pitch_m=290.0,
        compounds_in_towns=False,
        parcels=5_000,
        seeds_per_parcel=0.66,
        segments_per_spacing=5.5,
        landuse_windows_km=(("220602", 20.0),),
        holed_parcels=4,
        invalid_parcels=4,
        cases=400,
    ),
    "city": ScaleSpec(
        name="city",
        index=1,
        communities_per_street=(8, 12),
        villages_per_town=(8, 14),
        compounds=5_000,
        compound_pitch_m=240.0,
        compounds_in_towns=True,
        parcels=100_000,
        seeds_per_parcel=0.85,
        segments_per_spacing=11.8,
        landuse_windows_km=(
            ("220602", 34.0),
            ("220605", 24.0),
            ("220681", 28.0),
            ("220621", 28.0),
            ("220622", 22.0),
            ("220623", 18.0),
        ),
        holed_parcels=120,
        invalid_parcels=60,
        cases=1_000_000,
    ),
}
# the land-use layer of a province's worth of parcels (for the snapshot's benchmark): the city's
# grids and compounds, land-use windows twice as wide, ten times the parcels; few cases
SCALES["province"] = replace(
    SCALES["city"],
    name="province",
    parcels=1_000_000,
    seeds_per_parcel=0.937,
    landuse_windows_km=tuple((code, 2 * side) for code, side in SCALES["city"].landuse_windows_km),
    holed_parcels=1_200,
    invalid_parcels=600,
    cases=100_000,
)


@dataclass(frozen=True)
class DistrictProfile:
    """What the generator knows about one county-level unit of Baishan."""

    code: str
    name: str
    short_name: str
    case_prefix: str  # two letters in case ids, e.g. HJ-2026-000123
    is_county: bool  # 县 / 县级市: the seat is a county town (县城)
    seat_wgs84: XY  # approximate seat of government, used when districts are generated
    urban_radius_m: float  # typical radius of the urban management area
    weight: float  # share of compounds and cases
    streets: tuple[int, int]  # (small, city)
    towns: tuple[int, int]
    street_names: tuple[str, ...]
    town_names: tuple[str, ...]
    korean_share: float = 0.0  # share of Korean-Chinese (朝鲜族) names among people
    mining: bool = False  # coal mining land (0602) near the seat
    road_names: tuple[str, ...] = ()  # local street names for addresses (with ROAD_NAMES)


PROFILES: tuple[DistrictProfile, ...] = (
    DistrictProfile(
        "220602",
        "浑江区",
        "浑江",
        "HJ",
        False,
        (126.4165, 41.9410),
        5200.0,
        0.30,
        (2, 6),
        (1, 3),
        (
            "新建街道",
            "红旗街道",
            "东兴街道",
            "城南街道",
            "板石街道",
            "河口街道",
            "江北街道",
            "通沟街道",
        ),
        ("七道江镇", "六道江镇", "红土崖镇", "三道沟镇"),
        mining=True,
        road_names=("浑江大街", "长白山大街", "民中街", "通江路", "红旗街", "新建街", "江北大街"),
    ),
    DistrictProfile(
        "220605",
        "江源区",
        "江源",
        "JY",
        False,
        (126.5865, 42.0545),
        3200.0,
        0.15,
        (2, 4),
        (1, 5),
        ("孙家堡子街道", "城墙街道", "正岔街道", "江源街道", "新兴街道"),
        ("湾沟镇", "松树镇", "砟子镇", "石人镇", "大阳岔镇", "大石人镇"),
        mining=True,
        road_names=("江源大街", "孙家堡子路", "松树路", "城墙街"),
    ),
    DistrictProfile(
        "220621",
        "抚松县",
        "抚松",
        "FS",
        True,
        (127.2800, 42.3330),
        2700.0,
        0.16,
        (2, 3),
        (2, 8),
        ("城关街道", "东城街道", "西城街道", "新屯街道"),
        (
            "松江河镇",
            "泉阳镇",
            "露水河镇",
            "仙人桥镇",
            "万良镇",
            "北岗镇",
            "东岗镇",
            "漫江镇",
            "兴参镇",
            "抽水镇",
            "沿江镇",
        ),
        road_names=("抚松大街", "松江路", "人参大街", "新屯路"),
    ),
    DistrictProfile(
        "220622",
        "靖宇县",
        "靖宇",
        "JX",
        True,
        (126.8100, 42.3880),
        2300.0,
        0.11,
        (2, 2),
        (2, 6),
        ("城东街道", "城西街道", "靖宇街道"),
        ("三道湖镇", "那尔轰镇", "花园口镇", "景山镇", "赤松镇", "龙泉镇", "濛江镇", "榆树川镇"),
        road_names=("靖宇大街", "濛江路", "杨靖宇路", "城东路"),
    ),
    DistrictProfile(
        "220623",
        "长白朝鲜族自治县",
        "长白",
        "CB",
        True,
        (128.1950, 41.4180),
        2000.0,
        0.09,
        (2, 2),
        (2, 6),
        ("长白街道", "鸭绿江街道", "塔山街道"),
        ("八道沟镇", "十四道沟镇", "马鹿沟镇", "宝泉山镇", "新房子镇", "十二道沟镇", "金华镇"),
        korean_share=0.35,
        road_names=("鸭绿江大街", "长白大街", "塔山路", "民主路"),
    ),
    DistrictProfile(
        "220681",
        "临江市",
        "临江",
        "LJ",
        True,
        (126.9150, 41.8080),
        3100.0,
        0.19,
        (2, 5),
        (2, 6),
        ("建国街道", "新市街道", "大湖街道", "森工街道", "兴隆街道", "大栗子街道"),
        ("六道沟镇", "桦树镇", "苇沙河镇", "花山镇", "闹枝镇", "四道沟镇", "蚂蚁河镇"),
        road_names=("临江大街", "建国路", "鸭绿江路", "大湖路", "森工路"),
    ),
)
PROFILE_BY_CODE = {p.code: p for p in PROFILES}

#: real areas (km², EPSG:4551) of the six units, used to size generated districts
DISTRICT_AREAS_KM2 = {
    "220602": 1354.0,
    "220605": 1347.0,
    "220621": 6158.0,
    "220622": 3088.0,
    "220623": 2492.0,
    "220681": 2986.0,
}

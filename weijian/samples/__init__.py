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

Run as ``python -m weijian.samples --out DIR --scale small|city [--seed N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

Log = Callable[[str], None]
Rng = np.random.Generator
XY = tuple[float, float]

METRIC_CRS = "EPSG:4551"  # CGCS2000 / 3-degree Gauss-Kruger CM 126E
ZONE_PREFIXED_CRS = "EPSG:4530"  # CGCS2000 / 3-degree Gauss-Kruger zone 42 (x = 42,xxx,xxx)
GEOGRAPHIC_CRS = "EPSG:4490"  # CGCS2000 geographic
WGS84_CRS = "EPSG:4326"
DEFAULT_SEED = 20261125

#: fixed dates written where file formats want one, so that outputs do not depend on the day
FIXED_DBF_DATE = "2026-01-01"
FIXED_GPKG_TIMESTAMP = "2026-01-01T00:00:00.000Z"
FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)

SHARED_DISTRICTS_FILE = Path("baishan_districts") / "baishan_districts_gcj02.geojson"
COMMUNITY_ARCHIVE = "社区网格.zip"
COMMUNITY_MEMBER_DIR = "社区网格"
ZIP_UTF8_FLAG = 0x800
DBF_LANGUAGE_BYTE_OFFSET = 29
SHAPEFILE_SUFFIXES = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")

PATH_DISTRICT = "grid_district/district.shp"
PATH_TOWN = "grid_town/town.shp"
PATH_COMMUNITY = COMMUNITY_ARCHIVE
PATH_COMPOUND = "grid_compound.gpkg"
PATH_URBAN = "zones/urban_managed.shp"
PATH_PLANNED = "zones/town_planned.shp"
PATH_LANDUSE = "landuse/landuse.shp"
PATH_CASES = "cases.csv"
PATH_MANIFEST = "manifest.json"

#: one independent random stream per layer, so that changing one layer leaves the others alone
STREAMS = {
    "districts": 1,
    "people": 2,
    "towns": 3,
    "communities": 4,
    "zones": 5,
    "compounds": 6,
    "landuse": 7,
    "cases": 8,
}


# ---------------------------------------------------------------------------------------------
# Scales and district profiles
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Name pools
# ---------------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡"
    "贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"
    "雷钱汤尹黎易常武乔贺赖龚文庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍韦申尤毕聂丛焦向柳"
)
KOREAN_SURNAMES = "金李朴崔郑姜赵尹张林韩吴申权黄安宋"
GIVEN_SINGLE = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建亮成"
    "峰红梅玲丹萍颖琳雪慧莉蕾晶"
)
GIVEN_DOUBLE = (
    "秀英",
    "秀兰",
    "桂英",
    "建华",
    "建国",
    "志强",
    "海燕",
    "红梅",
    "玉兰",
    "立新",
    "春生",
    "德福",
    "永刚",
    "晓东",
    "丽娟",
    "淑珍",
    "凤琴",
    "宝山",
    "国庆",
    "振华",
    "长海",
    "玉霞",
    "文博",
    "子涵",
    "浩然",
    "雨萱",
    "思远",
    "俊杰",
    "明辉",
    "晓燕",
    "淑芬",
    "桂芝",
    "凤霞",
    "海涛",
    "宏伟",
    "金凤",
    "春雨",
    "晓光",
    "德胜",
    "永生",
    "佳怡",
    "欣怡",
    "一鸣",
    "天佑",
    "立国",
    "保国",
    "树林",
    "庆丰",
    "丽华",
    "亚楠",
)
KOREAN_GIVEN = (
    "英哲",
    "顺姬",
    "成浩",
    "美玉",
    "光洙",
    "春花",
    "哲洙",
    "英淑",
    "明植",
    "贞淑",
    "龙哲",
    "善玉",
    "东植",
    "惠英",
    "在勋",
    "允浩",
    "顺子",
    "京植",
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
)

GENERIC_STREET_HEADS = (
    "城东",
    "城西",
    "城南",
    "城北",
    "向阳",
    "胜利",
    "光明",
    "建设",
    "人民",
    "解放",
    "兴华",
    "长青",
    "永安",
    "东风",
    "站前",
    "江滨",
    "新城",
    "北山",
    "南山",
    "东山",
)
GENERIC_TOWN_HEADS = (
    "二道沟",
    "三岔河",
    "大营",
    "小营",
    "马鞍山",
    "黄泥河",
    "杨木",
    "白石",
    "榆树",
    "松林",
    "葫芦套",
    "暖泉",
    "五道沟",
    "十里",
    "东川",
    "西川",
    "太平",
    "永兴",
    "青沟",
    "双岔",
)
COMMUNITY_HEADS = (
    "东山",
    "和平",
    "新华",
    "光华",
    "通江",
    "文化",
    "长安",
    "青山",
    "滨江",
    "站前",
    "北山",
    "南山",
    "红旗",
    "建国",
    "民主",
    "新城",
    "锦江",
    "华安",
    "永兴",
    "福兴",
    "东兴",
    "西苑",
    "江北",
    "园丁",
    "工农",
    "朝阳",
    "向阳",
    "胜利",
    "光明",
    "幸福",
    "东风",
    "人民",
    "解放",
    "团结",
    "友谊",
    "振兴",
    "兴隆",
    "繁荣",
    "育英",
    "松山",
    "翠峰",
    "明珠",
    "新兴",
    "矿建",
    "林苑",
    "电厂",
    "铁路",
    "东升",
    "河口",
    "浑江",
    "白山",
    "天池",
    "鸭绿",
    "兴华",
    "春华",
    "北安",
    "南苑",
    "东苑",
    "西山",
    "山城",
    "新风",
    "银河",
    "金英",
    "通达",
    "卫东",
    "前进",
    "红星",
    "八一",
    "康乐",
    "龙泉",
)
VILLAGE_HEADS = (
    "新华",
    "红星",
    "前进",
    "东升",
    "双河",
    "板庙子",
    "三道",
    "四道",
    "五道",
    "头道",
    "二道",
    "大青沟",
    "小营子",
    "江心",
    "老营",
    "北岔",
    "南岔",
    "东岔",
    "西岔",
    "黄柏",
    "杨木",
    "柳树河",
    "榆树",
    "桦树",
    "松树",
    "椴树",
    "黑松沟",
    "白石",
    "金厂",
    "马鞍山",
    "五里",
    "十里",
    "砬子",
    "葫芦套",
    "暖泉子",
    "冷泉",
    "朝阳",
    "永安",
    "兴林",
    "太平",
    "和平",
    "东风",
    "胜利",
    "红光",
    "民主",
    "团结",
    "联合",
    "光明",
    "大营",
    "小营",
    "上甸子",
    "下甸子",
    "沿江",
    "望江",
    "长青",
    "靠山",
    "石湖",
    "三岔",
    "错草",
    "大阳",
    "东川",
    "西川",
    "南川",
    "北川",
    "火绒沟",
    "干饭盆",
    "高丽沟",
    "参场",
    "林源",
    "碱场",
)
NAME_SYLLABLES_A = "东西南北新兴永长太和平安康宁富民红光明华阳泰庆福祥瑞春秋金银松柳"
NAME_SYLLABLES_B = "山河江兴华安阳光胜利丰平和岭泉林源峰明升盛旺隆乐康宁园苑城台"
PLACE_PREFIXES = (
    "头道",
    "二道",
    "三道",
    "四道",
    "五道",
    "六道",
    "七道",
    "八道",
    "大",
    "小",
    "东",
    "西",
    "南",
    "北",
    "前",
    "后",
    "上",
    "下",
    "老",
    "新",
)
PLACE_SUFFIXES = (
    "沟",
    "岔",
    "甸子",
    "营子",
    "屯",
    "河",
    "川",
    "岭",
    "泉",
    "湾",
    "堡",
    "台",
    "砬子",
    "崴子",
    "岗",
)
COMPOUND_HEADS = (
    "江山",
    "丽景",
    "鑫源",
    "金域",
    "阳光",
    "翰林",
    "龙山",
    "长白山",
    "松江",
    "滨江",
    "御景",
    "锦绣",
    "书香",
    "名都",
    "盛世",
    "天润",
    "凯旋",
    "世纪",
    "和谐",
    "幸福",
    "紫金",
    "观山",
    "望江",
    "泰和",
    "宏源",
    "东方",
    "明珠",
    "恒泰",
    "华府",
    "瑞祥",
    "润泽",
    "福源",
    "山水",
    "云顶",
    "碧水",
    "新天地",
    "金色",
    "银河",
    "汇丰",
    "鸿基",
    "万隆",
    "海天",
    "怡景",
    "翠湖",
    "香榭",
    "枫林",
    "桃源",
    "雅苑",
    "昌盛",
    "国泰",
    "民安",
    "康城",
    "嘉禾",
    "锦程",
    "中央",
    "北城",
    "南城",
    "东城",
    "西城",
    "江畔",
    "学府",
    "文苑",
    "林海",
    "参乡",
    "雪松",
    "长青",
    "白桦",
    "宝山",
    "金鼎",
    "星河",
)
COMPOUND_TAILS = (
    "花园",
    "小区",
    "家园",
    "苑",
    "佳苑",
    "华庭",
    "雅居",
    "嘉园",
    "新城",
    "公馆",
    "名苑",
    "丽都",
    "小镇",
    "府",
    "名邸",
    "世家",
    "花苑",
    "新村",
    "庭院",
)
COMPOUND_PHASES = ("一期", "二期", "三期", "四期", "五期")
WORK_UNITS = (
    "林业局",
    "煤矿",
    "水泥厂",
    "电厂",
    "钢厂",
    "矿务局",
    "铁路",
    "木材厂",
    "粮库",
    "供销社",
    "一中",
    "人民医院",
    "机械厂",
    "制药厂",
    "酒厂",
    "运输公司",
)
PROPERTY_HEADS = (
    "宏源",
    "鑫达",
    "恒通",
    "安居",
    "万和",
    "佳和",
    "长青",
    "盛世",
    "锦程",
    "泰和",
    "华城",
    "顺达",
    "诚信",
    "广厦",
    "金鼎",
    "福瑞",
    "天成",
    "海岳",
    "东升",
    "兴业",
    "润达",
    "恒信",
    "百佳",
    "嘉业",
    "众和",
    "惠民",
    "祥和",
    "瑞丰",
    "正阳",
    "永泰",
)
ROAD_NAMES = (
    "人民大街",
    "建设路",
    "解放路",
    "胜利街",
    "新华路",
    "中心街",
    "滨江路",
    "团结路",
    "文化路",
    "兴华路",
    "学府路",
    "迎宾大路",
    "光明路",
    "东风路",
    "站前路",
    "北山路",
)


def _combos(heads: Sequence[str], tails: Sequence[str]) -> list[str]:
    return [h + t for h in heads for t in tails if not h.endswith(t)]


class NamePicker:
    """Unique names: curated ones first (in the given order), then generated ones (shuffled)."""

    def __init__(
        self, rng: Rng, curated: Sequence[str], generated: Sequence[str], shuffle_curated: bool
    ) -> None:
        curated_list = list(curated)
        if shuffle_curated:
            curated_list = [curated_list[i] for i in rng.permutation(len(curated_list))]
        generated_list = [generated[i] for i in rng.permutation(len(generated))]
        self._queue: Iterator[str] = iter(curated_list + generated_list)
        self._used: set[str] = set()

    def take(self) -> str:
        for name in self._queue:
            if name not in self._used:
                self._used.add(name)
                return name
        raise RuntimeError("name pool exhausted")


class PeopleRegistry:
    """Responsible people (负责人): a Chinese name and a unique 11-digit mobile number."""

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        self._phones: set[str] = set()

    def person(self, korean_share: float = 0.0) -> tuple[str, str]:
        rng = self._rng
        if rng.random() < korean_share:
            name = (
                KOREAN_SURNAMES[rng.integers(len(KOREAN_SURNAMES))]
                + KOREAN_GIVEN[rng.integers(len(KOREAN_GIVEN))]
            )
        else:
            # frequent surnames first: a Zipf-like choice over the ordered list
            index = min(int(rng.pareto(1.2) * 6), len(SURNAMES) - 1)
            surname = SURNAMES[index]
            if rng.random() < 0.3:
                given = GIVEN_SINGLE[rng.integers(len(GIVEN_SINGLE))]
            else:
                given = GIVEN_DOUBLE[rng.integers(len(GIVEN_DOUBLE))]
            name = surname + given
        while True:
            prefix = MOBILE_PREFIXES[rng.integers(len(MOBILE_PREFIXES))]
            phone = prefix + "".join(str(d) for d in rng.integers(0, 10, 8))
            if phone not in self._phones:
                self._phones.add(phone)
                return name, phone


# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------


def _polygonal(geometry: shapely.Geometry | None) -> Polygon | MultiPolygon | None:
    """The polygonal part of an overlay result (drops lines and points), or None when empty."""
    if geometry is None or geometry.is_empty:
        return None
    parts = shapely.get_parts(shapely.get_parts(geometry))
    polygons = [p for p in parts if isinstance(p, Polygon) and not p.is_empty and p.area > 0]
    if not polygons:
        return None
    if len(polygons) == 1:
        return polygons[0]
    return MultiPolygon(polygons)


def _part_containing(geometry: shapely.Geometry | None, point: XY) -> Polygon | None:
    """The polygon of ``geometry`` that contains ``point``, else its largest polygon."""
    polygonal = _polygonal(geometry)
    if polygonal is None:
        return None
    parts = list(shapely.get_parts(polygonal))
    target = Point(point)
    for part in parts:
        if part.contains(target):
            return part
    return max(parts, key=lambda p: p.area)


def _blob(
    center: XY, radius: float, rng: Rng, roughness: float = 0.25, vertices: int = 96
) -> Polygon:
    """An irregular star-shaped polygon: a circle whose radius varies with a few harmonics."""
    theta = np.linspace(0.0, 2.0 * np.pi, vertices, endpoint=False)
    factor = np.ones_like(theta)
    for k in range(2, 7):
        factor += rng.uniform(0.0, roughness / k * 2.0) * np.cos(
            k * theta + rng.uniform(0.0, 2.0 * np.pi)
        )
    r = radius * np.clip(factor, 0.35, None)
    return Polygon(np.column_stack([center[0] + r * np.cos(theta), center[1] + r * np.sin(theta)]))


def _sample_in(geometry: shapely.Geometry, n: int, rng: Rng) -> np.ndarray:
    """``n`` points drawn uniformly inside ``geometry`` (rejection sampling), shape (n, 2).

    Scattered multi-part geometries are sampled part by part, in proportion to area."""
    parts = shapely.get_parts(geometry)
    if len(parts) > 1:
        areas = shapely.area(parts)
        counts = rng.multinomial(n, areas / areas.sum())
        points = np.concatenate(
            [_sample_in(part, int(k), rng) for part, k in zip(parts, counts, strict=True) if k > 0]
        )
        return points[rng.permutation(len(points))]
    shapely.prepare(geometry)
    minx, miny, maxx, maxy = geometry.bounds
    box_area = (maxx - minx) * (maxy - miny)
    rate = max(geometry.area / box_area, 0.01)
    found: list[np.ndarray] = []
    total = 0
    while total < n:
        batch = int((n - total) / rate * 1.3) + 16
        xy = np.column_stack([rng.uniform(minx, maxx, batch), rng.uniform(miny, maxy, batch)])
        inside = xy[shapely.contains_xy(geometry, xy[:, 0], xy[:, 1])]
        found.append(inside)
        total += len(inside)
    return np.concatenate(found)[:n]


def _voronoi_split(area: shapely.Geometry, seeds: Sequence[XY]) -> list[Polygon | MultiPolygon]:
    """Split ``area`` into one piece per seed (Voronoi cells clipped to the area), in seed order.

    The pieces tile the area: no gaps, no overlaps (up to floating-point noise)."""
    if len(seeds) == 1:
        return [_polygonal(area)]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(np.asarray(seeds)), extend_to=area, ordered=True
        )
    )
    pieces = [_polygonal(shapely.intersection(cell, area)) for cell in cells]
    if any(p is None for p in pieces) or len(pieces) != len(seeds):
        raise RuntimeError("a Voronoi seed lies outside the area it splits")
    return pieces


def _min_distance(point: np.ndarray, others: Sequence[XY]) -> float:
    if not others:
        return math.inf
    diff = np.asarray(others) - point
    return float(np.sqrt((diff**2).sum(axis=1)).min())


def _ring_seeds(
    center: XY,
    n: int,
    area: shapely.Geometry,
    rng: Rng,
    radius_m: tuple[float, float],
    min_spacing: float,
) -> list[XY]:
    """``n`` seeds around ``center``: the first close to it, the others on a rough ring."""
    shapely.prepare(area)
    seeds: list[XY] = []
    start = rng.uniform(0.0, 2.0 * np.pi)
    for j in range(n):
        low, high = (300.0, 700.0) if j == 0 else radius_m
        angle = start + 2.0 * np.pi * j / max(n - 1, 1)
        spacing = min_spacing
        for attempt in range(400):
            r = rng.uniform(low, high) * (0.93 ** (attempt // 20))
            a = angle + rng.normal(0.0, 0.35 + attempt * 0.02)
            p = np.array([center[0] + r * math.cos(a), center[1] + r * math.sin(a)])
            if shapely.contains_xy(area, p[0], p[1]) and _min_distance(p, seeds) >= spacing:
                seeds.append((float(p[0]), float(p[1])))
                break
            if attempt % 50 == 49:
                spacing *= 0.7
        else:
            raise RuntimeError("could not place a seed near the district seat")
    return seeds


def _spread_seeds(
    area: shapely.Geometry, n: int, rng: Rng, existing: Sequence[XY], candidates: int = 300
) -> list[XY]:
    """``n`` seeds spread over ``area``, far from ``existing`` seeds and from each other."""
    if n <= 0:
        return []
    pool = _sample_in(area, candidates, rng)
    chosen: list[XY] = []
    placed = list(existing)
    for _ in range(n):
        diff = pool[:, None, :] - np.asarray(placed)[None, :, :]
        nearest = np.sqrt((diff**2).sum(axis=2)).min(axis=1)
        score = nearest * rng.uniform(0.7, 1.0, len(pool))
        best = pool[int(np.argmax(score))]
        chosen.append((float(best[0]), float(best[1])))
        placed.append(chosen[-1])
    return chosen


def _cluster_seeds(
    center: XY,
    n: int,
    area: shapely.Geometry,
    rng: Rng,
    scale_m: float,
    min_spacing: float,
    existing: Sequence[XY],
) -> list[XY]:
    """``n`` seeds clustered around ``center`` (gamma-distributed distance), inside ``area``."""
    shapely.prepare(area)
    placed = list(existing)
    chosen: list[XY] = []
    spacing = min_spacing
    attempts = 0
    while len(chosen) < n:
        attempts += 1
        if attempts % 200 == 0:
            spacing *= 0.8
            scale_m *= 1.2
        r = rng.gamma(2.0, scale_m / 2.0)
        a = rng.uniform(0.0, 2.0 * np.pi)
        p = np.array([center[0] + r * math.cos(a), center[1] + r * math.sin(a)])
        if shapely.contains_xy(area, p[0], p[1]) and _min_distance(p, placed) >= spacing:
            chosen.append((float(p[0]), float(p[1])))
            placed.append(chosen[-1])
    return chosen


def _meander(
    origin: XY,
    angle: float,
    half_length: float,
    rng: Rng,
    waves: Sequence[tuple[float, float]],
    vertices: int = 400,
) -> LineString:
    """A smooth wandering line through ``origin`` along ``angle``; ``waves`` = (amplitude,
    wavelength) pairs of the sideways displacement."""
    t = np.linspace(-half_length, half_length, vertices)
    offset = np.zeros_like(t)
    for amplitude, wavelength in waves:
        offset += amplitude * np.sin(2.0 * np.pi * t / wavelength + rng.uniform(0, 2 * np.pi))
    offset -= np.interp(0.0, t, offset)  # pass through the origin
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    x = origin[0] + t * cos_a - offset * sin_a
    y = origin[1] + t * sin_a + offset * cos_a
    return LineString(np.column_stack([x, y]))


def _to_metric(lonlat_crs: str) -> Transformer:
    return Transformer.from_crs(lonlat_crs, METRIC_CRS, always_xy=True)


def _transform_geometries(geometries: np.ndarray, transformer: Transformer) -> np.ndarray:
    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometries, apply)


# ---------------------------------------------------------------------------------------------
# Districts (区县)
# ---------------------------------------------------------------------------------------------


def load_shared_districts(path: Path) -> gpd.GeoDataFrame:
    """The six real units from the shared GCJ-02 GeoJSON, converted to CGCS2000, in EPSG:4551.

    Columns: code, name, seat_x, seat_y (the ``center`` property: the seat of government)."""
    from weijian.gis.chinese_datums import gcj02_to_wgs84

    collection = json.loads(path.read_text(encoding="utf-8"))
    features = sorted(collection["features"], key=lambda f: str(f["properties"]["adcode"]))
    codes = [str(f["properties"]["adcode"]) for f in features]
    if sorted(codes) != sorted(PROFILE_BY_CODE):
        raise ValueError(f"{path} does not hold the six units of Baishan: {codes}")
    geometries = np.array([shapely.geometry.shape(f["geometry"]) for f in features])
    centres = np.array(
        [Point(f["properties"].get("center") or f["properties"]["centroid"]) for f in features]
    )

    def to_wgs84(coords: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    # one call for all districts, so a vertex shared by two districts converts identically
    geometries = shapely.transform(geometries, to_wgs84)
    centres = shapely.transform(centres, to_wgs84)
    to_metric = _to_metric(GEOGRAPHIC_CRS)
    geometries = _transform_geometries(geometries, to_metric)
    centres = _transform_geometries(centres, to_metric)
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [f["properties"]["name"] for f in features],
            "seat_x": shapely.get_x(centres),
            "seat_y": shapely.get_y(centres),
        },
        geometry=geometries,
        crs=METRIC_CRS,
    )


def generate_districts(rng: Rng) -> gpd.GeoDataFrame:
    """Six invented units with the real codes, names and seats: an irregular outline around
    the seats (126–128.3E, 41.3–42.8N) split by a Voronoi diagram of the seats."""
    to_metric = _to_metric(WGS84_CRS)
    seats = [to_metric.transform(*p.seat_wgs84) for p in PROFILES]
    blobs = [
        _blob(seat, math.sqrt(DISTRICT_AREAS_KM2[p.code] * 1e6 / math.pi) * 1.05, rng, 0.35)
        for seat, p in zip(seats, PROFILES, strict=True)
    ]
    hull = shapely.convex_hull(shapely.multipoints(np.asarray(seats))).buffer(9000.0)
    outline = shapely.union_all([*blobs, hull]).buffer(4000.0).buffer(-4000.0)
    frame = _transform_geometries(np.array([shapely.box(126.0, 41.3, 128.3, 42.8)]), to_metric)[0]
    outline = _part_containing(shapely.intersection(outline, frame), seats[0])
    pieces = _voronoi_split(outline, seats)
    return gpd.GeoDataFrame(
        {
            "code": [p.code for p in PROFILES],
            "name": [p.name for p in PROFILES],
            "seat_x": [s[0] for s in seats],
            "seat_y": [s[1] for s in seats],
        },
        geometry=pieces,
        crs=METRIC_CRS,
    )


def build_districts(
    shared_data_dir: Path, rng: Rng, people: PeopleRegistry, log: Log
) -> tuple[gpd.GeoDataFrame, str]:
    """The district level, from the shared file when present; returns (frame, source)."""
    path = shared_data_dir / SHARED_DISTRICTS_FILE
    if path.is_file():
        districts, source = load_shared_districts(path), "shared-data"
        log(f"districts: {path} (GCJ-02 → CGCS2000)")
    else:
        districts, source = generate_districts(rng), "generated"
        log(f"districts: generated ({path} not found)")
    contacts = [people.person(PROFILE_BY_CODE[c].korean_share) for c in districts["code"]]
    districts["fzr"] = [c[0] for c in contacts]
    districts["lxdh"] = [c[1] for c in contacts]
    return districts, source


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
        core = _part_containing(
            shapely.intersection(_blob(seat, radius * 1.8, rng, roughness=0.25), area), seat
        )
        rest = _polygonal(shapely.difference(area, core))
        street_seeds = _ring_seeds(
            seat,
            n_streets,
            core,
            rng,
            radius_m=(0.35 * radius, 0.95 * radius),
            min_spacing=0.45 * radius,
        )
        town_seeds = _spread_seeds(rest, n_towns, rng, existing=[seat, *street_seeds])
        pieces = _voronoi_split(core, street_seeds) + _voronoi_split(rest, town_seeds)
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
                    [n + "社区" for n in _combos(NAME_SYLLABLES_A, NAME_SYLLABLES_B)],
                    True,
                ),
                NamePicker(
                    rng,
                    [h + "村" for h in VILLAGE_HEADS],
                    [n + "村" for n in _combos(PLACE_PREFIXES, PLACE_SUFFIXES)],
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
                *_cluster_seeds(
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
            seeds = [seat, *_spread_seeds(area, n - 1, rng, existing=[seat])]
        pieces = _voronoi_split(area, seeds)
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


# ---------------------------------------------------------------------------------------------
# Zones: urban management area, town-planned construction land
# ---------------------------------------------------------------------------------------------


def build_urban_managed(districts: gpd.GeoDataFrame, rng: Rng) -> gpd.GeoDataFrame:
    """One irregular urban management area (城市化管理区域) around each district seat."""
    rows = []
    for district in districts.itertuples():
        profile = PROFILE_BY_CODE[district.code]
        seat = (district.seat_x, district.seat_y)
        blob = _blob(seat, profile.urban_radius_m, rng, roughness=0.3)
        piece = _part_containing(shapely.intersection(blob, district.geometry), seat)
        rows.append(
            {
                "code": f"CSGL-{district.code}",
                "name": f"{district.name}城市化管理区域",
                "district_code": district.code,
                "geometry": piece,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)


def build_town_planned(
    districts: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, urban: gpd.GeoDataFrame, rng: Rng
) -> gpd.GeoDataFrame:
    """Construction land of the town master plans around each town seat, plus an extension of
    each county town (县城) beside its urban management area; never overlapping that area."""
    taken = shapely.union_all(urban.geometry.values)
    rows = []
    for town in towns[towns["kind"] == "town"].itertuples():
        seat = (town.seat_x, town.seat_y)
        blob = _blob(seat, rng.uniform(650.0, 1400.0), rng, roughness=0.35)
        piece = _part_containing(
            shapely.difference(shapely.intersection(blob, town.geometry), taken), seat
        )
        if piece is None or piece.area < 50_000.0:
            continue
        taken = shapely.union(taken, piece)
        rows.append(
            {
                "code": f"JSYD-{town.code}",
                "name": f"{town.name}总体规划建设用地",
                "district_code": town.district_code,
                "geometry": piece,
            }
        )
    for district in districts.itertuples():
        profile = PROFILE_BY_CODE[district.code]
        if not profile.is_county:
            continue
        angle = rng.uniform(0.0, 2.0 * np.pi)
        reach = profile.urban_radius_m * 1.05
        centre = (
            district.seat_x + reach * math.cos(angle),
            district.seat_y + reach * math.sin(angle),
        )
        blob = _blob(centre, profile.urban_radius_m * 0.55, rng, roughness=0.3)
        piece = _part_containing(
            shapely.difference(shapely.intersection(blob, district.geometry), taken), centre
        )
        if piece is None or piece.area < 100_000.0:
            continue
        taken = shapely.union(taken, piece)
        rows.append(
            {
                "code": f"JSYD-{district.code}",
                "name": f"{district.name}县城总体规划建设用地",
                "district_code": district.code,
                "geometry": piece,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)


# ---------------------------------------------------------------------------------------------
# Compounds (小区)
# ---------------------------------------------------------------------------------------------


def _quotas(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=float) / sum(weights)
    raw = w * total
    base = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - base), kind="stable")[: total - int(base.sum())]:
        base[i] += 1
    return [int(b) for b in base]


def _block(rng: Rng, pitch: float, gap: float) -> np.ndarray:
    """Local coordinates (centred) of one block: a rectangle, one in four L-shaped."""
    usable = pitch - gap
    w = rng.uniform(0.55, 1.0) * usable
    h = rng.uniform(0.55, 1.0) * usable
    if rng.random() < 0.25:
        a = rng.uniform(0.35, 0.5) * w
        b = rng.uniform(0.35, 0.5) * h
        coords = np.array([(0, 0), (w, 0), (w, h - b), (w - a, h - b), (w - a, h), (0, h)])
    else:
        coords = np.array([(0, 0), (w, 0), (w, h), (0, h)])
    coords = coords - np.array([w / 2.0, h / 2.0])
    if rng.random() < 0.5:
        coords = coords[::-1] * np.array([-1.0, 1.0])  # mirror, keep orientation
    offset = rng.uniform(-1.0, 1.0, 2) * (usable - np.array([w, h])) / 2.0
    return coords + offset


def _block_candidates(
    seat: XY, area: shapely.Geometry, pitch: float, angle: float, rng: Rng
) -> list[Polygon]:
    """Blocks on a rotated street grid around ``seat`` that lie inside ``area``."""
    gap = max(22.0, pitch * 0.1)
    minx, miny, maxx, maxy = area.bounds
    reach = max(math.hypot(x - seat[0], y - seat[1]) for x in (minx, maxx) for y in (miny, maxy))
    steps = int(reach / pitch) + 1
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    shapely.prepare(area)
    blocks = []
    for i in range(-steps, steps):
        for j in range(-steps, steps):
            local = _block(rng, pitch, gap)
            tilt = math.radians(rng.uniform(-3.0, 3.0))
            ct, st = math.cos(tilt), math.sin(tilt)
            local = local @ np.array([[ct, st], [-st, ct]])
            local = local + np.array([(i + 0.5) * pitch, (j + 0.5) * pitch])
            x = seat[0] + local[:, 0] * cos_a - local[:, 1] * sin_a
            y = seat[1] + local[:, 0] * sin_a + local[:, 1] * cos_a
            block = Polygon(np.column_stack([x, y]))
            if area.contains(block):
                blocks.append(block)
    return blocks


class CompoundNamer:
    """Unique compound names: mostly estate names (江山花园, 丽景小区 …), some old work-unit
    housing (林业局家属楼 …); phases (一期, 二期 …) when the plain names run out."""

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        estates = _combos(COMPOUND_HEADS, COMPOUND_TAILS)
        self._estates = NamePicker(rng, [], estates, True)
        self._others = NamePicker(
            rng,
            [u + "家属楼" for u in WORK_UNITS],
            [n + p for n in estates for p in COMPOUND_PHASES],
            True,
        )

    def take(self) -> str:
        if self._rng.random() < 0.07:
            return self._others.take()
        try:
            return self._estates.take()
        except RuntimeError:
            return self._others.take()


def build_compounds(
    districts: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    spec: ScaleSpec,
    rng: Rng,
    people: PeopleRegistry,
) -> gpd.GeoDataFrame:
    """Residential compounds: blocks (~150–300 m) on a rotated street grid around each seat,
    inside the urban management area (and, at city scale, town-planned land), each inside one
    community. Codes: community code + 001…"""
    community_tree = shapely.STRtree(communities.geometry.values)
    quotas = _quotas(spec.compounds, [PROFILE_BY_CODE[c].weight for c in districts["code"]])
    chosen: list[tuple[Polygon, int]] = []
    for district, quota in zip(districts.itertuples(), quotas, strict=True):
        seat = (district.seat_x, district.seat_y)
        zones = list(urban.loc[urban["district_code"] == district.code, "geometry"])
        if spec.compounds_in_towns:
            zones += list(planned.loc[planned["district_code"] == district.code, "geometry"])
        angle = rng.uniform(-0.5, 0.5)
        pitch = spec.compound_pitch_m
        for _ in range(8):
            blocks: list[Polygon] = []
            for zone in zones:
                # the grid is centred on the seat, or on the town-planned land it covers
                if zone.contains(Point(seat)):
                    centre = seat
                else:
                    inner = zone.representative_point()
                    centre = (inner.x, inner.y)
                blocks += _block_candidates(centre, zone, pitch, angle, rng)
            pairs = community_tree.query(np.array(blocks, dtype=object), predicate="within")
            if pairs.shape[1] >= quota:
                break
            pitch *= 0.88
        else:
            raise RuntimeError(f"not enough room for {quota} compounds in {district.name}")
        block_index, community_index = pairs
        centroids = shapely.centroid(np.array(blocks, dtype=object)[block_index])
        distance = shapely.distance(centroids, Point(seat))
        score = distance / (PROFILE_BY_CODE[district.code].urban_radius_m) + rng.uniform(
            0.0, 0.6, len(distance)
        )
        for k in np.argsort(score, kind="stable")[:quota]:
            chosen.append((blocks[block_index[k]], int(community_index[k])))
    # number the compounds within each community from north-west to south-east
    order = sorted(
        range(len(chosen)),
        key=lambda k: (
            communities["code"].iat[chosen[k][1]],
            -round(chosen[k][0].centroid.y, 3),
            round(chosen[k][0].centroid.x, 3),
        ),
    )
    names = CompoundNamer(rng)
    companies = {
        code: [
            f"白山市{PROPERTY_HEADS[i]}物业服务有限公司"
            if rng.random() < 0.7
            else f"{PROFILE_BY_CODE[code].short_name}{PROPERTY_HEADS[i]}物业管理有限公司"
            for i in rng.choice(len(PROPERTY_HEADS), 6 + spec.index * 10, replace=False)
        ]
        for code in districts["code"]
    }
    counters: dict[str, int] = {}
    rows = []
    for k in order:
        block, community_idx = chosen[k]
        community_code = communities["code"].iat[community_idx]
        district_code = community_code[:6]
        counters[community_code] = counters.get(community_code, 0) + 1
        name = names.take()
        if name.endswith("家属楼") or rng.random() < 0.08:
            company = "社区代管"
        else:
            pool = companies[district_code]
            company = pool[min(int(rng.pareto(1.0) * 1.5), len(pool) - 1)]
        fzr, phone = people.person(PROFILE_BY_CODE[district_code].korean_share)
        rows.append(
            {
                "code": f"{community_code}{counters[community_code]:03d}",
                "name": name,
                "community_code": community_code,
                "company": company,
                "fzr": fzr,
                "lxdh": phone,
                "geometry": block,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)


# ---------------------------------------------------------------------------------------------
# Land use (GB/T 21010-2017)
# ---------------------------------------------------------------------------------------------

LAND_USE_NAMES = {
    "0101": "水田",
    "0102": "水浇地",
    "0103": "旱地",
    "0201": "果园",
    "0204": "其他园地",
    "0301": "乔木林地",
    "0305": "灌木林地",
    "0307": "其他林地",
    "0401": "天然牧草地",
    "0404": "其他草地",
    "0501": "零售商业用地",
    "0502": "批发市场用地",
    "0503": "餐饮用地",
    "0504": "旅馆用地",
    "0505": "商务金融用地",
    "0507": "其他商服用地",
    "0601": "工业用地",
    "0602": "采矿用地",
    "0604": "仓储用地",
    "0701": "城镇住宅用地",
    "0702": "农村宅基地",
    "0801": "机关团体用地",
    "0803": "教育用地",
    "0805": "医疗卫生用地",
    "0807": "文化设施用地",
    "0808": "体育用地",
    "0809": "公用设施用地",
    "0810": "公园与绿地",
    "1003": "公路用地",
    "1004": "城镇村道路用地",
    "1005": "交通服务场站用地",
    "1006": "农村道路",
    "1101": "河流水面",
    "1104": "坑塘水面",
    "1107": "沟渠",
    "1201": "空闲地",
    "1202": "设施农用地",
    "1207": "裸岩石砾地",
}

#: land-use mixes by kind of place: code → weight
LAND_USE_MIXES: dict[str, dict[str, float]] = {
    "urban_core": {
        "0701": 45,
        "0501": 8,
        "0505": 5,
        "0503": 3,
        "0504": 2,
        "0502": 2,
        "0507": 2,
        "0801": 5,
        "0803": 5,
        "0805": 3,
        "0807": 2,
        "0808": 1,
        "0809": 2,
        "0810": 6,
        "1005": 2,
        "1201": 2,
        "0601": 2,
        "0604": 1,
    },
    "urban_edge": {
        "0701": 40,
        "0601": 14,
        "0604": 6,
        "0602": 3,
        "0501": 4,
        "0502": 2,
        "0801": 3,
        "0803": 4,
        "0805": 2,
        "0809": 4,
        "0810": 5,
        "1005": 2,
        "1201": 4,
        "0702": 3,
        "0103": 4,
    },
    "town_built": {
        "0701": 38,
        "0702": 20,
        "0601": 10,
        "0604": 5,
        "0501": 6,
        "0503": 2,
        "0801": 5,
        "0803": 4,
        "0805": 2,
        "0809": 3,
        "1201": 3,
        "1005": 2,
    },
    "village": {
        "0702": 68,
        "0103": 10,
        "1202": 6,
        "0201": 4,
        "0204": 2,
        "1104": 3,
        "0801": 2,
        "0803": 1,
        "1201": 2,
        "0601": 2,
    },
    "farmland_valley": {
        "0101": 35,
        "0102": 10,
        "0103": 42,
        "1104": 4,
        "1202": 3,
        "1107": 3,
        "0404": 3,
    },
    "farmland": {"0103": 76, "0102": 6, "0101": 3, "1202": 4, "0201": 4, "1104": 2, "0404": 5},
    "hillside": {
        "0201": 12,
        "0204": 18,
        "0401": 14,
        "0404": 10,
        "0307": 26,
        "0305": 12,
        "0103": 8,
    },
    "forest": {"0301": 82, "0307": 8, "0305": 6, "0401": 2, "1207": 2},
}
COLLECTIVE_CODES = (
    "0101",
    "0102",
    "0103",
    "0201",
    "0204",
    "0305",
    "0307",
    "0401",
    "0404",
    "0702",
    "1006",
    "1104",
    "1107",
    "1202",
)


@dataclass(frozen=True)
class WarpField:
    """A smooth displacement field: a sum of plane waves. Its Jacobian stays well below one,
    so the warp is one-to-one and shared edges stay shared and non-crossing."""

    wave_vectors: np.ndarray  # (k, 2), radians per metre
    phases: np.ndarray  # (k,)
    displacements: np.ndarray  # (k, 2), metres

    @classmethod
    def random(cls, rng: Rng, scales: Sequence[tuple[float, float]]) -> WarpField:
        """``scales``: (wavelength m, amplitude m); two waves per scale."""
        vectors, phases, displacements = [], [], []
        for wavelength, amplitude in scales:
            for _ in range(2):
                a, b = rng.uniform(0, 2 * np.pi, 2)
                k = 2 * np.pi / wavelength
                vectors.append((k * math.cos(a), k * math.sin(a)))
                phases.append(rng.uniform(0, 2 * np.pi))
                displacements.append((amplitude / 2 * math.cos(b), amplitude / 2 * math.sin(b)))
        return cls(np.array(vectors), np.array(phases), np.array(displacements))

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        for vector, phase, shift in zip(
            self.wave_vectors, self.phases, self.displacements, strict=True
        ):
            wave = np.sin(coords @ vector + phase)
            out += wave[:, None] * shift[None, :]
        return out


@dataclass(frozen=True)
class LandscapeModel:
    """Where things are, to choose plausible land use: seats, villages, rivers, roads."""

    region: shapely.Geometry  # the parcels' extent (windows ∩ city)
    window: shapely.Geometry  # the windows (without the city clip)
    district_seats: np.ndarray  # (6, 2) in district order
    urban_radius: np.ndarray  # (6,)
    settlements: np.ndarray  # (m, 2): villages and hamlets
    rivers: shapely.Geometry  # centre lines
    corridors: tuple[tuple[str, shapely.Geometry], ...]  # (DLBM, polygon), by priority
    terrain: WarpField  # a smooth random scalar field: the x displacement of a warp


def _landuse_window(districts: gpd.GeoDataFrame, spec: ScaleSpec) -> shapely.Geometry:
    seats = districts.set_index("code")[["seat_x", "seat_y"]]
    squares = []
    for code, side_km in spec.landuse_windows_km:
        x, y = seats.loc[code]
        half = side_km * 500.0
        squares.append(shapely.box(x - half, y - half, x + half, y + half))
    return shapely.union_all(squares)


def _hamlets(
    rural: shapely.Geometry,
    existing: np.ndarray,
    rng: Rng,
    per_km2: float = 0.12,
    spacing_m: float = 1300.0,
) -> np.ndarray:
    """Natural villages (自然屯) scattered over rural land, at least ``spacing_m`` apart."""
    target = int(rural.area / 1e6 * per_km2)
    if target == 0:
        return np.empty((0, 2))
    candidates = _sample_in(rural, target * 3, rng)
    accepted = [tuple(p) for p in existing]
    chosen: list[np.ndarray] = []
    for point in candidates:
        if len(chosen) >= target:
            break
        if _min_distance(point, accepted) >= spacing_m:
            accepted.append(tuple(point))
            chosen.append(point)
    return np.asarray(chosen).reshape(-1, 2)


def _rural_road_tree(
    settlements: np.ndarray, hubs: np.ndarray, rng: Rng, max_length_m: float = 9000.0
) -> list[LineString]:
    """Country roads: each settlement, nearest first, joins the closest settlement or hub that
    is already connected — a tree of roads branching out from the towns."""
    connected = [tuple(h) for h in hubs]
    if not connected or not len(settlements):
        return []
    hub_distance = np.array([_min_distance(p, connected) for p in settlements])
    roads = []
    for k in np.argsort(hub_distance, kind="stable"):
        point = settlements[k]
        others = np.asarray(connected)
        distance = np.hypot(*(others - point).T)
        j = int(np.argmin(distance))
        length = float(distance[j])
        connected.append(tuple(point))
        if length < 1.0 or length > max_length_m:
            continue
        target = others[j]
        angle = math.atan2(target[1] - point[1], target[0] - point[0])
        middle = ((point[0] + target[0]) / 2, (point[1] + target[1]) / 2)
        roads.append(
            _meander(
                middle,
                angle,
                length / 2,
                rng,
                ((length * 0.06, length * 1.6),),
                vertices=max(8, int(length / 120)),
            )
        )
    return roads


def _corridor(
    lines: Sequence[shapely.Geometry],
    width: float,
    extent: shapely.Geometry,
    minus: shapely.Geometry | None = None,
) -> shapely.Geometry:
    """The strip of land along ``lines`` (a road or river parcel band), clipped to ``extent``."""
    lines = [g for g in lines if g is not None and not g.is_empty]
    if not lines:
        return Polygon()
    strip = shapely.union_all(
        shapely.buffer(
            np.array(lines, dtype=object),
            width / 2.0,
            cap_style="flat",
            join_style="round",
            quad_segs=2,
        )
    )
    if minus is not None:
        strip = shapely.difference(strip, minus)
    return _polygonal(shapely.intersection(strip, extent)) or Polygon()


def _landscape(
    districts: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    spec: ScaleSpec,
    rng: Rng,
) -> LandscapeModel:
    """Rivers and highways along the valley through each seat, a grid of main streets in the
    urban management area, villages and hamlets tied together by country roads."""
    window = _landuse_window(districts, spec)
    region = shapely.intersection(window, shapely.union_all(districts.geometry.values))
    shapely.prepare(region)
    seats = districts[["seat_x", "seat_y"]].to_numpy()
    radius = np.array([PROFILE_BY_CODE[c].urban_radius_m for c in districts["code"]])
    built = shapely.union_all([*urban.geometry.values, *planned.geometry.values])
    village_seats = communities.loc[
        communities["kind"] == "village", ["seat_x", "seat_y"]
    ].to_numpy()
    village_seats = village_seats[shapely.contains_xy(region, *village_seats.T)]
    town_seats = towns.loc[towns["kind"] == "town", ["seat_x", "seat_y"]].to_numpy()
    hubs = np.concatenate([seats, town_seats])
    hubs = hubs[shapely.contains_xy(region, *hubs.T)]
    rural_land = _polygonal(shapely.difference(region, built.buffer(800.0)))
    hamlets = (
        _hamlets(rural_land, np.concatenate([village_seats, hubs]), rng)
        if rural_land is not None
        else np.empty((0, 2))
    )
    settlements = np.concatenate([village_seats, hamlets])
    rivers, highways, streets = [], [], []
    for code, side_km in spec.landuse_windows_km:
        i = int(np.flatnonzero(districts["code"].to_numpy() == code)[0])
        seat = (seats[i, 0], seats[i, 1])
        half = side_km * 800.0
        river_angle = math.radians(35.0) + rng.normal(0.0, 0.3)
        across = rng.uniform(250.0, 600.0) * rng.choice([-1.0, 1.0])
        river_origin = (
            seat[0] - across * math.sin(river_angle),
            seat[1] + across * math.cos(river_angle),
        )
        rivers.append(
            _meander(
                river_origin,
                river_angle,
                half,
                rng,
                ((700.0, 6000.0), (250.0, 1900.0), (60.0, 600.0)),
            )
        )
        valley_offset = -across * rng.uniform(1.5, 3.0)
        road_origin = (
            seat[0] - valley_offset * math.sin(river_angle),
            seat[1] + valley_offset * math.cos(river_angle),
        )
        highways.append(
            _meander(road_origin, river_angle, half, rng, ((500.0, 6500.0), (120.0, 2200.0)))
        )
        cross_angle = river_angle + rng.uniform(1.1, 2.0)
        highways.append(_meander(seat, cross_angle, half, rng, ((400.0, 5000.0),)))
        urban_zone = shapely.union_all(urban.loc[urban["district_code"] == code].geometry.values)
        grid_angle = river_angle + rng.normal(0.0, 0.1)
        spacing = rng.uniform(900.0, 1200.0)
        reach = PROFILE_BY_CODE[code].urban_radius_m * 1.6
        for along in (grid_angle, grid_angle + math.pi / 2):
            for k in range(-int(reach / spacing), int(reach / spacing) + 1):
                shift = (k + 0.37) * spacing
                origin = (seat[0] - shift * math.sin(along), seat[1] + shift * math.cos(along))
                line = _meander(origin, along, reach, rng, ((15.0, 3000.0),), vertices=60)
                streets.append(shapely.intersection(line, urban_zone))
    extent = window.buffer(2000.0)
    return LandscapeModel(
        region=region,
        window=window,
        district_seats=seats,
        urban_radius=radius,
        settlements=settlements,
        rivers=shapely.union_all(rivers),
        corridors=(
            ("1101", _corridor(rivers, 70.0, extent)),
            ("1003", _corridor(highways, 28.0, extent)),
            ("1004", _corridor(streets, 22.0, extent)),
            ("1006", _corridor(_rural_road_tree(settlements, hubs, rng), 7.0, extent, built)),
        ),
        terrain=WarpField.random(rng, ((9000.0, 1.0), (4000.0, 0.7), (1800.0, 0.35))),
    )


def _parcel_seeds(model: LandscapeModel, count: int, rng: Rng) -> np.ndarray:
    """Seeds of the parcel tessellation from a density mixture: a uniform background, dense
    bumps at the seats (small urban parcels) and smaller bumps at the villages."""
    region = model.region
    components: list[tuple[float, Callable[[int], np.ndarray]]] = []
    components.append((region.area * 1.0, lambda n: _sample_in(region, n, rng)))
    for seat, radius in zip(model.district_seats, model.urban_radius, strict=True):
        if shapely.distance(Point(seat), region) > radius:
            continue
        sigma = radius / math.sqrt(2.0)
        components.append(
            (12.0 * math.pi * radius**2, lambda n, s=seat, g=sigma: s + rng.normal(0.0, g, (n, 2)))
        )
    for seat in model.settlements:
        components.append(
            (3.0 * math.pi * 420.0**2, lambda n, s=seat: s + rng.normal(0.0, 300.0, (n, 2)))
        )
    masses = np.array([m for m, _ in components])
    counts = rng.multinomial(int(count * 1.15), masses / masses.sum())
    points = np.concatenate(
        [draw(int(n)) for (_, draw), n in zip(components, counts, strict=True) if n > 0]
    )
    points = points[rng.permutation(len(points))]
    points = points[shapely.contains_xy(region, *points.T)][:count]
    # one Lloyd step evens out the spacing a little: fewer needle-thin cells
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=region, ordered=True)
    )
    centroids = shapely.centroid(shapely.intersection(cells, region.envelope))
    moved = np.column_stack([shapely.get_x(centroids), shapely.get_y(centroids)])
    return 0.5 * points + 0.5 * moved


def _parcel_faces(
    model: LandscapeModel,
    districts: gpd.GeoDataFrame,
    seeds: np.ndarray,
    segments_per_spacing: float,
    rng: Rng,
    log: Log,
) -> np.ndarray:
    """Parcels sharing their edges exactly: Voronoi edges, densified and warped by one smooth
    field, noded with the district borders, the windows and the corridors, then polygonized."""
    started = time.perf_counter()
    region = model.region
    bounds = region.envelope.buffer(3000.0).envelope
    edges = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=bounds, only_edges=True)
    )
    keep = shapely.STRtree(edges).query(region.buffer(500.0), predicate="intersects")
    edges = edges[np.sort(keep)]
    # local spacing: twice the distance from an edge's midpoint to the nearest seed
    midpoints = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    seed_points = shapely.points(seeds)
    _, distance = shapely.STRtree(seed_points).query_nearest(
        midpoints, return_distance=True, all_matches=False
    )
    segment = np.maximum(2.0 * distance / segments_per_spacing, 4.0)
    edges = shapely.segmentize(edges, segment)
    warp = WarpField.random(rng, ((2600.0, 110.0), (850.0, 26.0), (320.0, 7.0)))
    edges = shapely.transform(edges, warp)
    log(
        f"  land use: {len(edges)} Voronoi edges densified and warped "
        f"({time.perf_counter() - started:.1f} s)"
    )
    xmin, ymin, xmax, ymax = bounds.bounds
    borders = [
        shapely.clip_by_rect(shapely.boundary(g), xmin, ymin, xmax, ymax)
        for g in districts.geometry.values
    ]
    cuts = [*borders, shapely.boundary(model.window)]
    cuts += [shapely.boundary(poly) for _, poly in model.corridors if not poly.is_empty]
    linework = shapely.union_all(np.concatenate([edges, np.array(cuts, dtype=object)]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(linework)))
    inside = shapely.point_on_surface(faces)
    faces = faces[shapely.contains_xy(region, shapely.get_x(inside), shapely.get_y(inside))]
    coverage = shapely.area(faces).sum() / region.area
    log(
        f"  land use: {len(faces)} faces polygonized, {coverage:.6f} of the region "
        f"({time.perf_counter() - started:.1f} s)"
    )
    if abs(coverage - 1.0) > 1e-6:
        raise RuntimeError(f"land-use parcels cover {coverage:.6f} of their region, not 1")
    return faces


def _choose(rng: Rng, mix: str, n: int, mining: np.ndarray) -> np.ndarray:
    codes = list(LAND_USE_MIXES[mix])
    weights = np.array([LAND_USE_MIXES[mix][c] for c in codes], dtype=float)
    picks = rng.choice(len(codes), size=n, p=weights / weights.sum())
    out = np.array(codes, dtype=object)[picks]
    if "0602" in codes:
        out[(out == "0602") & ~mining] = "0601"
    return out


def _classify_parcels(
    faces: np.ndarray,
    model: LandscapeModel,
    districts: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    rng: Rng,
) -> pd.DataFrame:
    """DLBM and QSDWMC for each face, chosen by place: corridors, urban core and edge, town
    construction land, villages, then farmland in valleys, orchards on slopes, forest above."""
    points = shapely.point_on_surface(faces)
    x, y = shapely.get_x(points), shapely.get_y(points)
    n = len(faces)
    district_index = np.full(n, -1)
    hit = shapely.STRtree(districts.geometry.values).query(points, predicate="intersects")
    district_index[hit[0]] = hit[1]
    community_index = np.full(n, -1)
    hit = shapely.STRtree(communities.geometry.values).query(points, predicate="intersects")
    community_index[hit[0]] = hit[1]
    urban_union = shapely.union_all(urban.geometry.values)
    planned_union = shapely.union_all(planned.geometry.values)
    shapely.prepare(urban_union)
    shapely.prepare(planned_union)
    in_urban = shapely.contains_xy(urban_union, x, y)
    in_planned = shapely.contains_xy(planned_union, x, y)
    seat = model.district_seats[district_index]
    u = np.hypot(x - seat[:, 0], y - seat[:, 1]) / model.urban_radius[district_index]
    if len(model.settlements):
        _, d_village = shapely.STRtree(shapely.points(model.settlements)).query_nearest(
            points, return_distance=True, all_matches=False
        )
    else:
        d_village = np.full(n, np.inf)
    d_river = shapely.distance(points, model.rivers)
    # terrain: a smooth random field, low along the rivers and around the settlements
    noise = model.terrain(np.column_stack([x, y]))[:, 0] - x
    height = (
        noise
        - 1.6 * np.exp(-((d_river / 1800.0) ** 2))
        - 0.9 * np.exp(-((d_village / 1400.0) ** 2))
        + rng.normal(0.0, 0.12, n)
    )
    mining = np.array([PROFILE_BY_CODE[c].mining for c in districts["code"]])[district_index]
    area = shapely.area(faces)

    mix = np.full(n, "", dtype=object)
    built_urban = in_urban & (rng.random(n) < np.clip(1.1 - 0.75 * u**2, 0.2, 0.97))
    mix[built_urban & (u < 0.35)] = "urban_core"
    mix[built_urban & (u >= 0.35)] = "urban_edge"
    mix[(mix == "") & in_planned & (rng.random(n) < 0.82)] = "town_built"
    mix[(mix == "") & (d_village < 260.0 + rng.uniform(0.0, 140.0, n))] = "village"
    # the rest by height: the lowest 30 % of the land (by area) is farmland, then 10 % of
    # orchards, grass and scrub on the slopes, then forest — Baishan is mostly forest
    rural = mix == ""
    by_height = np.argsort(height[rural], kind="stable")
    share = np.cumsum(area[rural][by_height]) / max(area[rural].sum(), 1.0)
    rank = np.interp(height, height[rural][by_height], share) if rural.any() else height * 0
    mix[rural & (rank < 0.30) & (d_river < 900.0)] = "farmland_valley"
    mix[rural & (rank < 0.30) & (d_river >= 900.0)] = "farmland"
    mix[rural & (rank >= 0.30) & (rank < 0.40)] = "hillside"
    mix[mix == ""] = "forest"
    dlbm = np.full(n, "", dtype=object)
    for name in LAND_USE_MIXES:
        chosen = mix == name
        dlbm[chosen] = _choose(rng, name, int(chosen.sum()), mining[chosen])
    corridor_code = np.full(n, "", dtype=object)
    for code, corridor in reversed(model.corridors):  # the first corridor wins
        if corridor.is_empty:
            continue
        shapely.prepare(corridor)
        corridor_code[shapely.contains_xy(corridor, x, y)] = code
    dlbm = np.where(corridor_code != "", corridor_code, dlbm)

    # owner unit (权属单位): village or residents' committee for collective land, the state for
    # urban land, roads, rivers and the high forest (国有林场)
    district_names = districts["name"].to_numpy()[district_index]
    committee = np.array(
        [
            f"{name}村民委员会" if kind == "village" else f"{name}居民委员会"
            for name, kind in zip(communities["name"], communities["kind"], strict=True)
        ],
        dtype=object,
    )[community_index]
    state_forest = (dlbm == "0301") & (rank > 0.8)
    collective = np.isin(dlbm, COLLECTIVE_CODES) | ((dlbm == "0301") & ~state_forest)
    owner = np.where(collective, committee, district_names + "国有土地")
    owner = np.where(state_forest, district_names + "国有林场", owner)
    return pd.DataFrame(
        {"DLBM": dlbm, "QSDWMC": owner, "district": district_index, "corridor": corridor_code != ""}
    )


def _shared_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of faces (i < j) whose rings share segments exactly, with the shared length."""
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of[:-1] == ring_of[1:]
    a, b = coords[:-1][same_ring], coords[1:][same_ring]
    face = ring_face[ring_of[:-1][same_ring]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    low = np.where(swap[:, None], b, a)
    high = np.where(swap[:, None], a, b)
    order = np.lexsort((high[:, 1], high[:, 0], low[:, 1], low[:, 0]))
    key = np.column_stack([low, high])[order]
    face = face[order]
    twin = np.all(key[1:] == key[:-1], axis=1) & (face[1:] != face[:-1])
    first, second = face[:-1][twin], face[1:][twin]
    length = np.hypot(*(key[1:, 2:] - key[1:, :2])[twin].T)
    pairs = pd.DataFrame(
        {"i": np.minimum(first, second), "j": np.maximum(first, second), "length": length}
    )
    pairs = pairs.groupby(["i", "j"], sort=True)["length"].sum().reset_index()
    return pairs["i"].to_numpy(), pairs["j"].to_numpy(), pairs["length"].to_numpy()


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))])


def _merge_parcels(
    faces: np.ndarray, attributes: pd.DataFrame, max_run: int = 6, sliver_m2: float = 80.0
) -> tuple[np.ndarray, pd.DataFrame]:
    """Join road and river pieces into runs of up to ``max_run`` pieces, and slivers into the
    neighbour they share the longest edge with (within one district). Joined parcels keep the
    attributes of their largest piece; edges stay exactly shared (coverage union)."""
    i, j, length = _shared_edges(faces)
    district = attributes["district"].to_numpy()
    i, j, length = (v[district[i] == district[j]] for v in (i, j, length))
    codes = attributes["DLBM"].to_numpy()
    corridor = attributes["corridor"].to_numpy()
    area = shapely.area(faces)
    groups = _UnionFind(len(faces))
    size = np.ones(len(faces), dtype=int)
    group_area = area.copy()

    def join(a: int, b: int) -> None:
        ra, rb = groups.find(a), groups.find(b)
        if ra != rb:
            groups.parent[rb] = ra
            size[ra] += size[rb]
            group_area[ra] += group_area[rb]

    runs = corridor[i] & corridor[j] & (codes[i] == codes[j])
    run_i, run_j = i[runs], j[runs]
    for k in np.argsort(-length[runs], kind="stable"):
        a, b = int(run_i[k]), int(run_j[k])
        if size[groups.find(a)] + size[groups.find(b)] <= max_run:
            join(a, b)
    slivers = np.flatnonzero(
        np.array([group_area[groups.find(k)] for k in range(len(faces))]) < sliver_m2
    )
    neighbours = pd.DataFrame(
        {
            "face": np.concatenate([i, j]),
            "other": np.concatenate([j, i]),
            "length": np.concatenate([length, length]),
        }
    )
    neighbours = neighbours[neighbours["face"].isin(slivers)].sort_values(
        ["face", "length", "other"], ascending=[True, False, True], kind="stable"
    )
    for face, rows in neighbours.groupby("face", sort=True):
        if group_area[groups.find(int(face))] >= sliver_m2:
            continue
        for other in rows["other"].to_numpy():
            if groups.find(int(other)) != groups.find(int(face)):
                join(int(other), int(face))
                break
    roots = groups.roots()
    order = np.lexsort((-area, roots))  # each group's largest piece first
    starts = np.flatnonzero(np.r_[True, roots[order][1:] != roots[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    merged, keep = [], []
    for start, end in zip(starts, ends, strict=True):
        members = order[start:end]
        keep.append(members[0])
        merged.append(
            faces[members[0]] if len(members) == 1 else shapely.coverage_union_all(faces[members])
        )
    keep_index = np.asarray(keep)
    return np.array(merged, dtype=object), attributes.iloc[keep_index].reset_index(drop=True)


def _simple_polygons(faces: np.ndarray) -> np.ndarray:
    """Which faces are single polygons without holes."""
    return (shapely.get_type_id(faces) == 3) & (shapely.get_num_interior_rings(faces) == 0)


def _add_islands(
    faces: list[shapely.Geometry], attributes: pd.DataFrame, count: int, rng: Rng
) -> None:
    """Cut a small pond or homestead out of ``count`` large parcels (a hole) and add it as a
    parcel of its own (in place)."""
    candidates = np.flatnonzero(
        _simple_polygons(faces)
        & (shapely.area(faces) > 40_000.0)
        & attributes["DLBM"].isin(["0101", "0102", "0103", "0301"]).to_numpy()
    )
    added = 0
    for i in rng.permutation(candidates):
        if added >= count:
            break
        face = faces[i]
        centre = face.representative_point()
        room = face.exterior.distance(centre)
        radius = min(45.0, room * 0.4)
        if radius < 12.0:
            continue
        island = _blob((centre.x, centre.y), radius, rng, roughness=0.2, vertices=12)
        if not face.contains(island.buffer(3.0)):
            continue
        faces[i] = Polygon(face.exterior.coords, [island.exterior.coords])
        faces.append(island)
        code = str(rng.choice(["1104", "0702", "1202"]))
        attributes.loc[len(attributes)] = [code, attributes["QSDWMC"].iat[i]]
        added += 1


def _bow_tie(face: Polygon, rng: Rng) -> Polygon | None:
    """Swap two neighbouring vertices: a small figure-eight, as digitising slips make."""
    coords = np.asarray(face.exterior.coords)[:-1]
    for i in rng.permutation(len(coords) - 1):
        broken = coords.copy()
        broken[[i, i + 1]] = broken[[i + 1, i]]
        polygon = Polygon(broken)
        if polygon.is_valid or "Self-intersection" not in shapely.is_valid_reason(polygon):
            continue
        if abs(shapely.make_valid(polygon).area - face.area) < 0.02 * face.area:
            return polygon
    return None


def _self_touching(face: Polygon, rng: Rng) -> tuple[Polygon, Polygon] | None:
    """An 'inverted hole': the ring returns to one of its vertices and runs round a triangle
    inside the parcel before closing — a self-touching ring. Returns (broken, triangle)."""
    coords = np.asarray(face.exterior.coords)[:-1]
    centre = np.asarray(face.representative_point().coords[0])
    for i in rng.permutation(len(coords))[:20]:
        start = coords[i]
        toward = centre - start
        length = float(np.hypot(*toward))
        if length < 30.0:
            continue
        unit = toward / length
        normal = np.array([-unit[1], unit[0]])
        tip = start + unit * min(length * 0.6, 60.0)
        half = min(length * 0.15, 10.0)
        a, b = tip + normal * half, tip - normal * half
        triangle = Polygon([start, a, b])
        if not face.contains(triangle.buffer(-0.5)) or triangle.area < 20.0:
            continue
        # the triangle must run the other way round than the ring, to enclose a hole
        if shapely.is_ccw(triangle.exterior) == shapely.is_ccw(face.exterior):
            a, b = b, a
        ring = np.concatenate([np.roll(coords, -i, axis=0), [start, a, b]])
        polygon = Polygon(ring)
        if polygon.is_valid or "Ring Self-intersection" not in shapely.is_valid_reason(polygon):
            continue
        repaired = shapely.make_valid(polygon)
        if abs(repaired.area - (face.area - triangle.area)) < 1.0:
            return polygon, triangle
    return None


def _break_rings(
    faces: list[shapely.Geometry], attributes: pd.DataFrame, count: int, rng: Rng
) -> int:
    """Make ``count`` parcels invalid the way real files are: half bow-ties, half self-touching
    rings (whose inner triangle becomes a parcel of its own). Returns how many were made."""
    candidates = np.flatnonzero(
        _simple_polygons(faces)
        & (shapely.get_num_coordinates(faces) >= 10)
        & (shapely.area(faces) > 2_000.0)
        & ~attributes["DLBM"].isin(["1003", "1004", "1006", "1101"]).to_numpy()
    )
    made = 0
    for i in rng.permutation(candidates):
        if made >= count:
            break
        if made % 2 == 0:
            broken = _bow_tie(faces[i], rng)
            if broken is None:
                continue
            faces[i] = broken
        else:
            result = _self_touching(faces[i], rng)
            if result is None:
                continue
            faces[i], triangle = result
            faces.append(triangle)
            attributes.loc[len(attributes)] = ["1202", attributes["QSDWMC"].iat[i]]
        made += 1
    return made


def build_landuse(
    districts: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    spec: ScaleSpec,
    rng: Rng,
    log: Log,
) -> tuple[gpd.GeoDataFrame, LandscapeModel]:
    """The land-use survey layer (三调-style) of the windows around the seats, and the
    landscape model it was drawn from (its region and settlements place the rural cases)."""
    model = _landscape(districts, towns, communities, urban, planned, spec, rng)
    seeds = _parcel_seeds(model, int(spec.parcels * spec.seeds_per_parcel), rng)
    faces = _parcel_faces(model, districts, seeds, spec.segments_per_spacing, rng, log)
    attributes = _classify_parcels(faces, model, districts, communities, urban, planned, rng)
    faces, attributes = _merge_parcels(faces, attributes)
    attributes = attributes[["DLBM", "QSDWMC"]].copy()
    face_list = list(faces)
    _add_islands(face_list, attributes, spec.holed_parcels, rng)
    broken = _break_rings(face_list, attributes, spec.invalid_parcels, rng)
    geometries = np.array(face_list, dtype=object)
    # number the parcels (BSM) in rows of 2 km from north to south, west to east
    bounds = shapely.bounds(geometries)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    order = np.lexsort((cx, -np.floor(cy / 2000.0)))
    repaired_area = shapely.area(shapely.make_valid(geometries))
    frame = gpd.GeoDataFrame(
        {
            "BSM": np.arange(1, len(order) + 1, dtype=np.int32),
            "DLBM": attributes["DLBM"].to_numpy()[order],
            "DLMC": [LAND_USE_NAMES[c] for c in attributes["DLBM"].to_numpy()[order]],
            "QSDWMC": attributes["QSDWMC"].to_numpy()[order],
            "TBMJ": np.round(repaired_area[order], 2),
        },
        geometry=geometries[order],
        crs=METRIC_CRS,
    )
    log(
        f"  land use: {len(frame)} parcels, {broken} with broken rings, "
        f"{int(shapely.get_num_interior_rings(frame.geometry.values).astype(bool).sum())} "
        f"with holes"
    )
    return frame, model


# ---------------------------------------------------------------------------------------------
# Cases (违法建设线索)
# ---------------------------------------------------------------------------------------------

CASE_SOURCES = (
    "patrol",
    "grid_worker",
    "property_company",
    "citizen",
    "hotline_12345",
    "leadership",
    "media",
    "project_tracking",
)
#: source weights by kind of place (same order as CASE_SOURCES)
CASE_SOURCE_WEIGHTS = {
    "compound": (18, 22, 20, 14, 16, 3, 3, 4),
    "street": (28, 22, 0, 15, 18, 4, 4, 9),
    "town": (26, 28, 0, 12, 16, 4, 3, 11),
    "village": (22, 40, 0, 12, 16, 4, 3, 3),
    "open": (34, 34, 0, 6, 12, 5, 4, 5),
}
CASE_DESCRIPTIONS = {
    "compound": (
        "小区内擅自搭建彩钢板房",
        "楼顶违法搭建阳光房",
        "一楼住户擅自扩建院落并搭建棚厦",
        "占用小区绿地建设车库",
        "擅自外扩阳台并封闭",
        "顶层住户加盖房屋一层",
        "占用消防通道搭建储物间",
        "小区院内私建仓房",
    ),
    "street": (
        "临街门市擅自扩建雨搭及彩钢房",
        "占用人行道搭建临时建筑",
        "未取得建设工程规划许可证建设厂房",
        "擅自建设大型广告牌钢结构",
        "院内违法建设砖混结构房屋",
        "工地围挡内超出规划许可范围施工",
        "擅自在屋顶搭建钢结构构筑物",
    ),
    "town": (
        "未经批准建设门市房",
        "擅自建设仓储用房",
        "未取得规划许可建设厂房",
        "沿街违法搭建彩钢棚",
        "擅自加盖二层",
    ),
    "village": (
        "农村宅基地超占面积建房",
        "未经批准新建住宅",
        "村内私搭乱建牛舍",
        "宅基地外扩建仓房",
        "未批先建二层楼房",
        "占用村道建设围墙",
    ),
    "open": (
        "占用耕地建设养殖大棚",
        "林地内违法建设看护房",
        "占用耕地堆放建材并建设临时工棚",
        "河道管理范围内违法搭建",
        "占用基本农田建设晾晒场",
        "山坡林地内新建房屋",
    ),
}
CASE_AREA_MEDIAN_M2 = {
    "compound": 22.0,
    "street": 45.0,
    "town": 70.0,
    "village": 110.0,
    "open": 160.0,
}
BUILDING_SIDES = ("东侧", "西侧", "南侧", "北侧", "东南侧", "西北侧", "院内", "楼顶")
STREET_SIDES = ("东侧", "西侧", "南侧", "北侧", "对面", "院内", "后院")
DIRECTIONS = ("东", "西", "南", "北", "东南", "东北", "西南", "西北")
FIRST_CASE_DAY = np.datetime64("2025-01-01")
LAST_NEW_CASE_DAY = np.datetime64("2026-11-20")
LAST_BACKLOG_CASE_DAY = np.datetime64("2026-03-31")
RURAL_CASES_IN_SURVEY = 0.6  # share of rural cases drawn inside the land-use survey's region


def _case_points(
    n: int,
    districts: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    landscape: LandscapeModel,
    rng: Rng,
) -> np.ndarray:
    """Candidate case locations (more than ``n``): in and around compounds and urban areas,
    town construction land, villages and hamlets, and a few anywhere. Most rural cases lie
    where the land-use survey is, so that their land use decides who is responsible."""
    share = {"compound": 0.42, "urban": 0.15, "planned": 0.10, "village": 0.23, "open": 0.10}
    counts = rng.multinomial(int(n * 1.2) + 20, list(share.values()))
    parts = []
    centroids = shapely.centroid(compounds.geometry.values)
    cxy = np.column_stack([shapely.get_x(centroids), shapely.get_y(centroids)])
    parts.append(cxy[rng.integers(0, len(cxy), counts[0])] + rng.normal(0.0, 45.0, (counts[0], 2)))
    parts.append(_sample_in(shapely.union_all(urban.geometry.values), int(counts[1]), rng))
    parts.append(_sample_in(shapely.union_all(planned.geometry.values), int(counts[2]), rng))
    villages = communities.loc[communities["kind"] == "village", ["seat_x", "seat_y"]].to_numpy()
    surveyed = landscape.settlements if len(landscape.settlements) else villages
    in_survey = int(counts[3] * RURAL_CASES_IN_SURVEY)
    near = np.concatenate(
        [
            surveyed[rng.integers(0, len(surveyed), in_survey)],
            villages[rng.integers(0, len(villages), counts[3] - in_survey)],
        ]
    )
    parts.append(near + rng.normal(0.0, 230.0, (counts[3], 2)))
    in_survey = int(counts[4] * RURAL_CASES_IN_SURVEY)
    parts.append(_sample_in(landscape.region, in_survey, rng))
    parts.append(
        _sample_in(shapely.union_all(districts.geometry.values), int(counts[4]) - in_survey, rng)
    )
    points = np.concatenate(parts)
    return points[rng.permutation(len(points))]


def build_cases(
    districts: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    landscape: LandscapeModel,
    spec: ScaleSpec,
    rng: Rng,
) -> pd.DataFrame:
    """Reported violations, one row each, as the intake channels would export them."""
    n = spec.cases
    candidates = _case_points(n, districts, communities, compounds, urban, planned, landscape, rng)
    points = shapely.points(candidates)
    hit = shapely.STRtree(communities.geometry.values).query(points, predicate="intersects")
    community_of = np.full(len(points), -1)
    community_of[hit[0][::-1]] = hit[1][::-1]  # first match wins on shared borders
    keep = np.flatnonzero(community_of >= 0)[:n]
    if len(keep) < n:
        raise RuntimeError("too few case locations fell inside the city")
    xy, community_of, points = candidates[keep], community_of[keep], points[keep]
    hit = shapely.STRtree(compounds.geometry.values).query(points, predicate="intersects")
    compound_of = np.full(n, -1)
    compound_of[hit[0][::-1]] = hit[1][::-1]
    urban_union = shapely.union_all(urban.geometry.values)
    planned_union = shapely.union_all(planned.geometry.values)
    shapely.prepare(urban_union)
    shapely.prepare(planned_union)
    seat = communities[["seat_x", "seat_y"]].to_numpy()[community_of]
    to_seat = np.hypot(*(xy - seat).T)
    villages = communities.loc[communities["kind"] == "village", ["seat_x", "seat_y"]].to_numpy()
    settlements = shapely.points(np.concatenate([villages, landscape.settlements]))
    _, to_settlement = shapely.STRtree(settlements).query_nearest(
        points, return_distance=True, all_matches=False
    )
    place = np.full(n, "open", dtype=object)
    place[to_settlement < 600.0] = "village"
    place[shapely.contains_xy(planned_union, *xy.T)] = "town"
    place[shapely.contains_xy(urban_union, *xy.T)] = "street"
    place[compound_of >= 0] = "compound"

    # attributes, drawn per kind of place in a fixed order
    source = np.empty(n, dtype=object)
    description = np.empty(n, dtype=object)
    area = np.empty(n)
    backlog = np.zeros(n, dtype=bool)
    for kind, weights in CASE_SOURCE_WEIGHTS.items():
        rows = np.flatnonzero(place == kind)
        w = np.asarray(weights, dtype=float)
        source[rows] = np.asarray(CASE_SOURCES, dtype=object)[
            rng.choice(len(CASE_SOURCES), len(rows), p=w / w.sum())
        ]
        texts = np.asarray(CASE_DESCRIPTIONS[kind], dtype=object)
        description[rows] = texts[rng.integers(0, len(texts), len(rows))]
        area[rows] = np.clip(
            rng.lognormal(math.log(CASE_AREA_MEDIAN_M2[kind]), 0.75, len(rows)), 2.0, 5000.0
        )
        backlog[rows] = rng.random(len(rows)) < (0.3 if kind in ("compound", "street") else 0.5)
    last_day = np.where(backlog, LAST_BACKLOG_CASE_DAY, LAST_NEW_CASE_DAY)
    span = (last_day - FIRST_CASE_DAY).astype(int) + 1
    day = FIRST_CASE_DAY + (rng.random(n) * span).astype(int).astype("timedelta64[D]")

    # addresses
    community_names = communities["name"].to_numpy()[community_of]
    town_code = communities["town_code"].to_numpy()[community_of]
    town_names = towns.set_index("code")["name"].loc[town_code].to_numpy()
    district_code = communities["district_code"].to_numpy()[community_of]
    district_names = districts.set_index("code")["name"].loc[district_code].to_numpy()
    compound_names = np.append(compounds["name"].to_numpy(), "")[compound_of]
    road = np.empty(n, dtype=object)
    for code in districts["code"]:
        rows = np.flatnonzero(district_code == code)
        pool = np.asarray(PROFILE_BY_CODE[code].road_names + ROAD_NAMES, dtype=object)
        road[rows] = pool[rng.integers(0, len(pool), len(rows))]

    def pick(values: Sequence[str]) -> np.ndarray:
        return np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]

    def text(values: np.ndarray) -> np.ndarray:
        return np.asarray(values).astype(str).astype(object)

    number = text(rng.integers(1, 400, n))
    building = text(rng.integers(1, 25, n))
    group = text(rng.integers(1, 9, n))
    building_side, street_side, direction = (
        pick(BUILDING_SIDES),
        pick(STREET_SIDES),
        pick(DIRECTIONS),
    )
    metres = text((to_seat // 50 * 50).astype(int))
    details = {
        "compound": community_names + compound_names + building + "号楼" + building_side,
        "street": road + number + "号" + street_side,
        "town": community_names + road + number + "号",
        "village": community_names + group + "组",
        "open": community_names + direction + "约" + metres + "米",
    }
    address = (
        "白山市"
        + district_names
        + town_names
        + np.select([place == kind for kind in details], list(details.values()), default="")
    )

    # ids: district prefix, year, running number per district and year, in date order
    order = np.lexsort((np.arange(n), day))
    prefixes = np.array([PROFILE_BY_CODE[c].case_prefix for c in district_code], dtype=object)
    year = day.astype("datetime64[Y]").astype(int) + 1970
    prefixes, year = prefixes[order], year[order]
    running = (
        pd.DataFrame({"prefix": prefixes, "year": year})
        .groupby(["prefix", "year"], sort=False)
        .cumcount()
        .to_numpy()
        + 1
    )
    lon, lat = Transformer.from_crs(METRIC_CRS, WGS84_CRS, always_xy=True).transform(
        xy[order, 0], xy[order, 1]
    )
    ids = [
        f"{p}-{y}-{r:06d}"
        for p, y, r in zip(prefixes, year.tolist(), running.tolist(), strict=True)
    ]
    return pd.DataFrame(
        {
            "id": ids,
            "lon": np.char.mod("%.7f", lon),
            "lat": np.char.mod("%.7f", lat),
            "address": address[order],
            "description": description[order],
            "source": source[order],
            "stage": np.where(backlog[order], "backlog", "new"),
            "discovered_at": day[order].astype(str),
            "area_m2": np.char.mod("%.1f", area[order]),
        }
    )


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def _remove_shapefile(path: Path) -> None:
    for suffix in SHAPEFILE_SUFFIXES:
        path.with_suffix(suffix).unlink(missing_ok=True)


def _set_dbf_language_byte(dbf: Path, value: int) -> None:
    with open(dbf, "r+b") as handle:
        handle.seek(DBF_LANGUAGE_BYTE_OFFSET)
        handle.write(bytes([value]))


def write_gbk_shapefile(
    frame: gpd.GeoDataFrame, path: Path, crs: str, cpg_text: str | None
) -> None:
    """A shapefile in ``crs`` with its DBF in GBK, as Chinese desktop GIS writes them.

    ``cpg_text``: the content of the ``.cpg`` file, or None for no ``.cpg`` at all. The DBF
    language byte is 0x00 (no code page stated) and the DBF date is fixed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_shapefile(path)
    data = frame.to_crs(crs) if frame.crs != crs else frame
    pyogrio.write_dataframe(
        data,
        path,
        driver="ESRI Shapefile",
        encoding="GBK",
        layer_options={"RESIZE": "YES", "DBF_DATE_LAST_UPDATE": FIXED_DBF_DATE},
    )
    cpg = path.with_suffix(".cpg")
    if cpg_text is None:
        cpg.unlink(missing_ok=True)
    else:
        cpg.write_bytes(cpg_text.encode("ascii"))
    _set_dbf_language_byte(path.with_suffix(".dbf"), 0x00)


class _GbkZipInfo(zipfile.ZipInfo):
    """A zip entry whose name is stored in GBK without the UTF-8 flag (bit 11), as the zip
    tools of Chinese Windows write them."""

    gbk_name: bytes

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.gbk_name, self.flag_bits & ~ZIP_UTF8_FLAG


def _gbk_entry(name: str, is_dir: bool = False) -> _GbkZipInfo:
    info = _GbkZipInfo(name, date_time=FIXED_ZIP_TIME)
    info.gbk_name = name.encode("gbk")
    info.create_system = 0  # MS-DOS / Windows
    info.external_attr = 0x10 if is_dir else 0x20  # directory / archive attribute
    info.compress_type = zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED
    return info


def write_community_archive(frame: gpd.GeoDataFrame, archive: Path) -> None:
    """``社区网格.zip``: folder ``社区网格/`` with the shapefile (GBK, ``.cpg`` = ``936``), member
    names in GBK without the UTF-8 flag."""
    with tempfile.TemporaryDirectory(prefix="weijian-samples-") as work_dir:
        shp = Path(work_dir) / f"{COMMUNITY_MEMBER_DIR}.shp"
        write_gbk_shapefile(frame, shp, METRIC_CRS, cpg_text="936")
        archive.unlink(missing_ok=True)
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(_gbk_entry(f"{COMMUNITY_MEMBER_DIR}/", is_dir=True), b"")
            for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                member = f"{COMMUNITY_MEMBER_DIR}/{COMMUNITY_MEMBER_DIR}{suffix}"
                zf.writestr(_gbk_entry(member), shp.with_suffix(suffix).read_bytes())


def write_geopackage(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """A GeoPackage with one layer; the timestamps GDAL writes are fixed."""
    path.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_GPKG_TIMESTAMP})
    try:
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def write_cases(frame: pd.DataFrame, path: Path) -> None:
    """``cases.csv``: UTF-8 (no BOM), a header row, ``\\n`` line ends."""
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


# ---------------------------------------------------------------------------------------------
# The manifest and the public entry point
# ---------------------------------------------------------------------------------------------


def _imports() -> list[dict]:
    """What the importer needs for each file, in load order."""

    def grid(path: str, level: str, code: str, name: str, parent: str | None) -> dict:
        return {
            "family": "grids",
            "path": path,
            "level": level,
            "code_field": code,
            "name_field": name,
            "parent_field": parent,
            "responsible_field": "FZR",
            "phone_field": "LXDH",
        }

    return [
        grid(PATH_DISTRICT, "district", "XZQDM", "XZQMC", None),
        grid(PATH_TOWN, "town", "JDDM", "JDMC", "SJDM"),
        grid(PATH_COMMUNITY, "community", "SQDM", "SQMC", None),
        grid(PATH_COMPOUND, "compound", "XQDM", "XQMC", "SQDM"),
        {
            "family": "zones",
            "path": PATH_URBAN,
            "layer": "urban_managed",
            "title": "城市化管理区域",
            "kind": "urban_managed",
            "code_field": None,
            "name_field": "QYMC",
        },
        {
            "family": "zones",
            "path": PATH_PLANNED,
            "layer": "town_planned",
            "title": "县城、镇规划建设用地",
            "kind": "town_planned",
            "code_field": None,
            "name_field": "QYMC",
        },
        {
            "family": "zones",
            "path": PATH_LANDUSE,
            "layer": "landuse",
            "title": "土地利用现状（三调）",
            "kind": None,
            "code_field": "DLBM",
            "name_field": "DLMC",
        },
    ]


FILE_FORMATS = {
    PATH_DISTRICT: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_TOWN: {"crs": "EPSG:4530", "encoding": "GBK", "cpg": None, "dbf_language_byte": 0},
    PATH_COMMUNITY: {
        "crs": "EPSG:4551",
        "encoding": "GBK",
        "cpg": "936",
        "member": f"{COMMUNITY_MEMBER_DIR}/{COMMUNITY_MEMBER_DIR}.shp",
        "member_name_encoding": "GBK",
    },
    PATH_COMPOUND: {"crs": "EPSG:4551", "layer": "compound"},
    PATH_URBAN: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_PLANNED: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_LANDUSE: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_CASES: {"crs": "EPSG:4326", "encoding": "UTF-8"},
}


def _remove_outputs(out_dir: Path) -> None:
    for relative in (PATH_DISTRICT, PATH_TOWN, PATH_URBAN, PATH_PLANNED, PATH_LANDUSE):
        _remove_shapefile(out_dir / relative)
    for relative in (PATH_COMMUNITY, PATH_COMPOUND, PATH_CASES, PATH_MANIFEST):
        (out_dir / relative).unlink(missing_ok=True)


def generate(
    out_dir: Path,
    scale: str = "small",
    seed: int = DEFAULT_SEED,
    shared_data_dir: Path | None = None,
    log: Log = print,
) -> dict:
    """Write the sample city into ``out_dir`` and return its manifest (also ``manifest.json``).

    ``scale``: ``"small"`` (a few MB) or ``"city"`` (benchmark size). ``shared_data_dir``: where
    ``baishan_districts/baishan_districts_gcj02.geojson`` may be; default: the settings'
    ``shared_data_dir``. The same seed and scale give byte-identical shapefiles and CSV."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    spec = SCALES[scale]
    if shared_data_dir is None:
        from weijian.settings import get_settings

        shared_data_dir = Path(get_settings().shared_data_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_outputs(out_dir)
    started = time.perf_counter()

    def stream(layer: str) -> Rng:
        return np.random.default_rng([seed, STREAMS[layer]])

    def step(message: str) -> None:
        log(f"[{time.perf_counter() - started:6.1f} s] {message}")

    people = PeopleRegistry(stream("people"))
    districts, source = build_districts(Path(shared_data_dir), stream("districts"), people, step)
    towns = build_towns(districts, spec, stream("towns"), people)
    communities = build_communities(towns, spec, stream("communities"), people)
    step(
        f"grids: {len(districts)} districts, {len(towns)} towns/streets, "
        f"{len(communities)} communities/villages"
    )
    zone_rng = stream("zones")
    urban = build_urban_managed(districts, zone_rng)
    planned = build_town_planned(districts, towns, urban, zone_rng)
    compounds = build_compounds(
        districts, communities, urban, planned, spec, stream("compounds"), people
    )
    step(
        f"zones: {len(urban)} urban management areas, {len(planned)} planned; "
        f"{len(compounds)} compounds"
    )
    landuse, landscape = build_landuse(
        districts, towns, communities, urban, planned, spec, stream("landuse"), step
    )
    cases = build_cases(
        districts, towns, communities, compounds, urban, planned, landscape, spec, stream("cases")
    )
    step(f"cases: {len(cases)}")

    write_gbk_shapefile(
        districts.rename(columns={"code": "XZQDM", "name": "XZQMC", "fzr": "FZR", "lxdh": "LXDH"})[
            ["XZQDM", "XZQMC", "FZR", "LXDH", "geometry"]
        ],
        out_dir / PATH_DISTRICT,
        METRIC_CRS,
        cpg_text="GBK",
    )
    write_gbk_shapefile(
        towns.rename(
            columns={
                "code": "JDDM",
                "name": "JDMC",
                "district_code": "SJDM",
                "fzr": "FZR",
                "lxdh": "LXDH",
            }
        )[["JDDM", "JDMC", "SJDM", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_TOWN,
        ZONE_PREFIXED_CRS,
        cpg_text=None,
    )
    write_community_archive(
        communities.rename(columns={"code": "SQDM", "name": "SQMC", "fzr": "FZR", "lxdh": "LXDH"})[
            ["SQDM", "SQMC", "FZR", "LXDH", "geometry"]
        ],
        out_dir / PATH_COMMUNITY,
    )
    write_geopackage(
        compounds.rename(
            columns={
                "code": "XQDM",
                "name": "XQMC",
                "community_code": "SQDM",
                "company": "WYGS",
                "fzr": "FZR",
                "lxdh": "LXDH",
            }
        )[["XQDM", "XQMC", "SQDM", "WYGS", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_COMPOUND,
        "compound",
    )
    for frame, path in ((urban, PATH_URBAN), (planned, PATH_PLANNED)):
        write_gbk_shapefile(
            frame.rename(columns={"code": "QYDM", "name": "QYMC"})[["QYDM", "QYMC", "geometry"]],
            out_dir / path,
            METRIC_CRS,
            cpg_text="GBK",
        )
    write_gbk_shapefile(landuse, out_dir / PATH_LANDUSE, METRIC_CRS, cpg_text="GBK")
    write_cases(cases, out_dir / PATH_CASES)

    manifest = {
        "scale": scale,
        "seed": seed,
        "districts_source": source,
        "imports": _imports(),
        "counts": {
            PATH_DISTRICT: len(districts),
            PATH_TOWN: len(towns),
            PATH_COMMUNITY: len(communities),
            PATH_COMPOUND: len(compounds),
            PATH_URBAN: len(urban),
            PATH_PLANNED: len(planned),
            PATH_LANDUSE: len(landuse),
            PATH_CASES: len(cases),
        },
        "files": FILE_FORMATS,
        "case_id_prefixes": {p.name: p.case_prefix for p in PROFILES},
    }
    (out_dir / PATH_MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    step(f"written to {out_dir}")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m weijian.samples --out DIR --scale small|city [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m weijian.samples", description="Write the sample city around Baishan."
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--shared-data-dir",
        type=Path,
        default=None,
        help="folder holding baishan_districts/ (default: from the settings)",
    )
    args = parser.parse_args(argv)
    manifest = generate(
        args.out, scale=args.scale, seed=args.seed, shared_data_dir=args.shared_data_dir
    )
    print(json.dumps(manifest["counts"], ensure_ascii=False, indent=2))

"""Writers of the files the way a city hands them over: shapefiles with their DBF in GBK, the
community archive with GBK member names, a GeoPackage and a CSV. Dates are fixed wherever a
format wants one, so that the same data give the same bytes."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from weijian.samples.common import METRIC_CRS

#: fixed dates written where file formats want one, so that outputs do not depend on the day
FIXED_DBF_DATE = "2026-01-01"
FIXED_GPKG_TIMESTAMP = "2026-01-01T00:00:00.000Z"
FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)

COMMUNITY_ARCHIVE = "社区网格.zip"
COMMUNITY_MEMBER_DIR = "社区网格"
ZIP_UTF8_FLAG = 0x800
DBF_LANGUAGE_BYTE_OFFSET = 29
SHAPEFILE_SUFFIXES = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")


def remove_shapefile(path: Path) -> None:
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
    remove_shapefile(path)
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

"""A catalogue of the files and geometries cities hand over, built in a test's tmp folder:
GBK DBFs with and without .cpg, zone-prefixed Gauss-Krüger, invalid rings, holes, multiparts,
empty shapes, Z coordinates, zips with GBK member names in a subfolder."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pyproj
import shapely

# a spot in Hunjiang district, Baishan, in CGCS2000 lon/lat
ORIGIN_LON, ORIGIN_LAT = 126.42, 41.94
GK_PLAIN = 4551  # CGCS2000 3° Gauss-Krüger CM 126E
GK_PREFIXED = 4530  # the same with zone number 42 in front of x


def origin_in(epsg: int) -> tuple[float, float]:
    transformer = pyproj.Transformer.from_crs(4490, epsg, always_xy=True)
    return transformer.transform(ORIGIN_LON, ORIGIN_LAT)


def square(x: float, y: float, size: float) -> shapely.Polygon:
    return shapely.box(x, y, x + size, y + size)


def parcels(epsg: int = GK_PLAIN) -> gpd.GeoDataFrame:
    """Six land-use parcels of 200 m with the shapes real files hold."""
    x0, y0 = origin_in(epsg)
    unit = 200.0 if pyproj.CRS.from_epsg(epsg).is_projected else 0.002
    cells = [square(x0 + i * unit, y0, unit) for i in range(6)]
    holed = shapely.Polygon(
        cells[1].exterior.coords,
        [
            shapely.box(
                x0 + 1.25 * unit, y0 + 0.25 * unit, x0 + 1.75 * unit, y0 + 0.75 * unit
            ).exterior.coords
        ],
    )
    bowtie = shapely.Polygon(
        [
            (x0 + 2 * unit, y0),
            (x0 + 3 * unit, y0 + unit),
            (x0 + 3 * unit, y0),
            (x0 + 2 * unit, y0 + unit),
        ]
    )
    multipart = shapely.MultiPolygon(
        [square(x0 + 3 * unit, y0, unit / 2), square(x0 + 3.5 * unit, y0 + unit / 2, unit / 2)]
    )
    return gpd.GeoDataFrame(
        {
            "BSM": [1, 2, 3, 4, 5, 6],
            "DLBM": ["0101", "0702", "0301", "0701", "1202", "0103"],
            "DLMC": ["水田", "农村宅基地", "乔木林地", "城镇住宅用地", "设施农用地", "旱地"],
            "QSDWMC": ["新华村村民委员会"] * 3 + ["浑江区红旗街道"] + ["七道江村"] * 2,
        },
        geometry=[cells[0], holed, bowtie, multipart, cells[4], cells[5]],
        crs=f"EPSG:{epsg}",
    )


def grid_squares(
    level: str,
    codes: list[str],
    names: list[str],
    epsg: int = GK_PLAIN,
    size: float = 1000.0,
    columns: int | None = None,
    x_offset: float = 0.0,
    y_offset: float = 0.0,
) -> gpd.GeoDataFrame:
    x0, y0 = origin_in(epsg)
    columns = columns or len(codes)
    geoms = [
        square(x0 + x_offset + (i % columns) * size, y0 + y_offset + (i // columns) * size, size)
        for i in range(len(codes))
    ]
    return gpd.GeoDataFrame(
        {
            "DM": codes,
            "MC": names,
            "FZR": ["张伟、李娜"] * len(codes),
            "LXDH": ["13904391234、13904395678"] * len(codes),
        },
        geometry=geoms,
        crs=f"EPSG:{epsg}",
    )


def write_shapefile(
    frame: gpd.GeoDataFrame,
    folder: Path,
    stem: str,
    *,
    encoding: str = "GBK",
    cpg: str | bool | None = True,
    language_byte: int | None = None,
    prj: bool = True,
) -> Path:
    """Write a shapefile as a city's desktop GIS would: ``cpg=True`` keeps GDAL's .cpg,
    ``False`` removes it, a string replaces its text; ``language_byte`` patches the DBF."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.shp"
    pyogrio.write_dataframe(frame, path, encoding=encoding)
    cpg_path = folder / f"{stem}.cpg"
    if cpg is False or cpg is None:
        cpg_path.unlink(missing_ok=True)
    elif isinstance(cpg, str):
        cpg_path.write_text(cpg)
    if language_byte is not None:
        dbf = folder / f"{stem}.dbf"
        data = bytearray(dbf.read_bytes())
        data[29] = language_byte
        dbf.write_bytes(bytes(data))
    if not prj:
        (folder / f"{stem}.prj").unlink()
    return path


class GbkZipInfo(zipfile.ZipInfo):
    """Member names stored in GBK without the UTF-8 flag (zipfile would write UTF-8)."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def zip_gbk(files: list[Path], archive: Path, folder_name: str | None = None) -> Path:
    """A zip as made on Chinese Windows: member names in GBK, no UTF-8 flag."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in files:
            name = f"{folder_name}/{file.name}" if folder_name else file.name
            info = GbkZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, file.read_bytes())
    return archive


def shapefile_parts(shp: Path) -> list[Path]:
    return sorted(p for p in shp.parent.iterdir() if p.stem == shp.stem)

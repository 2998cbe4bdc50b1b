"""Opening the files cities hand over: Shapefiles (bare or zipped, zips made on Chinese Windows
with GBK member names), GeoPackages and GeoJSON — with a clear refusal for anything else."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyogrio

from weijian.errors import InputError, NotFoundError

DRIVERS = {".shp": "ESRI Shapefile", ".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
ZIP_UTF8_FLAG = 0x800


@dataclass
class OpenedSource:
    """A dataset ready for GDAL, with its side files when it is a shapefile."""

    display: str
    path: Path
    driver: str
    layer: str | None = None
    dbf: Path | None = None
    cpg: Path | None = None
    prj: Path | None = None
    sha256: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Features:
    geometries: np.ndarray  # shapely geometries, in the file's own coordinates
    attributes: pd.DataFrame
    fields: list[str]
    file_crs: str | None  # what GDAL reports for the file (GeoPackage, GeoJSON)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sibling(shp: Path, suffix: str) -> Path | None:
    for candidate in shp.parent.iterdir():
        if candidate.stem == shp.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's real name: zips made on Chinese Windows store GBK without the UTF-8 flag,
    which Python reads as cp437."""
    if info.flag_bits & ZIP_UTF8_FLAG:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _extract_zip(archive: Path, target: Path) -> list[Path]:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InputError(
            f"{archive.name} 不是可读取的 zip 压缩包。请将 .shp、.shx、.dbf、.prj（及 .cpg）"
            "重新压缩后再上传",
            code="import.zip_unreadable",
            detail=f"{archive.name} is not a readable zip file ({exc}).",
            hint="zip the .shp, .shx, .dbf, .prj (and .cpg) again and upload the new archive",
        ) from exc
    extracted = []
    with zf:
        for info in zf.infolist():
            name = member_name(info).replace("\\", "/")
            parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "..", "/")]
            if info.is_dir() or not parts or parts[0] == "__MACOSX":
                continue
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(destination, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise InputError(
                    f"{archive.name} 已损坏：其中的文件“{name}”无法读取。请重新压缩后再上传",
                    code="import.zip_damaged",
                    detail=f"{archive.name} is damaged: member {name!r} cannot be read ({exc}).",
                    hint="zip the files again and upload the new archive",
                ) from exc
            extracted.append(destination)
    return extracted


def _pick(candidates: list[Path], base: Path, member: str | None, what: str) -> Path:
    if member:
        chosen = [
            c
            for c in candidates
            if c.name == member or c.stem == member or c.relative_to(base).as_posix() == member
        ]
        if not chosen:
            names = ", ".join(c.relative_to(base).as_posix() for c in candidates) or "none"
            names_zh = "、".join(c.relative_to(base).as_posix() for c in candidates) or "无"
            raise NotFoundError(
                f"{what} 中没有数据集“{member}”；其中有：{names_zh}。请用 --member 指定其中之一",
                code="import.member_not_found",
                detail=f"{what} holds no dataset {member!r}; it holds: {names}.",
            )
        return chosen[0]
    if not candidates:
        raise InputError(
            f"{what} 中没有 .shp、.gpkg 或 .geojson 文件。请将 shapefile（.shp、.shx、.dbf、.prj）"
            "放在 zip 的顶层或一个文件夹中",
            code="import.no_dataset",
            detail=f"{what} holds no .shp, .gpkg or .geojson file.",
            hint="put the shapefile (.shp, .shx, .dbf, .prj) at the top of the zip or in a folder",
        )
    if len(candidates) > 1:
        names = ", ".join(c.relative_to(base).as_posix() for c in candidates)
        names_zh = "、".join(c.relative_to(base).as_posix() for c in candidates)
        raise InputError(
            f"{what} 中有 {len(candidates)} 个数据集：{names_zh}。请用 --member 指定要导入的一个",
            code="import.member_ambiguous",
            detail=f"{what} holds {len(candidates)} datasets: {names}.",
            hint="name the one to import with --member",
        )
    return candidates[0]


def _shapefile(shp: Path, display: str) -> OpenedSource:
    dbf = _sibling(shp, ".dbf")
    if dbf is None:
        raise InputError(
            f"{display} 旁边没有 {shp.stem}.dbf：shapefile 需要 .shp、.shx 和 .dbf"
            "（以及说明坐标系的 .prj）。请将 shapefile 的所有文件放在一起（或一起压缩）后重新导入",
            code="import.dbf_missing",
            detail=f"{display} has no {shp.stem}.dbf beside it: a shapefile needs .shp, .shx and "
            ".dbf (and .prj for its coordinate system).",
            hint="copy all the files of the shapefile together (or zip them) and import again",
        )
    source = OpenedSource(
        display=display,
        path=shp,
        driver="ESRI Shapefile",
        dbf=dbf,
        cpg=_sibling(shp, ".cpg"),
        prj=_sibling(shp, ".prj"),
    )
    if _sibling(shp, ".shx") is None:
        source.notes.append(f"{shp.stem}.shx was missing and has been rebuilt from the .shp")
    return source


@contextmanager
def open_source(path: Path | str, member: str | None = None) -> Iterator[OpenedSource]:
    """Open ``path`` (a .shp, .zip, .gpkg, .geojson/.json); temporary files are removed after."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(
            f"文件 {path} 不存在，请核对路径",
            code="import.file_not_found",
            detail=f"{path} does not exist.",
        )
    if path.is_dir():
        raise InputError(
            f"{path} 是一个文件夹。请给出 .shp、.zip、.gpkg 或 .geojson 文件",
            code="import.is_folder",
            detail=f"{path} is a folder.",
            hint="give the .shp, .zip, .gpkg or .geojson",
        )
    if path.stat().st_size == 0:
        raise InputError(
            f"{path.name} 是空文件（0 字节），请重新导出图层",
            code="import.file_empty",
            detail=f"{path.name} is empty (0 bytes).",
            hint="export the layer again",
        )
    suffix = path.suffix.lower()
    digest = sha256_of(path)
    if suffix == ".zip":
        workdir = Path(tempfile.mkdtemp(prefix="weijian-import-"))
        try:
            files = _extract_zip(path, workdir)
            candidates = sorted(f for f in files if f.suffix.lower() in DRIVERS)
            chosen = _pick(candidates, workdir, member, path.name)
            display = f"{path.name}!{chosen.relative_to(workdir).as_posix()}"
            source = _open_plain(chosen, display, None)
            source.sha256 = digest
            yield source
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    if suffix not in DRIVERS:
        what = f"不支持 {suffix} 格式" if suffix else "没有扩展名，无法判断格式"
        raise InputError(
            f"{path.name}：{what}。"
            "请提供 Shapefile（.shp 或 .zip）、GeoPackage（.gpkg）或 GeoJSON（.geojson）文件",
            code="import.format_unsupported",
            detail=f"{path.name}: {suffix or 'no extension'} is not a format weijian imports.",
            hint="give a Shapefile (.shp or .zip), a GeoPackage (.gpkg) or GeoJSON (.geojson)",
        )
    source = _open_plain(path, path.name, member)
    source.sha256 = digest
    yield source


def _open_plain(path: Path, display: str, member: str | None) -> OpenedSource:
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise InputError(
            f"{display} 是空文件（0 字节），请重新导出图层",
            code="import.file_empty",
            detail=f"{display} is empty (0 bytes).",
            hint="export the layer again",
        )
    if suffix == ".shp":
        return _shapefile(path, display)
    source = OpenedSource(display=display, path=path, driver=DRIVERS[suffix])
    if suffix == ".gpkg":
        try:
            layers = [name for name, geometry_type in pyogrio.list_layers(path) if geometry_type]
        except pyogrio.errors.DataSourceError as exc:
            raise InputError(
                f"{display} 不是可读取的 GeoPackage 文件，请用 QGIS 检查或重新导出",
                code="import.gpkg_unreadable",
                detail=f"{display} is not a readable GeoPackage ({exc}).",
            ) from exc
        if member:
            if member not in layers:
                raise NotFoundError(
                    f"{display} 中没有图层“{member}”；其中的图层：{'、'.join(layers)}。"
                    "请用 --member 指定其中之一",
                    code="import.member_not_found",
                    detail=f"{display} has no layer {member!r}; its layers: {', '.join(layers)}.",
                )
            source.layer = member
        elif len(layers) == 1:
            source.layer = layers[0]
        elif not layers:
            raise InputError(
                f"{display} 中没有带图形的图层，请提供含面图层的 GeoPackage",
                code="import.no_dataset",
                detail=f"{display} holds no layer with geometries.",
            )
        else:
            raise InputError(
                f"{display} 中有 {len(layers)} 个图层：{'、'.join(layers)}。"
                "请用 --member 指定要导入的一个",
                code="import.member_ambiguous",
                detail=f"{display} holds {len(layers)} layers: {', '.join(layers)}.",
                hint="name the one to import with --member",
            )
    return source


def read_features(source: OpenedSource, encoding: str | None) -> Features:
    """All features of ``source``; text decoded with ``encoding`` (shapefiles)."""
    options = {}
    if source.driver == "ESRI Shapefile":
        options["SHAPE_RESTORE_SHX"] = "YES"
    kwargs = {"encoding": encoding} if encoding and source.driver == "ESRI Shapefile" else {}
    try:
        pyogrio.set_gdal_config_options(options)
        info = pyogrio.read_info(source.path, layer=source.layer, **kwargs)
        frame = pyogrio.read_dataframe(source.path, layer=source.layer, **kwargs)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(
            f"{source.display} 无法读取。请用 QGIS 打开检查，或重新导出",
            code="import.file_unreadable",
            detail=f"{source.display} cannot be read: {exc}",
            hint="open it in QGIS to check it, or export it again",
        ) from exc
    finally:
        pyogrio.set_gdal_config_options({key: None for key in options})
    if len(frame) == 0:
        raise InputError(
            f"{source.display} 中没有任何要素，请重新导出图层",
            code="import.no_features",
            detail=f"{source.display} holds no features.",
            hint="export the layer again",
        )
    if "geometry" not in frame:
        raise InputError(
            f"{source.display} 没有图形（是普通表格吗？）。请提供带图形的图层",
            code="import.no_geometry",
            detail=f"{source.display} has no geometries (a plain table?).",
        )
    attributes = pd.DataFrame(frame.drop(columns="geometry"))
    return Features(
        geometries=np.asarray(frame.geometry.array, dtype=object),
        attributes=attributes,
        fields=[str(f) for f in info["fields"]],
        file_crs=info.get("crs"),
    )

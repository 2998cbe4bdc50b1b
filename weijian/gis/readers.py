"""Opening the files cities hand over: Shapefiles (bare or zipped, zips made on Chinese Windows
with GBK member names), GeoPackages and GeoJSON — with a clear refusal for anything else."""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyogrio

from weijian.errors import InputError, NotFoundError
from weijian.gis import integrity
from weijian.gis.scratch import scratch_dir
from weijian.settings import get_settings

DRIVERS = {".shp": "ESRI Shapefile", ".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
ZIP_UTF8_FLAG = 0x800
MAX_ZIP_MEMBERS = 10_000
_DRIVE = re.compile(r"^[A-Za-z]:")
#: members that are never legitimately empty
_NEEDED_BYTES = {".shp", ".shx", ".dbf", ".prj", ".gpkg", ".geojson", ".json"}


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


def _zip_error(archive: Path, zh: str, en: str, code: str, hint: str) -> InputError:
    return InputError(
        f"{archive.name}：{zh}", code=code, detail=f"{archive.name}: {en}.", hint=hint
    )


def _zip_limits(archive: Path) -> tuple[int, int]:
    """The most a zip may hold once extracted, and the most one member may expand."""
    settings = get_settings()
    factor_limit = max(settings.max_extract_factor * archive.stat().st_size, 64 << 20)
    return min(settings.max_extract_mb << 20, factor_limit), settings.max_zip_ratio


def _member_path(archive: Path, info: zipfile.ZipInfo) -> list[str] | None:
    """A member's path parts inside the extraction folder, None for what is skipped; a path
    that would leave the folder (``../``, absolute, a drive) or a link is refused."""
    name = member_name(info).replace("\\", "/")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "/")]
    if name.startswith("/") or _DRIVE.match(name) or ".." in parts:
        raise _zip_error(
            archive,
            f"其中的文件“{name}”的路径指向压缩包之外（绝对路径或含 ../），已拒绝解压。"
            "请只压缩 shapefile 的文件本身后重新上传",
            f"member {name!r} has a path leading out of the archive (absolute or with ../)",
            "import.zip_unsafe_path",
            "zip only the shapefile's files themselves and upload again",
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _zip_error(
            archive,
            f"其中的“{name}”是符号链接，已拒绝解压。请压缩文件本身而不是链接",
            f"member {name!r} is a symbolic link",
            "import.zip_unsafe_path",
            "zip the files themselves, not links to them",
        )
    if info.is_dir() or not parts or parts[0] == "__MACOSX":
        return None
    if info.file_size == 0 and PurePosixPath(name).suffix.lower() in _NEEDED_BYTES:
        raise _zip_error(
            archive,
            f"其中的文件“{name}”是空文件（0 字节）。请重新导出图层后再压缩上传",
            f"member {name!r} is empty (0 bytes)",
            "import.member_empty",
            "export the layer again and zip it again",
        )
    return parts


def _check_zip_sizes(archive: Path, infos: list[zipfile.ZipInfo], total_limit: int, ratio: int):
    """Refuse a zip bomb by its declared sizes, before anything is written."""
    if len(infos) > MAX_ZIP_MEMBERS:
        raise _zip_error(
            archive,
            f"压缩包中有 {len(infos)} 个文件，超过上限 {MAX_ZIP_MEMBERS}。请只压缩要导入的图层",
            f"the archive holds {len(infos)} members, more than {MAX_ZIP_MEMBERS}",
            "import.zip_too_large",
            "zip only the layer to import",
        )
    declared = sum(info.file_size for info in infos)
    if declared > total_limit:
        raise _zip_bomb(archive, declared, total_limit)
    for info in infos:
        if info.file_size > 1 << 20 and info.file_size > ratio * max(info.compress_size, 1):
            raise _zip_error(
                archive,
                f"其中的文件“{member_name(info)}”压缩比异常（{info.compress_size} 字节解压后为 "
                f"{info.file_size} 字节，超过 {ratio} 倍），疑似“压缩炸弹”，已拒绝解压。"
                "请直接上传正常导出的图层",
                f"member {member_name(info)!r} expands {info.compress_size} bytes to "
                f"{info.file_size} (more than {ratio} times): a zip bomb, not extracted",
                "import.zip_bomb",
                "upload the layer as exported, or raise WEIJIAN_MAX_ZIP_RATIO",
            )


def _zip_bomb(archive: Path, size: int, limit: int) -> InputError:
    return _zip_error(
        archive,
        f"解压后将超过 {limit >> 20} MB（至少 {size >> 20} MB），疑似“压缩炸弹”，已拒绝解压。"
        "请拆分图层，或请管理员调高 WEIJIAN_MAX_EXTRACT_MB",
        f"it would extract to more than {limit >> 20} MB (at least {size >> 20} MB): a zip bomb "
        "or a layer too large, not extracted",
        "import.zip_bomb",
        "split the layer, or raise WEIJIAN_MAX_EXTRACT_MB / WEIJIAN_MAX_EXTRACT_FACTOR",
    )


def _extract_zip(archive: Path, target: Path) -> list[Path]:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputError(
            f"{archive.name} 不是可读取的 zip 压缩包。请将 .shp、.shx、.dbf、.prj（及 .cpg）"
            "重新压缩后再上传",
            code="import.zip_unreadable",
            detail=f"{archive.name} is not a readable zip file ({exc}).",
            hint="zip the .shp, .shx, .dbf, .prj (and .cpg) again and upload the new archive",
        ) from exc
    total_limit, ratio = _zip_limits(archive)
    extracted = []
    with zf:
        infos = zf.infolist()
        _check_zip_sizes(archive, infos, total_limit, ratio)
        members = [(info, _member_path(archive, info)) for info in infos]
        written = 0  # counted while extracting: declared sizes can lie
        for info, parts in members:
            if parts is None:
                continue
            name = "/".join(parts)
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(destination, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > total_limit:
                            raise _zip_bomb(archive, written, total_limit)
                        dst.write(chunk)
            except (
                zipfile.BadZipFile,
                OSError,
                EOFError,
                RuntimeError,
                NotImplementedError,
                zlib.error,
            ) as exc:
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
    integrity.check_shp(shp, display)
    integrity.check_dbf(dbf, display)
    shx = _sibling(shp, ".shx")
    if shx is not None:
        integrity.check_shx(shp, shx, display)
    source = OpenedSource(
        display=display,
        path=shp,
        driver="ESRI Shapefile",
        dbf=dbf,
        cpg=_sibling(shp, ".cpg"),
        prj=_sibling(shp, ".prj"),
    )
    if shx is None:
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
        workdir = scratch_dir("import")
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
    if source.driver == "GeoJSON":
        settings = get_settings()
        integrity.check_json(path, display, settings.max_json_depth, settings.max_feature_vertices)
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
        _check_count(source, int(info.get("features") or 0))
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
    geometries = np.asarray(frame.geometry.array, dtype=object)
    integrity.check_coordinates(geometries, source.display, get_settings().max_feature_vertices)
    return Features(
        geometries=geometries,
        attributes=attributes,
        fields=[str(f) for f in info["fields"]],
        file_crs=info.get("crs"),
    )


def _check_count(source: OpenedSource, count: int) -> None:
    limit = get_settings().max_features
    if count > limit:
        raise InputError(
            f"{source.display} 有 {count} 个要素，超过单次导入上限 {limit}。"
            "请拆分图层，或请管理员调高 WEIJIAN_MAX_FEATURES",
            code="import.too_many_features",
            detail=f"{source.display} holds {count} features, more than {limit}.",
            hint="split the layer, or raise WEIJIAN_MAX_FEATURES",
        )

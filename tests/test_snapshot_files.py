"""The snapshot's zone layers shared between processes through files (``zonefiles``): written
once under a lock, mapped by every other process, the same answers as a snapshot built in
memory, polygons decoded only where points fall, and a folder that cannot be used costs
nothing but the sharing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import pytest
import shapely

from weijian.jurisdiction import zonefiles
from weijian.jurisdiction.engine import answer_json, lookup_parts
from weijian.jurisdiction.snapshot import load_snapshot
from weijian.jurisdiction.zonefiles import FORMAT


@pytest.fixture
def shared(sample_city, tmp_path):
    files = tmp_path / "snapshots"
    return files, load_snapshot(sample_city, files)


def _folders(files: Path) -> list[Path]:
    return sorted(p for p in files.glob("zones-*") if p.is_dir())


def test_the_first_load_writes_one_folder_per_zone_layer_version(sample_city, shared):
    files, snap = shared
    folders = _folders(files)
    assert len(folders) == len(snap.zone_layers) >= 2
    for folder in folders:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        assert meta["format"] == FORMAT
        assert {"wkb_blob", "cell_ptr", "fragments_blob", "rank_in_layer"} <= set(meta["arrays"])
    assert not list(files.glob(".*partial"))
    # a second load maps the files: nothing is rewritten, the arrays are views of the files
    written = {f: (f / "meta.json").stat().st_ino for f in folders}
    again = load_snapshot(sample_city, files)
    assert {f: (f / "meta.json").stat().st_ino for f in _folders(files)} == written
    landuse = max(again.zone_layers, key=lambda layer: len(layer.ids))
    assert isinstance(landuse.index.cell_ptr, np.memmap)
    assert isinstance(landuse.fragments.blob, np.memmap)


def test_polygons_are_decoded_where_points_fall(shared):
    _, snap = shared
    landuse = max(snap.zone_layers, key=lambda layer: len(layer.ids))
    before = landuse.index.geoms.decoded
    assert before < len(landuse.ids) / 4  # only the large ones, warmed at load
    centre = shapely.point_on_surface(landuse.index.geoms[int(len(landuse.ids) // 2)])
    lookup_parts(snap, centre.x, centre.y, on=date.today(), tolerance_m=10.0, given={})
    assert before < landuse.index.geoms.decoded < before + 50


@pytest.mark.parametrize("tolerance_m", [0.0, 10.0])
def test_answers_from_the_files_are_those_of_a_snapshot_in_memory(sample_city, shared, tolerance_m):
    _, from_files = shared
    in_memory = load_snapshot(sample_city)
    rng = np.random.default_rng(5)
    geoms = np.concatenate([layer.index.geoms.all() for layer in in_memory.zone_layers])
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    lon = rng.uniform(minx - 0.02, maxx + 0.02, 1500)
    lat = rng.uniform(miny - 0.02, maxy + 0.02, 1500)
    coords = shapely.get_coordinates(geoms)
    pick = rng.choice(len(coords), 500, replace=False)
    lon, lat = np.concatenate([lon, coords[pick, 0]]), np.concatenate([lat, coords[pick, 1]])
    on = date.today()
    assigned = 0
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        given = {"x": x, "y": y, "crs": "CGCS2000"}
        a = lookup_parts(from_files, x, y, on=on, tolerance_m=tolerance_m, given=given)
        b = lookup_parts(in_memory, x, y, on=on, tolerance_m=tolerance_m, given=given)
        for scoped in (False, True):
            assert answer_json(from_files, a, scoped=scoped) == answer_json(
                in_memory, b, scoped=scoped
            ), (x, y)
        assigned += orjson.loads(answer_json(from_files, a, scoped=False))["status"] == "assigned"
    assert assigned > 300
    # and the rules as arrays: every zone's rank, and the global tie-break order
    for mine, theirs in zip(from_files.zone_ranks(on), in_memory.zone_ranks(on), strict=True):
        assert np.array_equal(mine, theirs)
    for mine, theirs in zip(from_files.zone_layers, in_memory.zone_layers, strict=True):
        assert np.array_equal(mine.order, theirs.order)


LOADER = """
import sys, json, logging
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from weijian.db.engine import engine_for
from weijian.jurisdiction.snapshot import load_snapshot
snap = load_snapshot(engine_for(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"token": snap.token, "zones": [len(layer.ids) for layer in snap.zone_layers]}))
"""


def test_processes_starting_together_build_once(sample_city, tmp_path):
    url = sample_city.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", LOADER, url, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    answers, builds = [], 0
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        answers.append(json.loads(out.strip().splitlines()[-1]))
        builds += err.count("built and shared")
    assert answers[0] == answers[1] == answers[2]
    folders = _folders(tmp_path)
    assert len(folders) == len(answers[0]["zones"]) == builds  # each layer built once
    assert not list(tmp_path.glob(".*partial"))


def test_a_folder_that_cannot_be_used_builds_in_memory(sample_city, tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    snap = load_snapshot(sample_city, blocked / "snapshots")
    assert "cannot be used" in caplog.text
    assert sum(len(layer.ids) for layer in snap.zone_layers) > 1000


def test_decoded_polygons_are_bounded(shared):
    _, snap = shared
    landuse = max(snap.zone_layers, key=lambda layer: len(layer.ids))
    geoms = landuse.index.geoms
    geoms.limit = 200
    everything = geoms.take(np.arange(len(geoms)))  # more than the limit at once: all given
    assert np.equal(everything, None).sum() == 0
    for i in range(0, 1000, 3):
        assert geoms.one(i) is not None
    assert geoms.decoded <= 200 + int(geoms._pinned.sum())
    # the answers stay those of the plain polygons
    plain = shapely.from_wkb(shapely.to_wkb(geoms.all()[:1000]))
    centres = shapely.point_on_surface(plain)
    points, polys = landuse.index.query(shapely.get_x(centres), shapely.get_y(centres))
    assert set(zip(points.tolist(), polys.tolist(), strict=True)) >= {(i, i) for i in range(1000)}


def test_the_files_map_in_many_threads_at_once(shared):
    """Every worker thread may map a version at once (the listener, a job): the files' layout
    comes from meta.json, not from parsing a header in each thread."""
    files, _ = shared
    folders = _folders(files)
    expected = {folder: zonefiles._read(folder) for folder in folders}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(zonefiles._read, folders * 16))
    for folder, arrays in zip(folders * 16, results, strict=True):
        assert arrays.keys() == expected[folder].keys()
        for key, value in arrays.items():
            assert value.dtype == expected[folder][key].dtype
            assert np.array_equal(value, expected[folder][key])
            assert not value.flags.writeable


def test_empty_arrays_are_written_and_read_back(tmp_path):
    arrays = {
        "none": np.zeros(0, np.int32),
        "pairs": np.zeros((0, 2), np.float64),
        "some": np.arange(5, dtype=np.uint8),
    }
    folder = tmp_path / "zones-test"
    zonefiles._write(folder, arrays, zonefiles._meta("用地", 1, arrays))
    back = zonefiles._read(folder)
    assert {k: (v.dtype, v.shape) for k, v in back.items()} == {
        k: (v.dtype, v.shape) for k, v in arrays.items()
    }
    assert back["some"].tolist() == [0, 1, 2, 3, 4]

"""The warm-up's city (weijian.jurisdiction.warmup): the snapshot built in memory and from
shared files answers the same, and its points reach every path a look-up can take — inside
and outside the city, on edges, with and without a rule, with other answers within the
tolerance — so that `./dev setup` compiles every loop they run."""

from __future__ import annotations

from datetime import date

import numpy as np

from weijian.jurisdiction import engine, warmup
from weijian.jurisdiction.snapshot import build_snapshot


def test_the_warm_up_city_answers_alike_in_memory_and_from_files(tmp_path):
    in_memory = build_snapshot(warmup.sources(3, None))
    mapped = build_snapshot(warmup.sources(3, tmp_path / "files"))
    assert isinstance(mapped.zone_layers[1].index.geoms.wkb_blob, np.memmap)
    assert not isinstance(in_memory.zone_layers[1].index.geoms.wkb_blob, np.memmap)
    lon, lat = warmup.points()
    on = date.today()
    batch = engine.answer_arrays(mapped, lon, lat, on=on)
    alike = engine.answer_arrays(in_memory, lon, lat, on=on)
    np.testing.assert_array_equal(batch.decision.rule_pos, alike.decision.rule_pos)
    np.testing.assert_array_equal(batch.distance, alike.distance)
    assert batch.alternatives == alike.alternatives
    # one at a time, the same as the batch
    single = [engine.lookup(mapped, x, y) for x, y in zip(lon.tolist(), lat.tolist(), strict=True)]
    for k, answer in enumerate(single):
        assert (answer["status"] == "assigned") == (batch.decision.rule_pos[k] >= 0)
        assert bool(answer["alternatives"]) == (k in batch.alternatives)

    statuses = {answer["status"] for answer in single}
    reasons = {answer.get("reason") for answer in single}
    departments = {(answer.get("department") or {}).get("name") for answer in single}
    assert statuses == {"assigned", "unassigned"}
    assert {"outside_city", "no_rule"} <= reasons
    assert {"一区城市管理行政执法局", "二区自然资源局"} <= departments  # stored, and by template
    chains = {tuple(g["name"] for g in answer["grid"].values() if g) for answer in single}
    assert ("一区", "一街道", "一社区", "一小区") in chains  # the parents' codes lead up
    ambiguous = [answer for answer in single if answer["alternatives"]]
    assert 0 < len(ambiguous) < len(single)
    assert any(answer["boundary_distance_m"] == 0 for answer in single)  # on an edge

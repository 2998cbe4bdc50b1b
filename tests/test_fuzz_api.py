"""The API fuzzed from its own OpenAPI document with schemathesis: every operation, with
generated parameters and bodies, sent as each kind of user (and as nobody) to a real server
over a database of its own (as an administrator it imports, activates and edits rules). No
answer may be a 5xx, and every answer must match what the document says of it (status code,
content type, the JSON's schema)."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.casekit import (
    FARMLAND,
    HJ,
    PASSWORD,
    RED_FLAG,
    START,
    STREET,
    add_users,
    build_city,
    lonlat,
)
from tests.conftest import scratch_database, serving

#: who sends each generated request: nobody, and a user of every role — the city's
#: administrator and supervisor, the three departments and a department's leader, a town, a
#: community, a grid worker, a property company
ROLES = (
    None, "admin", "supervisor", "ue_hj", "nr_hj", "cg_hj", "leader", "town1", "community",
    "gridder", "property",
)  # fmt: skip
#: examples drawn per operation: bounded so the whole run stays near a minute
EXAMPLES = 5
#: operations left out, and why
SKIPPED = {
    ("POST", "/api/v1/auth/logout"),  # it would revoke the tokens the other examples use
}


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory):
    from weijian.api.app import create_app
    from weijian.cases import users
    from weijian.cases.clock import FixedClock
    from weijian.cases.workflow import default_workflow
    from weijian.db.engine import engine_for
    from weijian.jurisdiction.snapshot import load_snapshot
    from weijian.settings import Settings

    folder = tmp_path_factory.mktemp("fuzz")
    with scratch_database() as url:
        engine = engine_for(url)
        build_city(engine, folder / "city")
        add_users(engine)
        with engine.begin() as conn:
            users.add_user(
                conn,
                load_snapshot(engine),
                default_workflow(),
                username="leader",
                password=PASSWORD,
                role="department_leader",
                grid_code=HJ,
                department_type="urban_enforcement",
            )
        settings = Settings(evidence_dir=folder / "evidence", map_poll_seconds=0.5)
        app = create_app(engine, clock=FixedClock(START), settings=settings)
        with serving(app) as base:
            tokens = {None: None}
            for who in ROLES[1:]:
                r = requests.post(
                    base + "/api/v1/auth/login",
                    json={"username": who, "password": PASSWORD},
                    timeout=30,
                )
                r.raise_for_status()
                tokens[who] = r.json()["access_token"]
            # a few citizens' reports for the generated references to land on now and then
            for spot in (STREET, RED_FLAG, FARMLAND):
                lon, lat = lonlat(spot)
                r = requests.post(
                    base + "/api/v1/cases",
                    json={"lon": lon, "lat": lat, "crs": "cgcs2000", "description": "楼顶加建"},
                    timeout=30,
                )
                assert r.status_code == 201, r.text
            yield base, tokens
        engine.dispose()


def _schema():
    """The app's own OpenAPI document (made without a database), less :data:`SKIPPED`."""
    from weijian.api.app import create_app

    loaded = schemathesis.openapi.from_dict(create_app().openapi())
    # generated examples only, a bounded number of them: schemathesis's coverage phase (every
    # boundary of every parameter, dozens of requests an operation) would take minutes
    loaded.config.phases.coverage.enabled = False
    for method, path in SKIPPED:
        loaded = loaded.exclude(method=method, path=path)
    return loaded


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproduced by running again
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_as_documented(case, fuzzed_server):
    base, tokens = fuzzed_server
    for who in ROLES:
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        response = case.call(base_url=base, headers=headers, timeout=60)
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            headers=headers,
        )

"""Property-based fuzzing of the OpenAPI schema with schemathesis: generated requests to every
documented operation never get a 5xx, and every answer matches what the schema documents
(status codes, content types, bodies, headers).

The app is the real one around stand-in models; the run is derandomized (the same cases each
time, so never flaky) and bounded to a few hundred cases.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")
schemathesis = pytest.importorskip("schemathesis", reason="fuzzing needs the 'dev' extra")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode, checks  # noqa: E402

from emotrace.api import Settings, create_app  # noqa: E402

from .apihelpers import FakePipeline, FakeTextScorer  # noqa: E402

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance,
          checks.response_headers_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("fuzz") / "data", workers=2,
                         max_upload_bytes=256 * 1024)
    app = create_app(settings_, FakePipeline(), text_scorer=FakeTextScorer())
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.service.close()


MAX_EXAMPLES = 20
"""Cases per operation and mode: valid data, and data that breaks the schema (about 360 in all)."""


# Driven by hand, not by schemathesis's pytest plugin, which does not run under pytest 9.
def test_every_operation_answers_as_documented(api_schema):
    failures, cases = [], 0
    operations = [r.ok() for r in api_schema.get_all_operations()]
    for operation, mode in [(o, m) for o in operations for m in GenerationMode]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        def run(case):
            nonlocal cases
            cases += 1
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to break: an operation without parameters or body
            continue
        except Exception as e:  # every operation is fuzzed; all failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {e}")
    assert not failures, "\n\n".join(failures)
    assert len(operations) >= 9 and cases >= 200

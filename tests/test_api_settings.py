"""REST service, keys, CORS, the OpenAPI page, the web page, and settings from the
environment and flags."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from fastapi.testclient import TestClient  # noqa: E402
from emotrace.api import Settings, create_app  # noqa: E402
from emotrace.api.store import JobStore  # noqa: E402
from emotrace.errors import ConfigError  # noqa: E402

from .apihelpers import make_client  # noqa: E402,F401 (a fixture)
from .apihelpers import FakePipeline, FakeTextScorer, make_settings, upload, wait_for  # noqa: E402

# keys, CORS, docs ----------------------------------------------------------------------------

def test_api_keys_on(make_client):
    client, _ = make_client(api_keys=("s3cret", "other"))
    assert client.get("/health").status_code == 200
    for method, path, kw in (("post", "/predict_text", {"data": {"text": "hi"}}),
                             ("post", "/predict", {"data": {"text": "hi"}}),
                             ("get", "/jobs", {}), ("get", "/jobs/x", {}), ("delete", "/jobs/x", {}),
                             ("post", "/jobs", {"files": upload("dialogue.wav")})):
        r = getattr(client, method)(path, **kw)
        assert r.status_code == 401, path
        assert "API key" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
        r = getattr(client, method)(path, headers={"Authorization": "Bearer wrong"}, **kw)
        assert r.status_code == 401
    ok = {"data": {"text": "hi"}}
    assert client.post("/predict_text", headers={"Authorization": "Bearer s3cret"}, **ok).status_code == 200
    assert client.post("/predict_text", headers={"X-API-Key": "other"}, **ok).status_code == 200
    assert client.get("/jobs", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_each_key_sees_only_its_own_jobs(make_client):
    client, _ = make_client(api_keys=("alice-key", "bob-key"))
    alice, bob = {"X-API-Key": "alice-key"}, {"Authorization": "Bearer bob-key"}
    a = client.post("/jobs", files=upload("dialogue.mp4"), headers=alice).json()["id"]
    b = client.post("/jobs", files=upload("dialogue.wav"), headers=bob).json()["id"]
    assert wait_for(client, a, headers=alice)["status"] == "done"
    assert wait_for(client, b, headers=bob)["status"] == "done"
    listed = client.get("/jobs", headers=alice).json()
    assert [j["id"] for j in listed["jobs"]] == [a] and listed["total"] == 1
    for method, path in (("get", f"/jobs/{b}"), ("get", f"/jobs/{b}/result"), ("delete", f"/jobs/{b}")):
        r = getattr(client, method)(path, headers=alice)
        assert r.status_code == 404 and r.json()["detail"] == f"unknown job: {b}", path
    # bob's job survived alice's attempt to delete it, and bob can still delete it
    assert client.get(f"/jobs/{b}/result", headers=bob).status_code == 200
    assert client.delete(f"/jobs/{b}", headers=bob).status_code == 204
    # the same file uploaded by bob is analysed again: reusing alice's result would tell bob
    # (by `reused`, or by the speed of the answer) what alice uploaded
    again = client.post("/jobs", files=upload("dialogue.mp4"), headers=bob).json()["id"]
    assert wait_for(client, again, headers=bob)["reused"] is False
    assert client.get(f"/jobs/{again}", headers=alice).status_code == 404
    # the database keeps a one-way tag, never the key
    job = client.app.state.service.store.get(a)
    assert job.owner and "alice" not in job.owner


def test_jobs_made_before_keys_were_switched_on_stay_visible(tmp_path):
    open_settings = make_settings(tmp_path)
    with TestClient(create_app(open_settings, FakePipeline(), text_scorer=FakeTextScorer())) as c1:
        old = c1.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
        assert wait_for(c1, old)["status"] == "done"
    keyed = make_settings(tmp_path, api_keys=("k1",))
    with TestClient(create_app(keyed, FakePipeline(), text_scorer=FakeTextScorer())) as c2:
        r = c2.get("/jobs", headers={"X-API-Key": "k1"}).json()
        assert [j["id"] for j in r["jobs"]] == [old]
        assert c2.get(f"/jobs/{old}/result", headers={"X-API-Key": "k1"}).status_code == 200


def test_a_second_server_on_the_same_folder_is_refused_and_the_first_keeps_its_jobs(tmp_path):
    settings = make_settings(tmp_path)
    pipeline = FakePipeline()
    with TestClient(create_app(settings, pipeline, text_scorer=FakeTextScorer())) as c1:
        job = c1.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
        assert wait_for(c1, job)["status"] == "done"
        with pytest.raises(ConfigError, match="another emotrace server .pid \\d+. is using"):
            create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())
        # another folder but the same database is refused too
        with pytest.raises(ConfigError, match="another emotrace server"):
            create_app(make_settings(tmp_path / "elsewhere", db_path=settings.database),
                       FakePipeline(), text_scorer=FakeTextScorer())
        assert c1.get(f"/jobs/{job}/result").status_code == 200
    # once the first has stopped, a new one starts on the same folder and finds the job
    with TestClient(create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())) as c2:
        assert c2.get(f"/jobs/{job}").json()["status"] == "done"


def test_a_version_1_database_gains_the_owner_column_and_keeps_its_jobs(tmp_path):
    import sqlite3

    from emotrace.api import store as store_module

    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    v1 = store_module._SCHEMA.replace(",\n    owner        TEXT\n", "\n")
    assert "owner" not in v1
    db.executescript(v1)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO jobs (id, status, created_at, content_hash, cache_key) "
               "VALUES ('old', 'done', 1.0, 'h', 'k')")
    db.commit(); db.close()
    store = JobStore(path)
    job = store.get("old")
    assert job is not None and job.owner is None and job.status == "done"
    assert store.list(owner="someone")[1] == 1
    new = store.create(filename="f", options={}, content_hash="h2", cache_key="k2",
                       upload_dir=None, owner="someone")
    assert store.get(new.id).owner == "someone"
    assert store.list(owner="other")[1] == 1 and store.list()[1] == 2
    assert store._one("SELECT value FROM meta WHERE key = 'schema_version'")["value"] == "2"
    store.close()


def test_api_keys_off(make_client):
    client, _ = make_client()
    assert client.post("/predict_text", data={"text": "hi"}).status_code == 200
    assert client.get("/jobs").status_code == 200


def test_cors_allows_only_the_configured_origins(make_client):
    client, _ = make_client()
    pre = {"Access-Control-Request-Method": "POST"}
    ok = client.options("/predict", headers={"Origin": "http://localhost:3000", **pre})
    assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert ok.headers["access-control-allow-credentials"] == "true"
    bad = client.options("/predict", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers
    anywhere, _ = make_client(cors_origins=("*",))
    r = anywhere.get("/health", headers={"Origin": "https://evil.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers


def test_openapi_documents_every_endpoint_with_an_example(make_client):
    client, _ = make_client()
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    text = json.dumps(spec)
    for path in ("/predict", "/predict_text", "/health", "/jobs", "/jobs/{job_id}",
                 "/jobs/{job_id}/result"):
        assert path in spec["paths"], path
    assert "video_file" in text and "audio_file" in text
    schemas = spec["components"]["schemas"]

    def expand(node, seen=()):
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                return {} if name in seen else expand(schemas[name], seen + (name,))
            return {k: expand(v, seen) for k, v in node.items()}
        return [expand(v, seen) for v in node] if isinstance(node, list) else node

    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ok = expand(op["responses"].get("200") or op["responses"].get("202") or {})
            if method != "delete":
                assert "example" in json.dumps(ok), f"{method} {path} has no example answer"
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)


def test_web_page_is_served_without_a_key(make_client):
    client, _ = make_client(api_keys=("k",))
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="file"' in r.text and 'src="static/app.js"' in r.text
    assert "jobs/${id}" in client.get("/static/app.js").text


# settings ----------------------------------------------------------------------------------

def test_settings_from_environment_and_flags(tmp_path):
    env = {"EMOTRACE_PORT": "9000", "EMOTRACE_MAX_UPLOAD": "500M", "EMOTRACE_API_KEYS": "a, b",
           "EMOTRACE_CORS_ORIGINS": "https://x.example,http://localhost:3000",
           "EMOTRACE_REQUEUE_INTERRUPTED": "no", "EMOTRACE_DATA_DIR": str(tmp_path),
           "EMOTRACE_KEEP_DAYS": "7.5"}
    s = Settings.from_env(env, port=9100, workers=None)
    assert s.port == 9100 and s.max_upload_bytes == 500 * 1024**2 and s.api_keys == ("a", "b")
    assert s.cors_origins == ("https://x.example", "http://localhost:3000")
    assert s.requeue_interrupted is False and s.database == tmp_path / "jobs.sqlite3"
    assert s.keep_days == 7.5 and Settings.from_env(env, keep_days=0).keep_days == 0
    defaults = Settings.from_env({})
    assert defaults.cors_origins == ("http://localhost:3000",) and defaults.api_keys == ()
    assert defaults.max_upload_bytes == 1024**3 and defaults.host == "127.0.0.1"
    for bad in ({"EMOTRACE_PORT": "http"}, {"EMOTRACE_MAX_UPLOAD": "lots"},
                {"EMOTRACE_WORKERS": "0"}, {"EMOTRACE_REQUEUE_INTERRUPTED": "maybe"},
                {"EMOTRACE_KEEP_DAYS": "-1"}, {"EMOTRACE_KEEP_DAYS": "soon"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)
    with pytest.raises(ConfigError, match="unknown settings"):
        Settings.from_env({}, colour="red")

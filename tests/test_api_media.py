"""The job's media for the web page's player (ranges, tokens, retention) and the offline pages:
``/docs``, ``/redoc``, the page's static files and the favicon. Stand-in models, real app."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from fastapi.testclient import TestClient  # noqa: E402

from emotrace.api import Settings, create_app  # noqa: E402
from emotrace.api import media  # noqa: E402

from .apihelpers import FakePipeline, FakeTextScorer, upload, wait_for  # noqa: E402
from .conftest import FIXTURES  # noqa: E402

VIDEO = (FIXTURES / "dialogue.mp4").read_bytes()


@pytest.fixture
def make_client(tmp_path):
    clients = []

    def make(pipeline=None, **changes):
        settings = Settings(data_dir=tmp_path / f"server{len(clients)}", **{"workers": 2, **changes})
        client = TestClient(create_app(settings, pipeline or FakePipeline(),
                                       text_scorer=FakeTextScorer()))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def done_job(client, name="dialogue.mp4", filename=None, headers=None) -> dict:
    r = client.post("/jobs", files=upload(name, filename=filename), headers=headers or {})
    assert r.status_code == 202, r.text
    return wait_for(client, r.json()["id"], headers=headers)


def upload_dirs(client) -> list[Path]:
    return [p for p in client.app.state.service.settings.upload_dir.iterdir() if p.is_dir()]


# media --------------------------------------------------------------------------------------

def test_a_done_job_serves_its_media_whole_and_in_ranges(make_client):
    client = make_client()
    job = done_job(client, filename="My clip.mp4")
    assert job["media_url"] == f"/jobs/{job['id']}/media"
    r = client.get(job["media_url"])
    assert r.status_code == 200 and r.content == VIDEO
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"].startswith("inline")
    assert r.headers["x-content-type-options"] == "nosniff"
    part = client.get(job["media_url"], headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == VIDEO[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(VIDEO)}"
    tail = client.get(job["media_url"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == VIDEO[-10:]
    beyond = client.get(job["media_url"], headers={"Range": f"bytes={len(VIDEO) + 5}-"})
    assert beyond.status_code == 416


def test_media_types_are_only_ever_media(make_client):
    client = make_client()
    wav = done_job(client, "dialogue.wav")
    assert client.get(wav["media_url"]).headers["content-type"] in ("audio/x-wav", "audio/wav")
    odd = done_job(client, "silence.wav", filename="page.html")
    assert client.get(odd["media_url"]).headers["content-type"] == "application/octet-stream"


def test_media_is_kept_with_the_job_and_deleted_with_it(make_client):
    client = make_client()
    job = done_job(client)
    assert len(upload_dirs(client)) == 1
    # an identical upload is done at once from the stored result, and keeps its own media
    again = client.post("/jobs", files=upload("dialogue.mp4")).json()
    reused = client.get(again["status_url"]).json()
    assert reused["reused"] is True and client.get(reused["media_url"]).content == VIDEO
    assert len(upload_dirs(client)) == 2
    assert client.delete(f"/jobs/{job['id']}").status_code == 204
    assert client.get(job["media_url"]).status_code == 404
    assert len(upload_dirs(client)) == 1
    assert client.delete(f"/jobs/{again['id']}").status_code == 204
    assert upload_dirs(client) == []


def test_a_failed_job_keeps_no_media(make_client):
    client = make_client()
    r = client.post("/jobs", files=upload("dialogue.wav"), data={"text": "FAIL"})
    job = wait_for(client, r.json()["id"])
    assert job["status"] == "failed" and job["media_url"] is None
    assert client.get(f"/jobs/{job['id']}/media").status_code == 404
    assert upload_dirs(client) == []


def test_a_job_deleted_while_running_leaves_no_media(make_client):
    gate = threading.Event()
    fake = FakePipeline(gate)
    client = make_client(fake, workers=1)
    job = client.post("/jobs", files=upload("dialogue.wav")).json()
    assert fake.started.acquire(timeout=10)
    assert client.delete(f"/jobs/{job['id']}").status_code == 204
    gate.set()
    deadline = time.monotonic() + 10
    while upload_dirs(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upload_dirs(client) == []


def test_media_survives_a_restart_and_goes_after_keep_days(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", workers=1)
    with TestClient(create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())) as c1:
        job = done_job(c1)
    with TestClient(create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())) as c2:
        assert c2.get(f"/jobs/{job['id']}/media").content == VIDEO
        store = c2.app.state.service.store
        store._run("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time() - 3 * 86_400, job["id"]))
    shorter = Settings(data_dir=tmp_path / "data", workers=1, keep_days=1)
    with TestClient(create_app(shorter, FakePipeline(), text_scorer=FakeTextScorer())) as c3:
        assert c3.get(f"/jobs/{job['id']}").status_code == 404
        assert list(shorter.upload_dir.iterdir()) == []


def test_with_api_keys_media_needs_a_key_or_the_jobs_token(make_client):
    client = make_client(api_keys=("alice", "bob"))
    alice, bob = {"X-API-Key": "alice"}, {"X-API-Key": "bob"}
    job = done_job(client, headers=alice)
    plain = f"/jobs/{job['id']}/media"
    assert job["media_url"].startswith(plain + "?token=")
    assert client.get(plain).status_code == 401
    assert client.get(plain, headers=alice).content == VIDEO
    assert client.get(plain, headers=bob).status_code == 404  # another key's job
    # the token (what a <video src> carries) opens this one job, with ranges
    r = client.get(job["media_url"], headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == VIDEO[:10]
    token = job["media_url"].split("token=")[1]
    other = done_job(client, "dialogue.wav", headers=alice)
    assert client.get(f"/jobs/{other['id']}/media?token={token}").status_code == 401
    assert client.get(f"{plain}?token=1.{'0' * 32}").status_code == 401
    forged = re.sub(r"^\d+", str(int(token.split(".")[0]) + 3600), token)
    assert client.get(f"{plain}?token={forged}").status_code == 401


def test_tokens_expire():
    now = 1_700_000_000.0
    token = media.media_token("abc", now=now)
    assert media.token_valid("abc", token, now=now + 3600)
    assert not media.token_valid("abd", token, now=now)
    assert not media.token_valid("abc", token, now=now + (media.TOKEN_HOURS + 2) * 3600)
    assert not media.token_valid("abc", "garbage", now=now)


def test_media_is_documented(make_client):
    spec = make_client().get("/openapi.json").json()
    op = spec["paths"]["/jobs/{job_id}/media"]["get"]
    assert {"200", "206", "401", "404", "416"} <= set(op["responses"])
    assert "media_url" in spec["components"]["schemas"]["JobOut"]["properties"]


# offline pages ------------------------------------------------------------------------------

def test_docs_and_redoc_load_their_files_from_this_server(make_client):
    client = make_client(api_keys=("k",))  # open without a key, like /openapi.json
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200, page
        urls = re.findall(r'(?:src|href)="([^"]+)"', r.text) + re.findall(r"url: '([^']+)'", r.text)
        assert urls, page
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere"
            assert client.get(url).status_code == 200, url
        assert "cdn" not in r.text.lower() and "fonts.googleapis" not in r.text
    assert '"validatorUrl": null' in client.get("/docs").text
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_page_files_and_favicon_are_served_without_a_key(make_client):
    client = make_client(api_keys=("k",))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for url in re.findall(r'(?:src|href)="(static/[^"]+)"', page.text):
        assert client.get("/" + url).status_code == 200, url
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert "http" not in re.sub(r'xmlns="[^"]+"', "", icon.text)


def test_redoc_bundle_fetches_nothing_from_another_host(make_client):
    js = make_client().get("/static/docs/redoc.standalone.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "Redoc" in js.text and "cdn.redoc.ly" not in js.text


def test_a_done_job_lists_its_media_length(make_client):
    client = make_client()
    job = done_job(client)
    assert job["duration"] == 1.0  # the stand-in pipeline's metadata
    listed = client.get("/jobs").json()["jobs"]
    assert [j["duration"] for j in listed] == [1.0]
    gate = threading.Event()
    fake = FakePipeline(gate)
    other = make_client(fake, workers=1)
    waiting = other.post("/jobs", files=upload("dialogue.wav")).json()
    assert other.get(waiting["status_url"]).json()["duration"] is None
    gate.set()
    assert wait_for(other, waiting["id"])["duration"] == 1.0

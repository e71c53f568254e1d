"""REST service against the real app: real Pipeline, real models, the committed fixtures.

Every older endpoint's exact shape, a job from upload to result in every format, several
uploads at once, a restart over the same database, each error status, API keys on and off.
One pipeline is loaded for the module and shared by the apps, as one server process does.
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from fastapi.testclient import TestClient  # noqa: E402

from emotrace.api import Settings, create_app  # noqa: E402
from emotrace.labels import EMOTIONS, SENTIMENTS  # noqa: E402

from .apihelpers import check_predict_shape, check_ranked, upload, wait_for  # noqa: E402
from .conftest import TEXT_MODEL  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not TEXT_MODEL.exists(),
                                 reason="src/emotrace/models/text/model.onnx is absent")]

DIALOGUE_SECONDS = 23.3
SPOKEN = ("happy", "furious", "dog", "terrified", "surprise")
"""A word from each of the five sentences spoken in the dialogue fixtures."""


@pytest.fixture(scope="module")
def pipeline():
    from emotrace.pipeline import Pipeline

    return Pipeline()


@pytest.fixture(scope="module")
def client(pipeline, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("api"), workers=2, max_queue=8)
    with TestClient(create_app(settings, pipeline)) as c:
        yield c


def new_client(pipeline, tmp_path, **changes) -> TestClient:
    return TestClient(create_app(Settings(data_dir=tmp_path / "data", **changes), pipeline))


def spoken_words_found(utterances: list[dict]) -> int:
    said = " ".join(u["text"] for u in utterances).lower()
    return sum(word in said for word in SPOKEN)


# the older endpoints ----------------------------------------------------------------------

def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "healthy" and body["model_loaded"] is True
    models = body["pipeline"]["models"]
    assert {"asr", "text"} <= set(models) and body["text_model"] == models["text"]


def test_predict_video(client):
    r = client.post("/predict", files=upload("dialogue.mp4", "video_file"))
    assert r.status_code == 200, r.text
    body = r.json()
    utts = check_predict_shape(body, DIALOGUE_SECONDS)
    assert 4 <= len(utts) <= 7 and spoken_words_found(utts) >= 4
    assert body["metadata"]["has_video"] is True and "file" not in body["metadata"]
    happy = next(u for u in utts if "happy" in u["text"].lower())
    assert happy["sentiments"][0]["label"] == "positive"


def test_predict_audio_file_alone_and_as_the_sound_of_a_silent_video(client):
    alone = client.post("/predict", files=upload("dialogue.wav", "audio_file"))
    assert alone.status_code == 200, alone.text
    assert spoken_words_found(check_predict_shape(alone.json(), DIALOGUE_SECONDS)) >= 4
    files = {**upload("no_audio.mp4", "video_file"), **upload("dialogue.wav", "audio_file")}
    both = client.post("/predict", files=files)
    assert both.status_code == 200, both.text
    assert spoken_words_found(check_predict_shape(both.json())) >= 4
    assert both.json()["metadata"]["has_video"] is True


def test_predict_with_text_is_one_utterance_over_the_whole_file(client):
    r = client.post("/predict", files=upload("dialogue.mp4", "video_file"),
                    data={"text": "I hate this so much."})
    assert r.status_code == 200, r.text
    (u,) = check_predict_shape(r.json())
    assert u["text"] == "I hate this so much." and u["start_time"] == 0.0
    assert u["end_time"] == pytest.approx(DIALOGUE_SECONDS, abs=0.1)


def test_text_alone_on_predict_matches_predict_text(client):
    text = "This is the best day of my life!"
    r = client.post("/predict", data={"text": text})
    assert r.status_code == 200
    (u,) = check_predict_shape(r.json())
    assert (u["start_time"], u["end_time"], u["text"]) == (0.0, 0.0, text)
    alone = client.post("/predict_text", data={"text": text}).json()
    assert u["emotions"] == alone["emotions"] and u["sentiments"] == alone["sentiments"]


def test_predict_text_exact_shape(client):
    r = client.post("/predict_text", data={"text": "I am feeling great today!"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["emotions", "sentiments"]
    check_ranked(body["emotions"], EMOTIONS)
    check_ranked(body["sentiments"], SENTIMENTS)
    assert all(set(item) == {"label", "confidence"} for item in body["emotions"] + body["sentiments"])
    assert body["sentiments"][0]["label"] == "positive"


def test_silence_is_an_empty_timeline_with_a_reason(client):
    r = client.post("/predict", files=upload("silence.wav", "video_file"))
    assert r.status_code == 200
    assert r.json()["analysis"]["utterances"] == [] and r.json()["metadata"]["reason"]


@pytest.mark.parametrize("name, status, words", [
    ("not_media.mp4", 415, "not a readable media file"), ("no_audio.mp4", 422, "no audio track")])
def test_predict_refuses_what_is_not_analysable(client, name, status, words):
    for path, field in (("/predict", "video_file"), ("/jobs", "file")):
        r = client.post(path, files=upload(name, field))
        assert r.status_code == status and words in r.json()["detail"], r.text


def test_upload_limit(pipeline, tmp_path):
    with new_client(pipeline, tmp_path, max_upload_bytes=100_000) as c:
        r = c.post("/predict", files=upload("dialogue.mp4", "video_file"))
        assert r.status_code == 413 and set(r.json()) == {"detail"}


# jobs -----------------------------------------------------------------------------------

def test_job_from_upload_to_result_in_every_format(client):
    r = client.post("/jobs", files=upload("dialogue.wav"))
    assert r.status_code == 202, r.text
    job = wait_for(client, r.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["progress"]["fraction"] == 1.0
    result = client.get(job["result_url"]).json()
    utts = check_predict_shape(result, DIALOGUE_SECONDS)
    assert spoken_words_found(utts) >= 4
    csv_text = client.get(job["result_url"], params={"format": "csv"}).text
    assert len(csv_text.strip().splitlines()) == len(utts) + 1
    srt = client.get(job["result_url"], params={"format": "srt"}).text
    assert srt.startswith("1\n") and " --> " in srt
    vtt = client.get(job["result_url"], params={"format": "vtt"}).text
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == len(utts)


def test_several_uploads_at_once_all_finish(client):
    sends = [("dialogue.mp4", {"text": "We did it, finally!"}), ("silence.wav", {}),
             ("no_audio.mp4", {}), ("dialogue.wav", {"text": "Leave me alone."})]
    answers: dict[str, dict] = {}

    def send(name, data):
        r = client.post("/jobs", files=upload(name), data=data)
        answers[name] = {**r.json(), "code": r.status_code}

    threads = [threading.Thread(target=send, args=s) for s in sends]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers["no_audio.mp4"]["code"] == 422
    for name in ("dialogue.mp4", "silence.wav", "dialogue.wav"):
        assert answers[name]["code"] == 202
        assert wait_for(client, answers[name]["id"])["status"] == "done"
    texts = {name: [u["text"] for u in client.get(f"/jobs/{answers[name]['id']}/result")
                    .json()["analysis"]["utterances"]] for name in ("dialogue.mp4", "dialogue.wav")}
    assert texts == {"dialogue.mp4": ["We did it, finally!"], "dialogue.wav": ["Leave me alone."]}


def test_restart_serves_finished_results(pipeline, tmp_path):
    with new_client(pipeline, tmp_path) as first:
        job = first.post("/jobs", files=upload("dialogue.mp4")).json()
        assert wait_for(first, job["id"])["status"] == "done"
        before = {f: first.get(f"/jobs/{job['id']}/result", params={"format": f}).text
                  for f in ("json", "csv", "srt", "vtt")}
    with new_client(pipeline, tmp_path) as second:
        assert second.get(f"/jobs/{job['id']}").json()["status"] == "done"
        after = {f: second.get(f"/jobs/{job['id']}/result", params={"format": f}).text
                 for f in before}
        assert after == before
        again = second.post("/jobs", files=upload("dialogue.mp4")).json()
        assert again["status"] == "done"  # identical content: the stored result, at once
        assert second.get(again["status_url"]).json()["reused"] is True


def test_queue_full_and_unknown_job(pipeline, tmp_path):
    with new_client(pipeline, tmp_path, workers=1, max_queue=0, retry_after_s=5) as c:
        first = c.post("/jobs", files=upload("dialogue.mp4"))
        assert first.status_code == 202
        busy = c.post("/jobs", files=upload("dialogue.wav"))
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert "queue is full" in busy.json()["detail"]
        assert wait_for(c, first.json()["id"])["status"] == "done"
        assert c.get("/jobs/0123abcd").status_code == 404
        assert c.delete("/jobs/0123abcd").json() == {"detail": "unknown job: 0123abcd"}


@pytest.mark.parametrize("keys", [(), ("key-one", "key-two")])
def test_api_keys_on_and_off(pipeline, tmp_path, keys):
    with new_client(pipeline, tmp_path, api_keys=keys) as c:
        assert c.get("/health").status_code == 200
        bare = c.post("/predict_text", data={"text": "Fine."})
        assert bare.status_code == (401 if keys else 200)
        if keys:
            for headers in ({"Authorization": "Bearer key-two"}, {"X-API-Key": "key-one"}):
                assert c.post("/predict_text", data={"text": "Fine."}, headers=headers).status_code == 200
            assert c.get("/jobs", headers={"X-API-Key": "nope"}).status_code == 401

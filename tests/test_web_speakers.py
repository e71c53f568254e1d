"""The web page with speakers, in a real browser (the fixtures of ``test_web_viewer``).

``two_speakers.ogg`` (two espeak-ng voices taking turns) is analysed once through the page, by a
server with the default options, so diarization on: the chart has one lane per speaker, labelled
with its name and talk time, the transcript names each utterance's speaker, and a table gives
each speaker's talk time and mean scores. Results with one speaker or none (the same result,
rewritten on its way to the page) look as they did before speakers: one chart, no lanes, no
speaker on each utterance (with one, "1 speaker" in the heading).
``EMOTRACE_SCREENSHOTS=DIR`` saves ``viewer-speakers.png`` (desktop) and
``viewer-speakers-phone.png`` into DIR.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest

from .conftest import FIXTURES
from .test_web_viewer import (  # noqa: F401 (fixtures, found by name)
    ANALYSIS_TIMEOUT_MS, Tab, _no_horizontal_scroll, _open_job, _wait_time_near, browser, get_json, server, tab)

pytestmark = pytest.mark.slow  # a real browser against a real server with the real models

TWO = FIXTURES / "two_speakers.ogg"


@pytest.fixture(scope="module")
def two(browser, server):  # noqa: F811
    """``two_speakers.ogg`` uploaded through the page; its job and result."""
    t = Tab(browser, server)
    try:
        t.page.goto(server)
        t.page.set_input_files("#file", str(TWO))
        t.page.click("#go")
        t.page.wait_for_selector("#utterances li.utt", timeout=ANALYSIS_TIMEOUT_MS)
        job = re.search(r"[?&]job=([0-9a-f]+)", t.page.url).group(1)
        t.check()
    finally:
        t.close()
    result = get_json(server, f"jobs/{job}/result")
    assert len(result["metadata"].get("speakers") or {}) >= 2, result["metadata"].get("speakers")
    return {"job": job, "result": result}


def _serve(t: Tab, result: dict) -> None:
    """Answer the page's request for the job's result with ``result``."""
    t.page.route("**/jobs/*/result?format=json", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(result)))


def _talk(s: float) -> str:
    return f"{s:.1f} s"


def test_one_lane_per_speaker_with_labels_transcript_and_summary(two, tab):
    result = two["result"]
    utts = result["analysis"]["utterances"]
    speakers = result["metadata"]["speakers"]
    t = tab()
    page = t.page
    _open_job(t, two["job"])

    assert f"{len(speakers)} speakers" in page.text_content("#result-meta")
    assert "one lane per speaker" in page.text_content("#chart-caption").lower()
    # the lanes, in order, each with its name and talk time and its own utterances
    lanes = page.locator("#chart svg g.lane")
    assert lanes.count() == len(speakers)
    assert [lanes.nth(i).get_attribute("data-speaker") for i in range(lanes.count())] == list(speakers)
    assert page.locator("#chart .lane-name").all_text_contents() == list(speakers)
    assert page.locator("#chart .lane-talk").all_text_contents() == [_talk(s["talk_time"]) for s in speakers.values()]
    for i, name in enumerate(speakers):
        own = [u for u in utts if u.get("speaker") == name]
        assert lanes.nth(i).locator("g.seg").count() == len(own)
        assert lanes.nth(i).locator("g.seg").first.locator("rect").count() == 10
    assert page.locator("#chart svg g.seg").count() == len(utts)  # each utterance once
    label = page.get_attribute("#chart svg", "aria-label")
    assert "one lane per speaker" in label and all(f"{name} ({_talk(s['talk_time'])} of talk)" in label
                                                   for name, s in speakers.items())
    # the lanes do not overlap, and the labels sit left of the timeline
    boxes = [lanes.nth(i).locator("rect.gap").bounding_box() for i in range(lanes.count())]
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper["y"] + upper["height"] < lower["y"]
    names = page.locator("#chart .lane-name")
    for i in range(names.count()):
        assert names.nth(i).bounding_box()["x"] + names.nth(i).bounding_box()["width"] < boxes[i]["x"]

    # the transcript names each utterance's speaker, in text and for screen readers
    rows = page.locator("#utterances li.utt")
    assert rows.locator(".speaker").all_text_contents() == [u["speaker"] for u in utts]
    assert rows.nth(0).get_attribute("aria-label").startswith(f"{utts[0]['speaker']}, ")

    # the summary: talk time, utterances, top mean emotion and sentiment, in words
    table = page.locator("#speakers")
    assert table.is_visible()
    trs = page.locator("#speaker-table tbody tr")
    assert trs.count() == len(speakers)
    for i, (name, s) in enumerate(speakers.items()):
        cells = [c.strip() for c in trs.nth(i).locator("th, td").all_text_contents()]
        emotion = max(s["emotions"], key=s["emotions"].get)
        sentiment = max(s["sentiments"], key=s["sentiments"].get)
        assert cells[0] == name
        assert re.fullmatch(rf"{re.escape(_talk(s['talk_time']))}( of talk)? \(\d+%\)", cells[1]), cells[1]
        assert re.fullmatch(rf"{s['utterances']} utterances?", cells[2])  # the unit shown on phones
        assert cells[3] == f"{emotion} {round(s['emotions'][emotion] * 100)}%"
        assert cells[4] == f"{sentiment} {round(s['sentiments'][sentiment] * 100)}%"
        assert trs.nth(i).locator(".dist span").count() == 7

    # clicking inside a lane seeks to that time; the cursor crosses every lane
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    second = [u for u in utts if u["speaker"] == list(speakers)[1]][-1]
    at = (second["start_time"] + second["end_time"]) / 2
    box = page.locator("#chart svg").bounding_box()
    x0 = boxes[1]["x"]
    page.mouse.click(x0 + (box["x"] + box["width"] - x0) * at / result["metadata"]["duration"], boxes[1]["y"] + 10)
    _wait_time_near(page, at, tol=0.5)
    current = utts.index(second)
    assert "current" in rows.nth(current).get_attribute("class")
    assert "current" in page.locator("#chart svg g.seg").nth(current).get_attribute("class")
    assert page.locator("#chart svg g.lane.current").get_attribute("data-speaker") == second["speaker"]
    cursor = page.locator("#chart svg .cursor")
    assert float(cursor.get_attribute("y2")) >= boxes[-1]["y"] + boxes[-1]["height"] - box["y"]

    # from the keyboard: a speaker's button plays from their next utterance, then the one after
    page.evaluate("document.getElementById('player').currentTime = 0")
    _wait_time_near(page, 0)
    name = list(speakers)[1]
    starts = [u["start_time"] for u in utts if u["speaker"] == name]
    button = page.locator(f"#speaker-table tr[data-speaker='{name}'] button")
    button.focus()
    page.keyboard.press("Enter")
    _wait_time_near(page, starts[0])
    page.keyboard.press("Enter")
    _wait_time_near(page, starts[1])
    assert rows.nth(utts.index([u for u in utts if u["speaker"] == name][1])).get_attribute("aria-current") == "true"


def test_three_speakers_and_an_utterance_without_one(two, tab):
    """Lanes from the utterances alone (no ``metadata.speakers``), plus a lane for the rest."""
    result = copy.deepcopy(two["result"])
    utts = result["analysis"]["utterances"]
    assert len(utts) >= 4
    del result["metadata"]["speakers"]
    result["metadata"].pop("speaker_turns", None)
    for i, u in enumerate(utts):
        u["speaker"] = f"S{i % 3 + 1}"
    del utts[-1]["speaker"]
    t = tab()
    _serve(t, result)
    _open_job(t, two["job"])
    page = t.page
    assert page.locator("#chart .lane-name").all_text_contents() == ["S1", "S2", "S3", "no speaker"]
    assert page.locator("#chart svg g.lane[data-speaker=''] g.seg").count() == 1
    assert page.locator("#chart svg g.seg").count() == len(utts)
    assert "3 speakers" in page.text_content("#result-meta")
    assert page.locator("#speaker-table tbody tr").count() == 3
    talk = sum(u["end_time"] - u["start_time"] for u in utts if u.get("speaker") == "S1")
    assert page.locator("#chart .lane-talk").first.text_content() == _talk(talk)


@pytest.mark.parametrize("case", ["one speaker", "no speakers"])
def test_one_speaker_or_none_shows_no_lanes(two, tab, case):
    result = copy.deepcopy(two["result"])
    utts = result["analysis"]["utterances"]
    md = result["metadata"]
    if case == "one speaker":
        for u in utts:
            u["speaker"] = "S1"
        s1 = md["speakers"]["S1"]
        s1.update(talk_time=sum(s["talk_time"] for s in md["speakers"].values()), utterances=len(utts))
        md["speakers"] = {"S1": s1}
        md["speaker_turns"] = [[a, b, "S1"] for a, b, _ in md["speaker_turns"]]
    else:
        for u in utts:
            del u["speaker"]
        del md["speakers"], md["speaker_turns"]
    t = tab()
    _serve(t, result)
    _open_job(t, two["job"])
    page = t.page
    assert page.locator("#chart svg g.seg").count() == len(utts)
    assert page.locator("#chart svg g.lane, #chart .lane-name").count() == 0
    assert page.is_hidden("#speakers")
    assert "lane" not in page.text_content("#chart-caption").lower()
    assert float(page.get_attribute("#chart svg .cursor", "y2")) == 150  # the chart of old
    meta = page.text_content("#result-meta")
    if case == "one speaker":
        assert "1 speaker" in meta and "speakers" not in meta
    else:
        assert "speaker" not in meta
    assert page.locator("#utterances .speaker").count() == 0  # the heading says it all
    assert not page.locator("#utterances li.utt").first.get_attribute("aria-label").startswith("S1")


def test_lanes_fit_desktop_and_phone(two, tab):
    """No sideways scroll at 1280 or 390 px; saves the screenshots when EMOTRACE_SCREENSHOTS is set."""
    shots = os.environ.get("EMOTRACE_SCREENSHOTS")
    utts = two["result"]["analysis"]["utterances"]
    for width, height, name in ((1280, 860, "viewer-speakers.png"), (390, 844, "viewer-speakers-phone.png")):
        t = tab(width=width, height=height)
        _open_job(t, two["job"])
        page = t.page
        page.wait_for_function("document.getElementById('player').readyState >= 1")
        page.locator("#utterances li.utt").nth(min(3, len(utts) - 1)).click()
        _no_horizontal_scroll(page)
        chart = page.locator("#chart svg").bounding_box()
        assert chart["x"] >= 0 and chart["x"] + chart["width"] <= width
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, document.getElementById('result').offsetTop - 8)")
            page.mouse.move(0, 0)
            page.wait_for_timeout(300)
            page.screenshot(path=str(Path(shots) / name))

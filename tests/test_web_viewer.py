"""The web page in a real browser: Playwright drives Debian's Chromium against ``emotrace serve``.

One server (real models) and one browser for the whole module; the sample video is analysed
once (a second, small server with an API key checks the key and media-token path). Every page fails its test on a console error, an uncaught exception, or a request to any
host but the server's. ``scripts/setup --dev`` installs Chromium where apt is available; with no
Chromium (a user's machine) these tests skip, but never under CI.

``EMOTRACE_WEB_TEST_SERVE_ARGS`` adds flags to ``emotrace serve`` (e.g. ``--modalities text,face``).
Set ``EMOTRACE_SCREENSHOTS=DIR`` to save the README's screenshots (desktop and a 390-px phone)
into DIR: ``EMOTRACE_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest tests/test_web_viewer.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .conftest import FIXTURES

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

pytestmark = pytest.mark.slow  # a real browser against a real server with the real models

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SAMPLE = FIXTURES / "dialogue.mp4"
START_TIMEOUT_S = 240
ANALYSIS_TIMEOUT_MS = 300_000


def _unavailable(reason: str):
    if os.environ.get("CI"):  # CI installs both (scripts/setup --dev): a miss there is a bug
        pytest.fail(f"{reason}; CI must run the browser tests (bash scripts/setup --dev installs them)")
    pytest.skip(reason)


def find_chromium() -> str | None:
    """``EMOTRACE_CHROMIUM``, else the first Chromium or Chrome on PATH."""
    given = os.environ.get("EMOTRACE_CHROMIUM")
    if given:
        return given
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(base: str, path: str):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())


# fixtures -----------------------------------------------------------------------------------

@contextlib.contextmanager
def serving(data: Path, *args: str, env: dict | None = None):
    """``emotrace serve`` on a free loopback port with ``data`` as its folder; yields its URL."""
    port = _free_port()
    log = open(data / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "emotrace", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--data-dir", str(data), "--workers", "1",
                             *os.environ.get("EMOTRACE_WEB_TEST_SERVE_ARGS", "").split(), *args],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"emotrace serve exited ({proc.returncode}):\n"
                            + (data / "serve.log").read_text(errors="replace")[-3000:])
            try:
                if get_json(base, "health")["status"] == "healthy":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"emotrace serve did not answer within {START_TIMEOUT_S} s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The server most tests share (default models)."""
    with serving(tmp_path_factory.mktemp("web-data")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[dev]')")
    chromium = find_chromium()
    if chromium is None:
        _unavailable("no Chromium found (apt-get install chromium, or set EMOTRACE_CHROMIUM)")
    pw = sync_playwright().start()
    try:
        # as root (containers, CI) Chromium's sandbox cannot start
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        args.append("--disable-dev-shm-usage")  # containers often have a tiny /dev/shm
        b = pw.chromium.launch(executable_path=chromium, args=args)
        yield b
        b.close()
    finally:
        pw.stop()


class Tab:
    """A page whose console errors, uncaught exceptions and off-host requests are collected."""

    def __init__(self, browser, base: str, width: int = 1280, height: int = 900):
        self.host = urlparse(base).netloc
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.problems: list[str] = []
        self.allowed: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        self.page.on("request", self._request)

    def _console(self, msg) -> None:
        if msg.type == "error" and not any(re.search(a, msg.text) for a in self.allowed):
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def _request(self, request) -> None:
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != self.host:
            self.problems.append(f"request off the server's host: {request.url}")

    def check(self) -> None:
        assert self.problems == [], "\n".join(self.problems)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server):
    opened: list[Tab] = []

    def make(**size) -> Tab:
        t = Tab(browser, server, **size)
        opened.append(t)
        return t

    yield make
    try:
        for t in opened:
            t.check()
    finally:
        for t in opened:
            t.close()


@pytest.fixture(scope="module")
def analysed(browser, server):
    """The sample video uploaded through the page; the page stays open on its result."""
    t = Tab(browser, server)
    page = t.page
    page.goto(server)
    # every status line the page shows, to check the upload's percentage later
    page.evaluate("""() => { window.statuses = []; new MutationObserver(() =>
        window.statuses.push(document.getElementById('status').textContent))
        .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true}); }""")
    page.set_input_files("#file", str(SAMPLE))
    page.click("#go")
    page.wait_for_selector("#utterances li.utt", timeout=ANALYSIS_TIMEOUT_MS)
    job_id = re.search(r"[?&]job=([0-9a-f]+)", page.url).group(1)
    result = get_json(server, f"jobs/{job_id}/result")
    yield {"tab": t, "page": page, "job": job_id, "result": result}
    t.close()


def _current_time(page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def _wait_time_near(page, t: float, tol: float = 0.3) -> None:
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {t}) < {tol}")


def _open_job(t: Tab, job: str) -> None:
    t.page.goto(f"{t.base}?job={job}")
    t.page.wait_for_selector("#utterances li.utt")


def _disagrees(u: dict) -> bool | None:
    """Whether the page must mark the utterance's modalities as disagreeing (None: one
    modality or none, nothing to compare; the page shows no mark)."""
    mods = [m for m in (u.get("modalities") or {}).values() if m.get("emotions")]
    if len(mods) < 2:
        return None
    if "modalities_agree" in u:
        return not u["modalities_agree"]
    return len({m["emotions"][0]["label"] for m in mods}) > 1


# the tests ----------------------------------------------------------------------------------

def test_upload_then_player_transcript_chart_and_modalities(analysed, server):
    page, result, job = analysed["page"], analysed["result"], analysed["job"]
    utts = result["analysis"]["utterances"]
    assert utts, "the sample video has speech"
    statuses = page.evaluate("window.statuses")
    assert any(re.fullmatch(r"uploading… \d+%", s) for s in statuses), statuses
    assert any(s.endswith(": done") for s in statuses), statuses

    # heading: file name, duration, language
    assert page.text_content("#result-title") == "dialogue.mp4"
    meta = page.text_content("#result-meta")
    assert f"{int(result['metadata']['duration'] // 60)}:" in meta and "long" in meta
    assert "English" in meta and f"{len(utts)} utterance" in meta

    # the transcript, one focusable row per utterance
    rows = page.locator("#utterances li.utt")
    assert rows.count() == len(utts)
    assert [r.strip() for r in page.locator("#utterances .text").all_text_contents()] == \
        [u["text"] for u in utts]
    assert all(t == "0" for t in page.eval_on_selector_all("#utterances > li", "els => els.map(e => e.tabIndex + '')"))

    # the player: the job's media, with the WebVTT as captions
    assert page.get_attribute("#player", "src") == f"/jobs/{job}/media"
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    page.wait_for_selector("#player track[kind=captions]", state="attached")
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(
        result["metadata"]["duration"], abs=0.5)

    # clicking a row seeks the player and highlights the row
    last = len(utts) - 1
    rows.nth(last).click()
    _wait_time_near(page, utts[last]["start_time"])
    assert "current" in rows.nth(last).get_attribute("class")
    assert rows.nth(last).get_attribute("aria-current") == "true"
    # and so does Enter on a focused row
    rows.nth(0).focus()
    page.keyboard.press("Enter")
    _wait_time_near(page, utts[0]["start_time"])

    # the chart: one stacked segment per utterance (7 emotions + 3 sentiments), a cursor,
    # a legend; clicking seeks
    assert page.locator("#chart svg g.seg").count() == len(utts)
    assert page.locator("#chart svg g.seg").first.locator("rect").count() == 10
    assert page.locator("#legend li:has(.sw)").count() == 10
    assert "Emotion chart of" in page.get_attribute("#chart svg", "aria-label")
    box = page.locator("#chart svg").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + 20)
    _wait_time_near(page, 0.6 * result["metadata"]["duration"], tol=0.5)
    cursor_x = float(page.get_attribute("#chart svg .cursor", "x1"))
    assert cursor_x == pytest.approx(box["width"] * 0.6, abs=6)

    # per utterance, each modality's distribution and weight; disagreement marked
    for i, u in enumerate(utts):
        row = rows.nth(i)
        modalities = u.get("modalities") or {}
        assert row.locator("details.why").count() == (1 if modalities else 0)
        if modalities:
            row.locator("details.why summary").click()
            items = row.locator("ul.modalities > li")
            assert items.count() == len(modalities)
            assert row.locator("ul.modalities .dist span").count() == 7 * len(modalities)
            weights = row.locator("ul.modalities .mweight").all_text_contents()
            assert weights == [f"weight {round(m['weight'] * 100)}%" for m in modalities.values()]
        disagrees = _disagrees(u)
        assert row.locator(".scores .disagree").count() == (1 if disagrees else 0), u
        if disagrees is False:
            assert row.locator(".scores .agree").count() == 1
    # opening a row's details does not seek
    assert _current_time(page) == pytest.approx(0.6 * result["metadata"]["duration"], abs=0.5)

    # a reload with ?job= shows the same result
    page.reload()
    page.wait_for_selector("#utterances li.utt")
    assert page.url.endswith(f"?job={job}")
    assert page.text_content("#result-title") == "dialogue.mp4"
    assert [r.strip() for r in page.locator("#utterances .text").all_text_contents()] == \
        [u["text"] for u in utts]
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    analysed["tab"].check()


def test_history_lists_jobs_and_deletes_one(analysed, tab, server):
    t = tab()
    page = t.page
    page.goto(server)
    first = page.locator(f"#history tr[data-job='{analysed['job']}']")
    first.wait_for()
    assert "dialogue.mp4" in first.text_content() and "done" in first.text_content()
    duration = analysed["result"]["metadata"]["duration"]
    assert first.locator("td").nth(3).text_content() == f"{int(duration // 60)}:{duration % 60:04.1f}"
    # the same file again: its stored result is reused, so the job is done at once
    page.set_input_files("#file", str(SAMPLE))
    page.click("#go")
    page.wait_for_selector("#utterances li.utt")
    second = re.search(r"job=([0-9a-f]+)", page.url).group(1)
    assert second != analysed["job"]
    row = page.locator(f"#history tr[data-job='{second}']")
    row.wait_for()
    assert "open" in row.get_attribute("class")
    # opening an earlier job from the list
    first.locator("a").click()
    page.wait_for_url(re.compile(f"job={analysed['job']}"))
    page.wait_for_selector("#utterances li.utt")
    # deleting takes two clicks, and clears the view when it is the open job
    row.locator("button").click()
    assert row.locator("button").text_content() == "Delete for good?"
    row.locator("button").click()
    row.wait_for(state="detached")
    assert first.count() == 1
    with pytest.raises(urllib.error.HTTPError) as gone:
        get_json(server, f"jobs/{second}")
    assert gone.value.code == 404
    first.locator("button").click()  # armed, then let it lapse: nothing is deleted
    page.reload()
    page.locator(f"#history tr[data-job='{analysed['job']}']").wait_for()


@pytest.mark.parametrize("name, status", [("not_media.mp4", 415), ("no_audio.mp4", 422)])
def test_a_refused_upload_shows_the_error_and_clears_the_old_result(analysed, tab, name, status):
    t = tab()
    t.allowed.append(rf"status of {status}")  # the browser logs the refused request itself
    page = t.page
    _open_job(t, analysed["job"])
    assert page.is_visible("#result")
    if status == 415:  # dropped on the drop zone, as a user dragging a file from a folder
        data = list((FIXTURES / name).read_bytes())
        page.evaluate("""([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "video/mp4"}));
            const drop = document.getElementById("drop");
            drop.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            drop.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""", [name, data])
        assert name in page.text_content("#drop-text")
    else:
        page.set_input_files("#file", str(FIXTURES / name))
    page.click("#go")
    error = page.locator("#error")
    error.wait_for()
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert error.get_attribute("role") == "alert"
    assert error.text_content().startswith(f"{status}:")
    assert page.is_hidden("#result") and page.locator("#utterances li").count() == 0
    assert "job=" not in page.url
    assert page.text_content("#status") == "The upload was refused."
    assert page.is_enabled("#go")


def test_docs_and_redoc_work_offline(tab, server):
    t = tab()
    page = t.page
    page.goto(server + "docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "emotrace" in page.text_content(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag-section")
    page.goto(server + "redoc")
    page.wait_for_selector("h1:has-text('emotrace')", timeout=60_000)
    assert page.get_by_text("/jobs/{job_id}/media").count() >= 1


def test_sentence_scoring_keeps_the_open_result(analysed, tab):
    t = tab()
    page = t.page
    _open_job(t, analysed["job"])
    n = page.locator("#utterances li.utt").count()
    page.fill("#text", "I can't believe you did that!")
    page.click("#score")
    page.wait_for_selector("#sentence-out li")
    assert page.locator("#sentence-out li").count() == 10
    assert page.locator("#utterances li.utt").count() == n


def _no_horizontal_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


def test_desktop_and_phone_layouts(analysed, tab):
    """Fits a 390-px phone; saves the README's screenshots when EMOTRACE_SCREENSHOTS is set."""
    shots = os.environ.get("EMOTRACE_SCREENSHOTS")
    utts = analysed["result"]["analysis"]["utterances"]
    pick = max(range(len(utts)), key=lambda i: bool(_disagrees(utts[i])))  # one that disagrees, if any

    desk = tab(width=1280, height=780)
    _open_job(desk, analysed["job"])
    desk.page.wait_for_function("document.getElementById('player').readyState >= 2")
    desk.page.locator("#utterances li.utt").nth(pick).click()
    desk.page.locator("#utterances li.utt").nth(pick).locator("details summary").click()
    _no_horizontal_scroll(desk.page)
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        desk.page.evaluate("window.scrollTo(0, document.getElementById('result').offsetTop - 8)")
        desk.page.mouse.move(0, 0)  # no hover highlight in the picture
        desk.page.wait_for_timeout(400)  # the seeked frame
        desk.page.screenshot(path=str(Path(shots) / "web-desktop.png"))

    phone = tab(width=390, height=844)
    _open_job(phone, analysed["job"])
    page = phone.page
    page.wait_for_function("document.getElementById('player').readyState >= 2")
    _no_horizontal_scroll(page)
    chart = page.locator("#chart svg").bounding_box()
    assert chart["width"] <= 390 and chart["x"] >= 0
    rows = page.locator("#utterances li.utt")
    rows.nth(pick).click()
    rows.nth(pick).locator("details summary").click()
    _wait_time_near(page, utts[pick]["start_time"])
    _no_horizontal_scroll(page)
    if shots:
        page.evaluate("window.scrollTo(0, document.getElementById('result').offsetTop - 8)")
        page.wait_for_timeout(400)
        page.screenshot(path=str(Path(shots) / "web-phone.png"))


def test_optional_fields_speakers_agreement_and_no_modalities(analysed, tab):
    """What the page does with fields a result may or may not have: ``speaker``, ``agreement``
    and ``modalities_agree`` shown when present; no ``modalities`` (or no video) breaks nothing."""
    result = json.loads(json.dumps(analysed["result"]))
    utts = result["analysis"]["utterances"]
    assert len(utts) >= 3
    result["metadata"]["has_video"] = False
    for u in utts:  # the analysis names speakers now: only the two set below keep one
        u.pop("speaker", None)
    for key in ("speakers", "speaker_turns"):
        result["metadata"].pop(key, None)
    fused = utts[0]["emotions"]
    other = [{"label": fused[(i + 1) % len(fused)]["label"], "confidence": e["confidence"]}
             for i, e in enumerate(fused)]  # the same numbers, another top label
    utts[0]["modalities"] = {
        "text": {"emotions": fused, "sentiments": utts[0]["sentiments"], "weight": 0.4},
        "audio": {"emotions": other, "sentiments": utts[0]["sentiments"], "weight": 0.6}}
    utts[0].update(speaker="Ann", agreement=0.4, modalities_agree=False)
    utts[2]["modalities"] = {name: {"emotions": utts[2]["emotions"], "sentiments": utts[2]["sentiments"],
                                    "weight": 0.5} for name in ("text", "face")}
    for key in ("modalities", "agreement", "modalities_agree"):
        utts[1].pop(key, None)
    utts[2].update(speaker="Bob", agreement=1.0, modalities_agree=True)
    t = tab()
    t.page.route("**/jobs/*/result?format=json", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(result)))
    _open_job(t, analysed["job"])
    rows = t.page.locator("#utterances li.utt")
    assert rows.nth(0).locator(".speaker").text_content() == "Ann"
    assert rows.nth(2).locator(".speaker").text_content() == "Bob"
    assert rows.nth(1).locator(".speaker").count() == 0
    assert "40% of the weight agrees" in rows.nth(0).locator(".scores .disagree").text_content()
    rows.nth(0).locator("details summary").click()
    assert rows.nth(0).locator("ul.modalities li.off").count() == 1  # the voice, marked
    assert f"says {other[0]['label']}" in rows.nth(0).locator("ul.modalities li.off").text_content()
    assert rows.nth(2).locator(".agree").count() == 1 and rows.nth(2).locator(".disagree").count() == 0
    assert rows.nth(1).locator("details, .disagree, .agree").count() == 0
    assert t.page.evaluate("document.getElementById('player').tagName") == "AUDIO"
    rows.nth(1).click()
    _wait_time_near(t.page, utts[1]["start_time"])


KEY = "web-test-key"


@pytest.fixture(scope="module")
def keyed_server(browser, tmp_path_factory):
    """A server with an API key; the text model alone (a transcript is given, so no ASR)."""
    with serving(tmp_path_factory.mktemp("web-keyed"), "--modalities", "text",
                 env={"EMOTRACE_API_KEYS": KEY}) as base:
        yield base


def test_with_an_api_key_the_page_asks_for_it_and_plays_through_a_token(browser, keyed_server):
    t = Tab(browser, keyed_server)
    t.allowed.append(r"status of 401")  # the refused requests before the key is entered
    page = t.page
    try:
        page.goto(keyed_server)
        page.wait_for_function("document.getElementById('history-error').textContent.includes('401')")
        page.set_input_files("#file", str(SAMPLE))
        page.click("#go")
        page.wait_for_function("document.getElementById('error').textContent.includes('401')")
        assert "API key" in page.text_content("#error")
        page.click(".options summary")
        page.fill("#key", KEY)
        page.fill("#transcript", "Hello there, everybody.")
        page.fill("#num-speakers", "2")
        page.click("#go")
        page.wait_for_selector("#utterances li.utt")
        assert page.text_content("#error") == ""
        job = json.loads(urllib.request.urlopen(urllib.request.Request(
            keyed_server.rstrip("/") + "/jobs?limit=1", headers={"X-API-Key": KEY})).read())["jobs"][0]
        assert job["options"]["speakers"] == 2  # the form's number of speakers reached the job
        src = page.get_attribute("#player", "src")
        assert re.fullmatch(r"/jobs/[0-9a-f]+/media\?token=\d+\.[0-9a-f]+", src), src
        page.wait_for_function("document.getElementById('player').readyState >= 1")
        page.wait_for_selector("#player track[kind=captions]", state="attached")
        # the key stays in this browser: a reload shows the job again
        page.reload()
        page.wait_for_selector("#utterances li.utt")
        assert page.input_value("#key") == KEY
        page.wait_for_function("document.getElementById('player').readyState >= 1")
        t.check()
    finally:
        t.close()

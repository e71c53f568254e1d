// emotrace web page: upload, job progress, a player with the transcript and an emotion chart
// that follow it, per-modality scores, and the job history. Plain JavaScript, no build step and
// nothing loaded from another host (ES modules: util.js, chart.js). Every URL is relative to the
// page, so the service also works behind a proxy under a path prefix.

import { drawChart, drawLegend } from "./chart.js";
import { EMOTIONS, MODALITY_NAMES, byLabel, clock, color, el, language, meter, pct, seconds, when } from "./util.js";

const $ = (id) => document.getElementById(id);
const state = { job: null, result: null, media: null, current: -1, generation: 0, blobs: [], chart: null, speakers: false };

// ---- HTTP ----------------------------------------------------------------------------------

function keyHeaders() {
  const key = $("key").value.trim();
  localStorage.setItem("emotrace-key", key);
  return key ? { "X-API-Key": key } : {};
}

function httpError(status, statusText, body) {
  let detail = statusText;
  try { detail = JSON.parse(body).detail; } catch (e) { /* not JSON */ }
  if (typeof detail !== "string") detail = JSON.stringify(detail);
  const hint = status === 401 ? "\nThis server needs an API key: enter it under Options." : "";
  const err = new Error(`${status}: ${detail}${hint}`);
  err.status = status;
  return err;
}

async function call(url, options = {}) {
  const r = await fetch(url, { ...options, headers: { ...keyHeaders(), ...(options.headers || {}) } });
  if (!r.ok) throw httpError(r.status, r.statusText, await r.text());
  return r;
}

/** POST a form with upload progress (fetch cannot report it); resolves to the JSON answer. */
function postWithProgress(url, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    for (const [k, v] of Object.entries(keyHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try { resolve(JSON.parse(xhr.responseText)); } catch (e) { reject(e); }
      } else reject(httpError(xhr.status, xhr.statusText, xhr.responseText));
    };
    xhr.onerror = () => reject(new Error("the upload failed: the server could not be reached"));
    xhr.send(form);
  });
}

// ---- status, errors, URL -------------------------------------------------------------------

function setStatus(text, fraction = null) {
  $("status").textContent = text;
  $("progress").hidden = fraction === null;
  if (fraction !== null) $("progress").value = fraction;
}

function showError(e) {
  $("error").textContent = e ? e.message || String(e) : "";
}

function setUrl(jobId, push) {
  const url = new URL(location.href);
  if (jobId) url.searchParams.set("job", jobId); else url.searchParams.delete("job");
  if (url.href === location.href) return;
  history[push ? "pushState" : "replaceState"]({ job: jobId }, "", url);
}

// ---- the result view -----------------------------------------------------------------------

function clearResult() {
  state.generation += 1;  // stale polls and fetches of the previous job stop here
  if (state.media) { state.media.pause(); state.media.removeAttribute("src"); state.media.load(); }
  state.media = null;
  state.job = null;
  state.result = null;
  state.current = -1;
  for (const url of state.blobs) URL.revokeObjectURL(url);
  state.blobs = [];
  $("result").hidden = true;
  $("player-box").replaceChildren();
  $("chart").replaceChildren();
  $("utterances").replaceChildren();
  $("speakers").hidden = true;
  $("speaker-table").tBodies[0].replaceChildren();
  markOpenInHistory();
}

/** The agreement fields if the analysis has them, else worked out from the modalities. */
function agreementOf(u) {
  const fusedTop = u.emotions[0].label;
  const mods = Object.entries(u.modalities || {}).filter(([, m]) => m && m.emotions && m.emotions.length);
  let share = typeof u.agreement === "number" ? u.agreement : null;
  let agree = typeof u.modalities_agree === "boolean" ? u.modalities_agree : null;
  if (mods.length) {
    const tops = mods.map(([, m]) => m.emotions[0].label);
    if (agree === null) agree = tops.every((t) => t === tops[0]);
    if (share === null) {
      const total = mods.reduce((s, [, m]) => s + (m.weight || 0), 0);
      const same = mods.reduce((s, [, m]) => s + (m.emotions[0].label === fusedTop ? m.weight || 0 : 0), 0);
      share = total > 0 ? same / total : null;
    }
  }
  return { agree, share, count: mods.length };
}

function modalityList(u) {
  const fusedTop = u.emotions[0].label;
  const items = Object.entries(u.modalities || {}).map(([name, m]) => {
    const probs = byLabel(m.emotions);
    const top = m.emotions[0];
    const off = top.label !== fusedTop;
    const dist = el("span", { class: "dist", role: "img",
      "aria-label": `all emotions: ${m.emotions.map((i) => `${i.label} ${pct(i.confidence)}`).join(", ")}` },
    ...EMOTIONS.map((label) => el("span", { style: `width:${(probs[label] * 100).toFixed(2)}%;--c:${color(label)}`,
      title: `${label} ${pct(probs[label])}` })));
    const sent = m.sentiments && m.sentiments[0];
    return el("li", { class: off ? "off" : "" },
      el("span", { class: "mname" }, MODALITY_NAMES[name] || name),
      el("span", { class: "mweight" }, `weight ${pct(m.weight || 0)}`),
      el("span", { class: "chip mtop" }, el("span", { class: "sw", style: `--c:${color(top.label)}`, "aria-hidden": "true" }),
        `${top.label} ${pct(top.confidence)}`),
      dist,
      sent ? el("span", { class: "msent" }, `${sent.label} ${pct(sent.confidence)}`) : null,
      off ? el("span", { class: "disagree" }, `⚠ says ${top.label}, not ${fusedTop}`) : null);
  });
  return el("ul", { class: "modalities" }, ...items);
}

function utteranceRow(u, i) {
  const top = u.emotions[0];
  const sent = u.sentiments[0];
  const { agree, share, count } = agreementOf(u);
  const scores = el("div", { class: "scores" },
    el("span", { class: "chip" }, meter(top.confidence, color(top.label)),
      el("span", { class: "sw", style: `--c:${color(top.label)}`, "aria-hidden": "true" }),
      `${top.label} ${pct(top.confidence)}`),
    el("span", { class: "chip" }, meter(sent.confidence, color(sent.label, "sentiment")),
      `${sent.label} ${pct(sent.confidence)}`));
  if (count > 1 && agree === false) {
    const says = Object.entries(u.modalities).map(([n, m]) => `${MODALITY_NAMES[n] || n}: ${m.emotions[0].label}`).join(", ");
    scores.append(el("span", { class: "disagree", title: says },
      `⚠ modalities disagree${share !== null ? ` (${pct(share)} of the weight agrees)` : ""}`));
  } else if (count > 1 && agree) {
    scores.append(el("span", { class: "agree" }, "✓ all modalities agree"));
  }
  // the speaker when the result has two or more (with one, "1 speaker" in the heading says it)
  const who = state.speakers && u.speaker !== undefined && u.speaker !== null && u.speaker !== "" ? String(u.speaker) : null;
  const row = el("li", { class: "utt", tabindex: "0", "data-index": String(i), style: `--c:${color(top.label)}`,
    "aria-label": `${who ? `${who}, ` : ""}${clock(u.start_time)} to ${clock(u.end_time)}: ${(u.text || "").replace(/[.!?]+$/, "")}. ${top.label} ${pct(top.confidence)}, ${sent.label}` },
  el("div", { class: "utt-top" },
    el("span", { class: "time" }, `${clock(u.start_time)}–${clock(u.end_time)}`),
    who ? el("span", { class: "speaker" }, who) : null,
    el("span", { class: "text" }, u.text || "(no words)")),
  scores);
  if (count) {
    row.append(el("details", { class: "why" },
      el("summary", {}, `Per modality: ${Object.entries(u.modalities).map(([n, m]) => `${MODALITY_NAMES[n] || n} ${pct(m.weight || 0)}`).join(" · ")}`),
      modalityList(u)));
  }
  row.addEventListener("click", (e) => { if (!e.target.closest("details")) seek(u.start_time); });
  row.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target === row) { e.preventDefault(); seek(u.start_time); }
  });
  return row;
}

function seek(t) {
  if (state.media) {
    state.media.currentTime = t + 0.001;  // just inside the utterance
  }
  follow(t);
}

/** Highlight the utterance at time t (the last one started before it) and move the chart cursor. */
function follow(t) {
  const utts = state.result ? state.result.analysis.utterances : [];
  let index = -1;
  for (let i = 0; i < utts.length; i++) {
    if (utts[i].start_time <= t + 1e-3) index = i; else break;
  }
  if (index >= 0 && t > utts[index].end_time + 0.75) index = -1;  // in a pause
  if (index !== state.current) {
    const rows = $("utterances").children;
    if (state.current >= 0 && rows[state.current]) {
      rows[state.current].classList.remove("current");
      rows[state.current].removeAttribute("aria-current");
    }
    if (index >= 0 && rows[index]) {
      rows[index].classList.add("current");
      rows[index].setAttribute("aria-current", "true");
      scrollIntoPanel(rows[index]);
    }
    state.current = index;
    if (state.chart) state.chart.highlight(index);
  }
  if (state.chart) state.chart.cursor(t);
}

function scrollIntoPanel(row) {
  const box = row.closest(".transcript-box");
  if (!box || box.scrollHeight <= box.clientHeight) return;  // not a scrolling panel (phone)
  const top = row.offsetTop - box.offsetTop;
  if (top < box.scrollTop || top + row.offsetHeight > box.scrollTop + box.clientHeight) {
    box.scrollTop = Math.max(0, top - box.clientHeight / 3);
  }
}

// ---- speakers ------------------------------------------------------------------------------

const mean = (list, key) => {
  const out = {};
  for (const u of list) for (const i of u[key]) out[i.label] = (out[i.label] || 0) + i.confidence / list.length;
  return out;
};

/**
 * The result's speakers, in order: `metadata.speakers` where the analysis gave it, else worked
 * out from the utterances' `speaker` fields. Each is {id, label, talk_time, utterances, emotions,
 * sentiments} (means as {label: p}); `none` counts the utterances without a speaker.
 */
function speakersOf(result) {
  const utts = result.analysis.utterances;
  const given = (result.metadata || {}).speakers || {};
  const ids = Object.keys(given);
  for (const u of utts) if (u.speaker && !ids.includes(String(u.speaker))) ids.push(String(u.speaker));
  const list = ids.map((id) => {
    const own = utts.filter((u) => String(u.speaker) === id);
    const g = given[id] || {};
    return {
      id, label: id,
      talk_time: typeof g.talk_time === "number" ? g.talk_time : own.reduce((s, u) => s + u.end_time - u.start_time, 0),
      utterances: typeof g.utterances === "number" ? g.utterances : own.length,
      emotions: g.emotions || (own.length ? mean(own, "emotions") : {}),
      sentiments: g.sentiments || (own.length ? mean(own, "sentiments") : {}),
    };
  });
  return { list, none: utts.filter((u) => !u.speaker).length };
}

/** The top label of a {label: p} mapping, as {label, confidence}, or null. */
function topOf(probs) {
  const best = Object.entries(probs || {}).sort((a, b) => b[1] - a[1])[0];
  return best ? { label: best[0], confidence: best[1] } : null;
}

/** Play (or, with no player, mark) the speaker's first utterance after the playhead, then round again. */
function nextOf(id) {
  const utts = state.result ? state.result.analysis.utterances : [];
  const now = state.media ? state.media.currentTime : 0;
  const own = utts.filter((u) => String(u.speaker) === id);
  const next = own.find((u) => u.start_time > now + 0.05) || own[0];
  if (next) seek(next.start_time);
}

function showSpeakers(speakers) {
  const total = speakers.list.reduce((s, p) => s + p.talk_time, 0);
  const rows = speakers.list.map((p) => {
    const top = topOf(p.emotions);
    const sent = topOf(p.sentiments);
    const go = el("button", { type: "button", class: "link who", title: `Play from ${p.label}'s next utterance`,
      "aria-label": `${p.label}: play from the next utterance` }, p.label);
    go.addEventListener("click", () => nextOf(p.id));
    const dist = el("span", { class: "dist", role: "img",
      "aria-label": `mean emotions: ${EMOTIONS.map((l) => `${l} ${pct(p.emotions[l] || 0)}`).join(", ")}` },
    ...EMOTIONS.map((l) => el("span", { style: `width:${((p.emotions[l] || 0) * 100).toFixed(2)}%;--c:${color(l)}`,
      title: `${l} ${pct(p.emotions[l] || 0)}` })));
    return el("tr", { "data-speaker": p.id },
      el("th", { scope: "row" }, go),
      el("td", { class: "num" }, seconds(p.talk_time), el("span", { class: "unit" }, " of talk"), total > 0 ? el("span", { class: "muted" }, ` (${pct(p.talk_time / total)})`) : null),
      el("td", { class: "num" }, String(p.utterances), el("span", { class: "unit" }, ` utterance${p.utterances === 1 ? "" : "s"}`)),
      el("td", {}, top ? el("span", { class: "chip" },
        el("span", { class: "sw", style: `--c:${color(top.label)}`, "aria-hidden": "true" }),
        `${top.label} ${pct(top.confidence)}`, dist) : "—"),
      el("td", {}, sent ? el("span", { class: "chip" }, meter(sent.confidence, color(sent.label, "sentiment")),
        `${sent.label} ${pct(sent.confidence)}`) : "—"));
  });
  $("speaker-table").tBodies[0].replaceChildren(...rows);
  $("speakers").hidden = false;
}

// ---- showing a job's result ----------------------------------------------------------------

async function attachCaptions(media, jobId, lang, generation) {
  try {
    const vtt = await (await call(`jobs/${jobId}/result?format=vtt`)).blob();
    if (generation !== state.generation) return;
    const url = URL.createObjectURL(vtt);
    state.blobs.push(url);
    media.append(el("track", { kind: "captions", src: url, srclang: lang || "en", label: "Transcript", default: true }));
  } catch (e) { /* captions are a nicety: the transcript is beside the player */ }
}

function showResult(job, result, generation) {
  state.job = job;
  state.result = result;
  const meta = result.metadata || {};
  const utts = result.analysis.utterances;
  const duration = meta.duration || (utts.length ? utts[utts.length - 1].end_time : 0);
  const speakers = speakersOf(result);
  const many = speakers.list.length >= 2;
  state.speakers = many;
  $("result-title").textContent = job.filename || "(unnamed file)";
  $("result-meta").textContent = [
    duration ? `${clock(duration)} long` : null, language(meta.language), `${utts.length} utterance${utts.length === 1 ? "" : "s"}`,
    speakers.list.length ? `${speakers.list.length} speaker${many ? "s" : ""}` : null,
    (meta.modalities || []).length ? `from ${meta.modalities.map((m) => MODALITY_NAMES[m] || m).join(", ")}` : null,
    job.finished_at ? `analysed ${when(job.finished_at)}` : null, job.reused ? "(stored result reused)" : null,
  ].filter(Boolean).join(" · ");

  const box = $("player-box");
  if (job.media_url) {
    const video = meta.has_video !== false && !/\.(wav|mp3|m4a|aac|flac|ogg|oga|opus|weba)$/i.test(job.filename || "");
    const media = el(video ? "video" : "audio", { id: "player", controls: true, preload: "metadata", playsInline: true,
      src: job.media_url });
    media.addEventListener("timeupdate", () => follow(media.currentTime));
    media.addEventListener("seeked", () => follow(media.currentTime));
    const tick = () => { if (!media.paused && state.media === media) { follow(media.currentTime); requestAnimationFrame(tick); } };
    media.addEventListener("play", () => requestAnimationFrame(tick));
    box.replaceChildren(media);
    state.media = media;
    attachCaptions(media, job.id, meta.language, generation);
  } else {
    box.replaceChildren(el("p", { class: "note muted" }, "The uploaded file is no longer kept, so it cannot be played; the timeline is below."));
  }

  $("no-utterances").textContent = utts.length ? "" : `No utterances${meta.reason ? `: ${meta.reason}` : "."}`;
  $("no-utterances").hidden = utts.length > 0;
  $("utterances").replaceChildren(...utts.map(utteranceRow));
  $("result").hidden = false;  // visible before drawing, so the chart can measure its width
  if (state.chart) state.chart.destroy();
  const lanes = many ? speakers.list.map((p) => ({ id: p.id, label: p.label, talk_time: p.talk_time })) : null;
  if (lanes && speakers.none) lanes.push({ id: "", label: "no speaker", talk_time: 0 });
  $("chart-caption").textContent = many
    ? "One lane per speaker: emotions over time (stacked, per utterance) and sentiment; click to seek."
    : "Emotions over time (stacked, per utterance) and sentiment; click to seek.";
  state.chart = drawChart($("chart"), utts, duration, seek, lanes);
  if (many) showSpeakers(speakers); else $("speakers").hidden = true;
  drawLegend($("legend"));
  follow(0);
  markOpenInHistory();
}

/** Open a job: show its progress until it is done, then its result. */
async function openJob(jobId, { push = false } = {}) {
  clearResult();
  showError(null);
  setUrl(jobId, push);
  const generation = state.generation;
  try {
    for (;;) {
      const job = await (await call(`jobs/${jobId}`)).json();
      if (generation !== state.generation) return;
      const p = job.progress;
      if (job.status === "failed") {
        setStatus(`${job.filename}: failed`);
        throw new Error(job.error || "the analysis failed");
      }
      if (job.status === "done") {
        const result = await (await call(`jobs/${jobId}/result?format=json`)).json();
        if (generation !== state.generation) return;
        setStatus(`${job.filename}: done`);
        showResult(job, result, generation);
        return;
      }
      setStatus(`${job.filename}: ${job.status}${p.stage ? ` — ${p.stage} ${pct(p.fraction)}` : ""}`, p.fraction);
      await new Promise((r) => setTimeout(r, 700));
      if (generation !== state.generation) return;
    }
  } catch (e) {
    if (generation !== state.generation) return;
    setStatus("");
    showError(e);
    if (e.status === 404) setUrl(null, false);
  } finally {
    if (generation === state.generation) loadHistory();
  }
}

// ---- upload --------------------------------------------------------------------------------

function chosen(file) {
  $("drop-text").textContent = file ? `${file.name} (${(file.size / 1048576).toFixed(1)} MB) — Analyse, or drop another` : "Drop a file here, or choose one";
}

async function analyse() {
  const file = $("file").files[0];
  showError(null);
  if (!file) { showError(new Error("Choose a file first.")); return; }
  clearResult();
  setUrl(null, false);
  const form = new FormData();
  form.append("file", file);
  const transcript = $("transcript").value.trim();
  if (transcript) form.append("text", transcript);
  const speakers = $("num-speakers").value.trim();
  if (speakers) form.append("speakers", speakers);
  $("go").disabled = true;
  setStatus("uploading… 0%", 0);
  try {
    const created = await postWithProgress("jobs", form, (f) => setStatus(`uploading… ${pct(f)}`, f));
    $("go").disabled = false;
    await openJob(created.id, { push: true });
  } catch (e) {
    setStatus("The upload was refused.");
    showError(e);
    loadHistory();
  } finally {
    $("go").disabled = false;
  }
}

function setUpDrop() {
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) {
      $("file").files = e.dataTransfer.files;
      chosen($("file").files[0]);
    }
  });
  $("file").addEventListener("change", () => chosen($("file").files[0]));
}

// ---- history -------------------------------------------------------------------------------

function markOpenInHistory() {
  const open = state.job ? state.job.id : new URL(location.href).searchParams.get("job");
  for (const row of $("history").tBodies[0].rows) row.classList.toggle("open", row.dataset.job === open);
}

async function loadHistory() {
  try {
    const page = await (await call("jobs?limit=50")).json();
    $("history-error").textContent = "";
    const rows = page.jobs.map((job) => {
      const took = job.finished_at && job.started_at ? `${Math.max(0, job.finished_at - job.started_at).toFixed(1)} s`
        : job.reused ? "reused" : "";
      const del = el("button", { type: "button", class: "link danger", "aria-label": `Delete ${job.filename}` }, "Delete");
      del.addEventListener("click", () => deleteJob(job, del));
      const link = el("a", { href: `?job=${encodeURIComponent(job.id)}` }, job.filename || job.id);
      link.addEventListener("click", (e) => { e.preventDefault(); openJob(job.id, { push: true }); });
      return el("tr", { "data-job": job.id },
        el("td", { class: "file" }, link),
        el("td", { title: when(job.created_at) }, when(job.created_at, "short")),
        el("td", { class: `status-${job.status}` }, job.status),
        el("td", { class: "num" }, typeof job.duration === "number" ? clock(job.duration) : ""),
        el("td", { class: "num" }, took), el("td", { class: "act" }, del));
    });
    $("history").tBodies[0].replaceChildren(...rows);
    $("history").hidden = rows.length === 0;
    $("history-empty").hidden = rows.length > 0;
    $("history-empty").textContent = rows.length ? "" : "None yet.";
    markOpenInHistory();
  } catch (e) {
    $("history-error").textContent = `The list of jobs could not be loaded: ${e.message}`;
  }
}

async function deleteJob(job, button) {
  if (button.dataset.armed !== "1") {  // two clicks: no accidental loss, no blocking dialog
    button.dataset.armed = "1";
    button.textContent = "Delete for good?";
    setTimeout(() => { button.dataset.armed = ""; button.textContent = "Delete"; }, 5000);
    return;
  }
  try {
    await call(`jobs/${job.id}`, { method: "DELETE" });
    if (state.job && state.job.id === job.id || new URL(location.href).searchParams.get("job") === job.id) {
      clearResult();
      setUrl(null, false);
      setStatus(`${job.filename}: deleted`);
    }
  } catch (e) {
    $("history-error").textContent = `Could not delete ${job.filename}: ${e.message}`;
  }
  loadHistory();
}

// ---- one sentence --------------------------------------------------------------------------

function rankedList(title, items, kind) {
  return el("div", {}, el("h3", {}, title), el("ol", {}, ...items.map((i) =>
    el("li", {}, meter(i.confidence, color(i.label, kind)), `${i.label} ${pct(i.confidence)}`))));
}

async function scoreSentence() {
  const text = $("text").value.trim();
  $("sentence-error").textContent = "";
  if (!text) { $("sentence-error").textContent = "Write a sentence first."; return; }
  $("score").disabled = true;
  try {
    const scores = await (await call("predict_text", { method: "POST", body: new URLSearchParams({ text }) })).json();
    $("sentence-out").replaceChildren(rankedList("Emotion", scores.emotions, "emotion"),
      rankedList("Sentiment", scores.sentiments, "sentiment"));
  } catch (e) {
    $("sentence-out").replaceChildren();
    $("sentence-error").textContent = e.message;
  } finally {
    $("score").disabled = false;
  }
}

// ---- downloads and start-up ----------------------------------------------------------------

for (const a of document.querySelectorAll("#downloads a")) {
  a.addEventListener("click", async (event) => {
    event.preventDefault();
    if (!state.job) return;
    const id = state.job.id;
    try {
      const blob = await (await call(`jobs/${id}/result?format=${a.dataset.format}`)).blob();
      const link = el("a", { href: URL.createObjectURL(blob), download: `${id}.${a.dataset.format}` });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (e) { showError(e); }
  });
}

$("key").value = localStorage.getItem("emotrace-key") || "";
$("go").addEventListener("click", analyse);
$("score").addEventListener("click", scoreSentence);
setUpDrop();
window.addEventListener("popstate", () => {
  const id = new URL(location.href).searchParams.get("job");
  if (id) openJob(id); else { clearResult(); setStatus(""); }
});
const initial = new URL(location.href).searchParams.get("job");
loadHistory();
if (initial) openJob(initial);

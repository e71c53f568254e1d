// The emotion-over-time chart: plain SVG, one stacked segment per utterance and a sentiment band;
// with two or more speakers, one such lane per speaker, labelled with its name and talk time.

import { EMOTIONS, SENTIMENTS, byLabel, clock, color, el, pct, seconds, svg } from "./util.js";

const AXIS = 18;

/**
 * The rows of the chart: one (the whole timeline) without lanes, else one per speaker. Each row
 * is {top, h (the emotion stack), gap, band (the sentiment band), bottom}.
 */
function layout(lanes) {
  if (!lanes) return [{ top: 0, h: 130, gap: 6, band: 14, bottom: 150 }];
  const n = lanes.length;
  const h = n <= 2 ? 58 : n <= 4 ? 42 : 30, gap = 3, band = 8, space = 8;
  return lanes.map((lane, i) => {
    const top = i * (h + gap + band + space);
    return { ...lane, top, h, gap, band, bottom: top + h + gap + band };
  });
}

/**
 * Draw the emotion chart of `utterances` into `container` (redrawn when its width changes).
 * `onSeek(t)` is called with the time clicked; the returned object moves the playhead cursor
 * (`cursor(t)`), marks an utterance (`highlight(i)`) and stops watching the size (`destroy()`).
 * `lanes`, when given (two or more), is `[{id, label, talk_time}]`: each utterance is drawn in
 * the lane whose `id` is its `speaker` (`""` for none), under a left margin with the labels.
 */
export function drawChart(container, utterances, duration, onSeek, lanes = null) {
  if (lanes && lanes.length < 2) lanes = null;
  const rows = layout(lanes);
  const plot = rows[rows.length - 1].bottom;
  const height = plot + AXIS;
  const left = lanes ? 66 : 0;  // the lane labels' margin; times start right of it
  const rowOf = (u) => (lanes ? rows.find((r) => r.id === (u.speaker || "")) || rows[rows.length - 1] : rows[0]);
  const root = svg("svg", { height, role: "img" });
  const said = (list) => list.map((u) => `${clock(u.start_time)} ${u.emotions[0].label}`).join(", ");
  let summary = "no utterances";
  if (utterances.length && lanes) {
    summary = `Emotion chart of ${utterances.length} utterances over ${clock(duration)}, one lane per speaker: ` +
      rows.map((r) => `${r.label}${r.talk_time ? ` (${seconds(r.talk_time)} of talk)` : ""}: ` +
        (said(utterances.filter((u) => rowOf(u) === r)) || "nothing")).join("; ");
  } else if (utterances.length) {
    summary = `Emotion chart of ${utterances.length} utterances over ${clock(duration)}: ${said(utterances)}`;
  }
  root.setAttribute("aria-label", summary);
  container.replaceChildren(root);
  container.classList.toggle("lanes", Boolean(lanes));
  const segs = [];
  const cursorLine = svg("line", { class: "cursor", y1: 0, y2: plot, x1: left, x2: left });
  let width = 0, marked = -1, now = 0;

  function render() {
    width = container.clientWidth || 600;
    root.setAttribute("width", width);
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    root.replaceChildren();
    segs.length = 0;
    const span = Math.max(1, width - left);
    const x = (t) => left + (duration > 0 ? (t / duration) * span : 0);
    const groups = rows.map((r) => {
      const g = svg("g", lanes ? { class: "lane", "data-speaker": r.id } : {});
      g.append(svg("rect", { class: "gap", x: left, y: r.top, width: span, height: r.h }));
      if (lanes) {
        const label = svg("text", { class: "lane-name", x: 2, y: r.top + 14 });
        label.textContent = r.label;
        g.append(label);
        if (r.talk_time) {  // every lane is at least 41 px high: room for two lines
          const talk = svg("text", { class: "lane-talk", x: 2, y: r.top + 29 });
          talk.textContent = seconds(r.talk_time);
          g.append(talk);
        }
      }
      root.append(g);
      return g;
    });
    for (const u of utterances) {
      const r = rowOf(u);
      const g = svg("g", { class: "seg" });
      const x0 = x(u.start_time), w = Math.max(1.5, x(u.end_time) - x0);
      const title = svg("title");
      title.textContent = `${u.speaker ? `${u.speaker}, ` : ""}${clock(u.start_time)}–${clock(u.end_time)} “${u.text}”\n` +
        u.emotions.map((e) => `${e.label} ${pct(e.confidence)}`).join(", ") + `\nsentiment: ` +
        u.sentiments.map((s) => `${s.label} ${pct(s.confidence)}`).join(", ");
      g.append(title);
      const probs = byLabel(u.emotions);
      let y = r.top + r.h;
      for (const label of EMOTIONS) {  // the same order in every utterance: bands line up
        const h = (probs[label] || 0) * r.h;
        y -= h;
        g.append(svg("rect", { x: x0, y, width: w, height: h, fill: color(label) }));
      }
      const sp = byLabel(u.sentiments);
      let sx = x0;
      for (const label of SENTIMENTS) {  // the band: each sentiment's share of the span
        const sw = (sp[label] || 0) * w;
        g.append(svg("rect", { x: sx, y: r.top + r.h + r.gap, width: sw, height: r.band, fill: color(label, "sentiment") }));
        sx += sw;
      }
      groups[rows.indexOf(r)].append(g);
      segs.push(g);
    }
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800].find((s) => duration / s <= Math.max(2, span / 80)) || 3600;
    for (let t = 0; t <= duration + 1e-6; t += step) {
      const tx = x(t);
      root.append(svg("line", { x1: tx, x2: tx, y1: plot, y2: plot + 4, stroke: "#8c959f" }));
      const label = svg("text", { class: "axis", x: Math.min(Math.max(tx, left + 2), width - 2), y: height - 3,
        "text-anchor": tx < left + 10 ? "start" : tx > width - 20 ? "end" : "middle" });
      label.textContent = clock(t).replace(/\.0$/, "");
      root.append(label);
    }
    root.append(cursorLine);
    api.highlight(marked);
    api.cursor(now);
  }

  const api = {
    cursor(t) {
      now = t;
      const cx = left + (duration > 0 ? Math.min(1, Math.max(0, t / duration)) * Math.max(1, width - left) : 0);
      cursorLine.setAttribute("x1", cx);
      cursorLine.setAttribute("x2", cx);
    },
    highlight(index) {
      marked = index;
      segs.forEach((g, i) => g.classList.toggle("current", i === index));
      for (const lane of root.querySelectorAll("g.lane")) lane.classList.toggle("current", lane.contains(segs[index] || null));
    },
    destroy() { observer.disconnect(); },
  };
  root.addEventListener("click", (e) => {
    const box = root.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * width;
    onSeek(Math.max(0, Math.min(duration, ((px - left) / Math.max(1, width - left)) * duration)));
  });
  const observer = new ResizeObserver(() => { if (container.clientWidth !== width) render(); });
  observer.observe(container);
  render();
  return api;
}

/** The colour key: the 7 emotions, then the 3 sentiments, into the list `list`. */
export function drawLegend(list) {
  const items = EMOTIONS.map((l) => el("li", {}, el("span", { class: "sw", style: `--c:${color(l)}` }), l));
  items.unshift(el("li", { class: "sep" }, "emotion:"));
  items.push(el("li", { class: "break", "aria-hidden": "true" }), el("li", { class: "sep" }, "sentiment:"));
  for (const l of SENTIMENTS) items.push(el("li", {}, el("span", { class: "sw", style: `--c:${color(l, "sentiment")}` }), l));
  list.replaceChildren(...items);
}

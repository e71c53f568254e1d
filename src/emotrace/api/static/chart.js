// The emotion-over-time chart: plain SVG, one stacked segment per utterance and a sentiment band.

import { EMOTIONS, SENTIMENTS, byLabel, clock, color, el, pct, svg } from "./util.js";

/**
 * Draw the emotion chart of `utterances` into `container` (redrawn when its width changes).
 * `onSeek(t)` is called with the time clicked; the returned object moves the playhead cursor
 * (`cursor(t)`), marks an utterance (`highlight(i)`) and stops watching the size (`destroy()`).
 */
export function drawChart(container, utterances, duration, onSeek) {
  const H = 130, GAP = 6, BAND = 14, AXIS = 18, height = H + GAP + BAND + AXIS;
  const root = svg("svg", { height, role: "img" });
  const summary = utterances.length
    ? `Emotion chart of ${utterances.length} utterances over ${clock(duration)}: ` +
      utterances.map((u) => `${clock(u.start_time)} ${u.emotions[0].label}`).join(", ")
    : "no utterances";
  root.setAttribute("aria-label", summary);
  container.replaceChildren(root);
  const segs = [];
  const cursorLine = svg("line", { class: "cursor", y1: 0, y2: H + GAP + BAND, x1: 0, x2: 0 });
  let width = 0, marked = -1, now = 0;

  function render() {
    width = container.clientWidth || 600;
    root.setAttribute("width", width);
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    root.replaceChildren();
    segs.length = 0;
    const x = (t) => (duration > 0 ? (t / duration) * width : 0);
    root.append(svg("rect", { class: "gap", x: 0, y: 0, width, height: H }));
    for (const u of utterances) {
      const g = svg("g", { class: "seg" });
      const x0 = x(u.start_time), w = Math.max(1.5, x(u.end_time) - x0);
      const title = svg("title");
      title.textContent = `${clock(u.start_time)}–${clock(u.end_time)} “${u.text}”\n` +
        u.emotions.map((e) => `${e.label} ${pct(e.confidence)}`).join(", ") + `\nsentiment: ` +
        u.sentiments.map((s) => `${s.label} ${pct(s.confidence)}`).join(", ");
      g.append(title);
      const probs = byLabel(u.emotions);
      let y = H;
      for (const label of EMOTIONS) {  // the same order in every utterance: bands line up
        const h = (probs[label] || 0) * H;
        y -= h;
        g.append(svg("rect", { x: x0, y, width: w, height: h, fill: color(label) }));
      }
      const sp = byLabel(u.sentiments);
      let sx = x0;
      for (const label of SENTIMENTS) {  // the band: each sentiment's share of the span
        const sw = (sp[label] || 0) * w;
        g.append(svg("rect", { x: sx, y: H + GAP, width: sw, height: BAND, fill: color(label, "sentiment") }));
        sx += sw;
      }
      root.append(g);
      segs.push(g);
    }
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800].find((s) => duration / s <= Math.max(2, width / 80)) || 3600;
    for (let t = 0; t <= duration + 1e-6; t += step) {
      const tx = x(t);
      root.append(svg("line", { x1: tx, x2: tx, y1: H + GAP + BAND, y2: H + GAP + BAND + 4, stroke: "#8c959f" }));
      const label = svg("text", { class: "axis", x: Math.min(Math.max(tx, 2), width - 2), y: height - 3,
        "text-anchor": tx < 10 ? "start" : tx > width - 20 ? "end" : "middle" });
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
      const cx = duration > 0 ? Math.min(width, Math.max(0, (t / duration) * width)) : 0;
      cursorLine.setAttribute("x1", cx);
      cursorLine.setAttribute("x2", cx);
    },
    highlight(index) { marked = index; segs.forEach((g, i) => g.classList.toggle("current", i === index)); },
    destroy() { observer.disconnect(); },
  };
  root.addEventListener("click", (e) => {
    const box = root.getBoundingClientRect();
    onSeek(Math.max(0, Math.min(duration, ((e.clientX - box.left) / box.width) * duration)));
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

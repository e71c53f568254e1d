// Shared by the page's modules: labels, their colours, formatting and DOM helpers.

export const EMOTIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"];
export const SENTIMENTS = ["negative", "neutral", "positive"];
export const MODALITY_NAMES = { text: "words", audio: "voice", face: "face" };
const CSS = getComputedStyle(document.documentElement);
export const color = (label, kind = "emotion") =>
  CSS.getPropertyValue(`--${kind === "sentiment" && label === "neutral" ? "sent-neutral" : label}`).trim() || "#999";

// ---- small helpers -----------------------------------------------------------------------

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

export function clock(s) {
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
}

export const pct = (p) => `${Math.round(p * 100)}%`;

export function language(code) {
  if (!code) return "";
  try { return new Intl.DisplayNames(["en"], { type: "language" }).of(code); } catch (e) { return code; }
}

export function when(unix, dateStyle = "medium") {
  return unix ? new Date(unix * 1000).toLocaleString(undefined, { dateStyle, timeStyle: "short" }) : "";
}

export function meter(p, c) {
  return el("span", { class: "meter", "aria-hidden": "true" }, el("span", { style: `width:${(p * 100).toFixed(1)}%;--c:${c}` }));
}

export function byLabel(items) { return Object.fromEntries((items || []).map((i) => [i.label, i.confidence])); }


/** A length of time for people: "7.8 s", "1 min 5 s". */
export function seconds(s) {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

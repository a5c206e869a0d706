// Small DOM helpers: elements built with textContent (never innerHTML for data), numbers in
// Korean won grouping.

export type Child = Node | string | number | null | undefined;

export function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const won = new Intl.NumberFormat("ko-KR");

export function krw(v: number | null | undefined, signed = false): string {
  if (v === null || v === undefined) return "-";
  const text = won.format(v);
  return signed && v > 0 ? `+${text}` : text;
}

export function pct(v: number | string | null | undefined, digits = 2): string {
  if (v === null || v === undefined) return "-";
  const n = Number(v);
  return `${n > 0 ? "+" : ""}${n.toFixed(digits)}%`;
}

export function share(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

export function tone(v: number | null | undefined): string {
  if (!v) return "";
  return v > 0 ? "up" : "down";
}

export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m`;
  return `${seconds}s`;
}

/** A table in its own scroll box. Columns in `wide` are left out on a phone (the CSS hides
 * `.wide` below 600 px), so the key columns fit without scrolling. */
const KST_PARTS = new Intl.DateTimeFormat("en-CA", {
  timeZone: "Asia/Seoul", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});

/** A stored UTC (or any offset) ISO time as Korean market time: `2026-11-24 19:00:03 KST`. */
export function kst(iso: string | null | undefined): string {
  if (!iso) return "-";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const p = Object.fromEntries(KST_PARTS.formatToParts(at).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} KST`;
}

export function table(caption: string, headers: string[], rows: Child[][], numeric: number[] = [], wide: number[] = []): HTMLElement {
  const cls = (i: number) => [numeric.includes(i) ? "num" : "", wide.includes(i) ? "wide" : ""].filter(Boolean).join(" ");
  const head = h("tr", {}, ...headers.map((c, i) => h("th", { scope: "col", class: cls(i) }, c)));
  const body = rows.map((r) => h("tr", {}, ...r.map((c, i) => h("td", { class: cls(i) }, c))));
  // A scroll box is focusable so keyboard users can scroll it (axe: scrollable-region-focusable).
  return h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": caption }, h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, ...body)));
}

export function kv(rows: [string, Child, string?][]): HTMLElement {
  return h("dl", { class: "kv" }, ...rows.flatMap(([k, v, field]) => [
    h("dt", {}, k), h("dd", field ? { "data-field": field } : {}, v),
  ]));
}

export function note(text: string, cls = "note"): HTMLElement {
  return h("p", { class: cls }, text);
}

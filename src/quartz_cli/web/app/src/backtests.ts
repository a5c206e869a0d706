// The Backtests page: two stored runs side by side, each with its equity and drawdown
// against its benchmark (lightweight-charts), and one metrics table for both.

import { LineSeries, createChart, type IChartApi, type Time } from "lightweight-charts";

import { get } from "./api";
import { h, kst, krw, note, table, type Child } from "./dom";
import type { Cleanup } from "./pages";

interface Metrics { [name: string]: number | null }

interface Run {
  id: string;
  produced_at: string | null;
  status: string;
  source: string | null;
  settings: { from: string; to: string; universe: string[]; cash_krw: number; engine: string };
  metrics: Metrics | null;
  benchmark: { name: string | null; metrics: Metrics | null };
  curve: { day: string; value_krw: number; benchmark_krw: number; drawdown: number; benchmark_drawdown: number }[];
}

const fraction = (v: number | null | undefined) => (v === null || v === undefined ? "-" : `${(v * 100).toFixed(2)}%`);
const ratio = (v: number | null | undefined) => (v === null || v === undefined ? "-" : v.toFixed(2));
const count = (v: number | null | undefined) => (v === null || v === undefined ? "-" : krw(v));

/** The metrics the table shows, in order: label, key of `performance`, format. */
const METRICS: [string, string, (v: number | null | undefined) => string][] = [
  ["Total return", "total_return", fraction], ["Annual return", "annual_return", fraction],
  ["Volatility", "volatility", fraction], ["Sharpe", "sharpe", ratio], ["Sortino", "sortino", ratio],
  ["Max drawdown", "max_drawdown", fraction], ["Drawdown sessions", "max_drawdown_sessions", count],
  ["Turnover", "turnover", ratio], ["Exposure", "exposure", fraction], ["Trades", "trades", count],
  ["Win rate", "win_rate", fraction], ["Fees (원)", "fees_krw", count], ["Tax (원)", "tax_krw", count],
  ["End value (원)", "end_value", count], ["Sessions", "sessions", count],
];

// Equity in Korean units (e.g. 1.089억), short enough for a phone's price axis.
const compact = new Intl.NumberFormat("ko-KR", { notation: "compact", maximumFractionDigits: 3 });
const won = (v: number) => compact.format(v);

function chart(box: HTMLElement, run: Run): IChartApi {
  const c = createChart(box, { autoSize: true, layout: { attributionLogo: false } });
  const at = (day: string) => day as Time;
  const krwAxis = { type: "custom" as const, formatter: won, minMove: 1 };
  c.addSeries(LineSeries, { color: "#1d4ed8", lineWidth: 2, title: "strategy", priceFormat: krwAxis, priceLineVisible: false })
    .setData(run.curve.map((p) => ({ time: at(p.day), value: p.value_krw })));
  c.addSeries(LineSeries, { color: "#9e9e9e", lineWidth: 1, title: "benchmark", priceFormat: krwAxis, priceLineVisible: false })
    .setData(run.curve.map((p) => ({ time: at(p.day), value: p.benchmark_krw })));
  // Drawdown in its own pane, as a negative percentage below the equity.
  const pct = { type: "custom" as const, formatter: (v: number) => `${v.toFixed(1)}%`, minMove: 0.01 };
  c.addSeries(LineSeries, { color: "#b91c1c", lineWidth: 1, title: "drawdown", priceFormat: pct, priceLineVisible: false }, 1)
    .setData(run.curve.map((p) => ({ time: at(p.day), value: -p.drawdown * 100 })));
  c.addSeries(LineSeries, { color: "#bdbdbd", lineWidth: 1, title: "bench dd", priceFormat: pct, priceLineVisible: false }, 1)
    .setData(run.curve.map((p) => ({ time: at(p.day), value: -p.benchmark_drawdown * 100 })));
  c.panes()[0]?.setStretchFactor(3);
  c.panes()[1]?.setStretchFactor(1.2);
  c.timeScale().fitContent();
  return c;
}

function picker(id: string, label: string, runs: string[], chosen: string): HTMLElement[] {
  return [h("label", { for: id }, label),
    h("select", { id, name: id }, ...runs.map((r) => h("option", r === chosen ? { value: r, selected: "" } : { value: r }, r)))];
}

export async function backtests(root: HTMLElement, params: URLSearchParams): Promise<Cleanup | void> {
  root.append(h("h1", {}, "Backtests"));
  const { runs } = await get<{ runs: string[] }>("backtests");
  if (!runs.length) {
    root.append(note("No stored backtest yet: run `quartz backtest --from YYYY-MM-DD --to YYYY-MM-DD`."));
    return;
  }
  const a = params.get("a") ?? runs[0];
  const b = params.get("b") ?? runs[1] ?? runs[0];
  const form = h("form", { class: "actions", "aria-label": "Runs to compare" },
    ...picker("run-a", "Run A", runs, a), ...picker("run-b", "Run B", runs, b),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form as HTMLFormElement);
    location.hash = `#/backtests?a=${encodeURIComponent(String(data.get("run-a")))}&b=${encodeURIComponent(String(data.get("run-b")))}`;
  });
  root.append(form);
  const shown = await Promise.all([a, b].map((id) => get<Run>(`backtests/${encodeURIComponent(id)}`)));
  const side = h("section", { class: "side" });
  const charts: IChartApi[] = [];
  root.append(side);
  shown.forEach((run, i) => {
    const box = h("div", { class: "chart small", role: "img", "aria-label": `equity and drawdown of ${run.id} against its benchmark` });
    const rows: Child[][] = METRICS.map(([label, key, fmt]) => [label,
      h("span", { "data-metric": `${i}-${key}` }, fmt(run.metrics?.[key])), fmt(run.benchmark.metrics?.[key])]);
    side.append(h("div", { class: "run", "data-run": String(i) },
      h("h2", {}, `${i ? "B" : "A"}: ${run.id}`),
      note(`${run.settings.from} to ${run.settings.to}, ${run.settings.universe.length} tickers, ${run.settings.engine}; ${run.status}; stored ${kst(run.produced_at)}`),
      note(`Benchmark: ${run.benchmark.name ?? "none"}.${run.source ? ` Bars: ${run.source}.` : ""}`), box,
      table(`Metrics of ${i ? "B" : "A"}`, ["Metric", "Run", "Benchmark"], rows, [1, 2])));
    if (run.curve.length) charts.push(chart(box, run));
  });
  return () => charts.forEach((c) => c.remove());
}

// The Technical page: candlesticks with volume, moving averages, Bollinger bands and
// Fibonacci levels, with RSI and MACD in their own panes (TradingView lightweight-charts).

import {
  CandlestickSeries, HistogramSeries, LineSeries, createChart,
  type IChartApi, type Time,
} from "lightweight-charts";

import { get } from "./api";
import { h, note } from "./dom";
import type { Cleanup } from "./pages";

interface Chart {
  ticker: string;
  name: string;
  period: string;
  bars: { time: string; open: number; high: number; low: number; close: number; volume: number }[];
  indicators: Record<string, (number | null)[]>;
  fibonacci: Record<string, number>;
}

function line(data: Chart, values: (number | null)[]) {
  return data.bars.flatMap((b, i) => (values[i] === null ? [] : [{ time: b.time as Time, value: values[i] as number }]));
}

/** Which pane each part of the chart is drawn in, top to bottom. */
const PANE = { price: 0, volume: 1, rsi: 2, macd: 3 } as const;

function draw(box: HTMLElement, d: Chart): IChartApi {
  const chart = createChart(box, { autoSize: true, layout: { attributionLogo: false } });
  const candles = chart.addSeries(CandlestickSeries, { upColor: "#d32f2f", downColor: "#1565c0", borderVisible: false, wickUpColor: "#d32f2f", wickDownColor: "#1565c0" });
  candles.setData(d.bars.map((b) => ({ ...b, time: b.time as Time })));
  const colours: Record<string, string> = { sma5: "#ef6c00", sma10: "#6a1b9a", sma20: "#2e7d32", bb_upper: "#9e9e9e", bb_middle: "#bdbdbd", bb_lower: "#9e9e9e" };
  // On a phone the lines' names would cover the price axis: the note under the chart names them.
  const narrow = box.clientWidth < 600;
  for (const [name, colour] of Object.entries(colours)) {
    chart.addSeries(LineSeries, { color: colour, lineWidth: 1, title: narrow ? "" : name, priceLineVisible: false, lastValueVisible: false })
      .setData(line(d, d.indicators[name] ?? []));
  }
  for (const [level, price] of Object.entries(d.fibonacci)) {
    candles.createPriceLine({ price, color: "#8d6e63", lineWidth: 1, lineStyle: 2, axisLabelVisible: true, title: `fib ${level}%` });
  }
  // Volume, RSI and MACD each get a pane of their own below the price, so none overlays
  // the candles; stretch factors (not pixel heights) keep the proportions at any size.
  chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, color: "#90a4ae", title: "volume", priceLineVisible: false }, PANE.volume)
    .setData(d.bars.map((b) => ({ time: b.time as Time, value: b.volume })));
  const rsi = chart.addSeries(LineSeries, { color: "#5e35b1", lineWidth: 1, title: "RSI 14", priceLineVisible: false }, PANE.rsi);
  rsi.setData(line(d, d.indicators.rsi14 ?? []));
  for (const bound of [70, 30]) {
    rsi.createPriceLine({ price: bound, color: "#b0bec5", lineWidth: 1, lineStyle: 2, axisLabelVisible: false, title: "" });
  }
  chart.addSeries(HistogramSeries, { color: "#b0bec5", title: "hist", priceLineVisible: false }, PANE.macd).setData(line(d, d.indicators.macd_hist ?? []));
  chart.addSeries(LineSeries, { color: "#00897b", lineWidth: 1, title: "MACD", priceLineVisible: false }, PANE.macd).setData(line(d, d.indicators.macd ?? []));
  chart.addSeries(LineSeries, { color: "#f4511e", lineWidth: 1, title: "signal", priceLineVisible: false }, PANE.macd).setData(line(d, d.indicators.macd_signal ?? []));
  const panes = chart.panes();
  for (const [index, stretch] of [[PANE.price, 5], [PANE.volume, 1.2], [PANE.rsi, 1.6], [PANE.macd, 1.8]]) {
    panes[index]?.setStretchFactor(stretch);
  }
  chart.timeScale().fitContent();
  return chart;
}

export async function technical(root: HTMLElement, params: URLSearchParams): Promise<Cleanup> {
  const ticker = params.get("ticker") ?? "005930";
  const period = params.get("period") ?? "D";
  const form = h("form", { class: "actions", role: "search" },
    h("label", { for: "ticker" }, "Ticker"), h("input", { id: "ticker", name: "ticker", value: ticker, inputmode: "numeric", size: "8" }),
    h("label", { for: "period" }, "Period"),
    h("select", { id: "period", name: "period" }, ...["D", "W", "M"].map((p) =>
      h("option", p === period ? { value: p, selected: "" } : { value: p }, { D: "day", W: "week", M: "month" }[p]))),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form as HTMLFormElement);
    location.hash = `#/technical?ticker=${encodeURIComponent(String(data.get("ticker")))}&period=${data.get("period")}`;
  });
  const box = h("div", { class: "chart", id: "chart", role: "img", "aria-label": `candlestick chart of ${ticker}` });
  root.append(h("h1", {}, "Technical"), form);
  const d = await get<Chart>(`chart/${encodeURIComponent(ticker)}?period=${period}`);
  root.append(h("p", { "data-field": "chart-title" }, `${d.name} (${d.ticker}), ${d.bars.length} bars`), box);
  if (!d.bars.length) {
    root.append(note("No bars for this ticker."));
    return () => undefined;
  }
  root.append(note("Panes: price with SMA 5/10/20, Bollinger (20, 2) and Fibonacci levels of the last 60 bars; volume; RSI 14 (30 and 70 dashed); MACD (12, 26, 9)."));
  const chart = draw(box, d);
  return () => chart.remove();
}

// The pages other than Technical: each renders into `root` from the dashboard API.

import DOMPurify from "dompurify";
import { marked } from "marked";

import { current, get, maybe, post } from "./api";
import { follow, type LiveEvent } from "./live";
import { age, h, kst, kv, krw, note, pct, share, table, tone, type Child } from "./dom";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

export type Cleanup = () => void;

function signed(v: number | null, field: string): HTMLElement {
  return h("span", { class: tone(v), "data-field": field }, v === null ? "-" : `${krw(v, true)} 원`);
}

export async function overview(root: HTMLElement): Promise<Cleanup | void> {
  const d: Json = await get("overview");
  const state: string = d.trading_state.state;
  root.append(
    h("h1", {}, "Overview"),
    h("section", { class: "cards" },
      h("div", { class: "card" }, h("h2", {}, "Total value"),
        h("p", { class: "big", "data-field": "total_value_krw" }, `${krw(d.total_value_krw)} 원`)),
      h("div", { class: "card" }, h("h2", {}, "Cash"),
        h("p", { class: "big", "data-field": "cash_krw" }, `${krw(d.cash_krw)} 원`)),
      h("div", { class: "card" }, h("h2", {}, "Today's P&L"), h("p", { class: "big" }, signed(d.today.pnl_krw, "today_pnl_krw"))),
      h("div", { class: "card" }, h("h2", {}, "Since start"), h("p", { class: "big" }, signed(d.since_start.pnl_krw, "since_start_pnl_krw"))),
    ),
    kv([
      ["Account", d.account, "account"],
      ["Environment", d.env],
      ["Trading state", h("span", { class: `state ${state}` }, state), "trading_state"],
      ["Orders", `${d.open_orders.length} open, ${d.unknown_orders.length} unknown`, "orders"],
      ["As of", kst(d.as_of), "as_of"],
    ]),
  );
  const s = current();
  if (s?.role === "operator") {
    const reason = h("input", { id: "reason", type: "text", placeholder: "reason" }) as HTMLInputElement;
    const act = (target: string) => async () => {
      await post("trading-state", { state: target, reason: reason.value });
      location.reload();
    };
    const halt = h("button", { type: "button", id: "halt", class: "danger" }, "Halt");
    const resume = h("button", { type: "button", id: "resume" }, "Resume");
    halt.addEventListener("click", act("halted"));
    resume.addEventListener("click", act("active"));
    root.append(h("section", { class: "actions", "aria-label": "Trading state" },
      h("label", { for: "reason" }, "Reason"), reason, halt, resume));
  }
  root.append(table("Positions", ["Ticker", "Name", "Qty", "Value", "Weight", "P/L", "P/L %"],
    d.positions.map((p: Json) => [
      p.ticker, h("span", { "data-name": p.ticker }, p.name), krw(p.qty),
      h("span", { "data-value": p.ticker }, krw(p.value_krw)), share(p.weight),
      h("span", { class: tone(p.pnl_krw), "data-pnl": p.ticker }, krw(p.pnl_krw, true)), pct(p.pnl_pct),
    ]), [2, 3, 4, 5, 6], [0, 2, 4]));
  if (d.warnings.length) {
    root.append(h("h2", {}, "Warnings"), h("ul", { class: "warnings" }, ...d.warnings.map((w: string) => h("li", {}, w))));
  }
}

const LIFECYCLE = ["sent", "unknown", "accepted", "filled", "cancelled", "rejected"];
/** Live events listed on the Orders page (newest first). */
const LIVE_ROWS = 20;

function applyOrderEvent(rows: Json[], e: LiveEvent): void {
  if (!e.request_id || !e.type.startsWith("order.")) return;
  const d = e.data as Json;
  let row = rows.find((o) => o.request_id === e.request_id);
  if (!row) {
    row = { request_id: e.request_id, action: d.side, ticker: d.ticker, qty: d.qty, filled_qty: 0 };
    rows.unshift(row);
  }
  if (d.state) row.state = d.state;
  for (const key of ["order_no", "filled_qty", "avg_fill_price"]) if (d[key] !== undefined) row[key] = d[key];
}

export async function orders(root: HTMLElement): Promise<Cleanup> {
  const status = h("span", { "data-field": "stream" }, "connecting");
  const live = h("div", { "aria-live": "polite" });
  const feed = h("ol", { class: "events", "aria-label": "Live events" });
  const quiet = note("No new event since the page opened.");
  const history = h("div");
  root.append(h("h1", {}, "Orders and fills"),
    h("p", { class: "note" }, `States: ${LIFECYCLE.join(", ")}. Live from the event log: `, status),
    live, h("h2", {}, "Live events"), quiet, feed, history);
  const snapshot: Json = await get("orders?limit=100");
  const rows: Json[] = snapshot.orders;
  const draw = () => {
    live.replaceChildren(table("Recent orders (newest first)",
      ["Request", "State", "Side", "Ticker", "Qty", "Order no.", "Filled", "Avg"],
      rows.map((o: Json) => [
        h("span", { class: "rid", "data-request": o.request_id }, o.request_id),
        h("span", { class: `state ${o.state}`, "data-state": o.request_id }, o.state),
        o.action, o.ticker ?? "-", krw(o.qty), o.order_no ?? "-", krw(o.filled_qty),
        o.avg_fill_price ? krw(o.avg_fill_price) : "-",
      ]), [4, 6, 7], [5, 7]));
  };
  draw();
  const h1: Json = await get("history");
  history.replaceChildren(table(`Fills by day (${h1.from} to ${h1.to})`,
    ["Day", "Fills", "Bought", "Sold", "Realised P&L"],
    h1.days.map((d: Json) => [d.day, d.fills.length, krw(d.bought_krw), krw(d.sold_krw),
      h("span", { class: tone(d.realised_pnl_krw), "data-day": d.day }, krw(d.realised_pnl_krw, true))]),
    [1, 2, 3, 4]));
  const stop = follow(snapshot.last_seq, {
    status: (s) => { status.textContent = s; },
    ended: () => { location.reload(); },
    event: (e) => {
      applyOrderEvent(rows, e);
      draw();
      const d = e.data as Json;
      quiet.remove();
      feed.prepend(h("li", { "data-seq": String(e.seq) }, `${kst(e.at)} · ${e.type}`,
        d.ticker ? ` · ${d.side ?? ""} ${d.ticker} ${d.qty ?? ""}`.trimEnd() : "",
        d.job ? ` · ${d.job}${d.exit_code !== undefined ? ` exit ${d.exit_code}` : ""}` : ""));
      while (feed.children.length > LIVE_ROWS) feed.lastElementChild?.remove();
    },
  });
  return stop;
}

function missing(root: HTMLElement, what: string, command: string): void {
  root.append(note(`No ${what} yet: run \`${command}\`.`));
}

export async function decisions(root: HTMLElement): Promise<void> {
  root.append(h("h1", {}, "Decisions"));
  const d: Json = await maybe("decisions");
  if (!d) return missing(root, "decision plan", "quartz decide");
  root.append(kv([
    ["Run", `${d.kind} ${d.run_id}${d.dry_run ? " (dry run)" : ""}`],
    ["Produced", kst(d.produced_at)],
    ["Engine", d.engine ? `${d.engine.name}${d.engine.fallback ? ` (fallback: ${d.engine.fallback})` : ""}` : "-"],
    ["Session", d.session ? d.session.detail : "-"],
    ["Cash", `${krw(d.cash_before_krw)} → ${krw(d.cash_after_krw)} 원`],
  ]));
  if (d.inputs) {
    root.append(h("h2", {}, "Inputs"), kv([
      ["Macro", d.inputs.macro ? `${d.inputs.macro.bias}: ${d.inputs.macro.positive_summary}` : "-"],
      ["Candidates", d.inputs.candidates.map((c: Json) => `${c.name} (${c.ticker})`).join(", ") || "-"],
      ["Holdings", d.inputs.holdings.map((c: Json) => `${c.name} ${c.qty}`).join(", ") || "-"],
    ]));
  }
  root.append(
    table("Proposals", ["Ticker", "Name", "Action", "Target", "Confidence", "Rationale"],
      d.decisions.map((p: Json) => [p.ticker, p.name, p.action, share(p.target_weight),
        p.confidence.toFixed(2), p.rationale]), [3, 4]),
    table("Cut by the gate", ["Ticker", "Action", "Kind", "Rule", "Detail"],
      d.gate.map((g: Json) => [g.ticker, g.action, g.kind, g.rule, g.detail])),
    table("Orders", ["Ticker", "Name", "Side", "Qty", "Limit", "Notional", "Rationale"],
      d.orders.map((o: Json) => [o.ticker, o.name, o.side, krw(o.qty), krw(o.limit_price),
        krw(o.notional_krw), o.rationale]), [3, 4, 5]),
    table("Weights", ["Ticker", "Before", "After"],
      Object.keys({ ...d.weights_before, ...d.weights_after }).map((t) => [t,
        share(d.weights_before[t] ?? 0), share(d.weights_after[t] ?? 0)]), [1, 2]),
  );
  for (const n of d.notes) root.append(note(n));
}

function markdown(text: string): HTMLElement {
  const box = h("div", { class: "markdown" });
  // The report may come from an LLM: sanitised before it reaches the page.
  box.innerHTML = DOMPurify.sanitize(marked.parse(text, { async: false }) as string);
  return box;
}

export async function macro(root: HTMLElement): Promise<void> {
  root.append(h("h1", {}, "Macro"));
  const d: Json = await maybe("macro");
  if (!d) return missing(root, "macro analysis", "quartz macro run");
  root.append(kv([
    ["Market bias", h("strong", { "data-field": "bias" }, d.market_bias_hint)],
    ["Produced", kst(d.produced_at)], ["Engine", d.engine],
    ["Sample data", d.sample_data ? "yes (synthetic)" : "no"],
  ]), h("ul", {}, ...d.summary.map((s: string) => h("li", {}, s))),
  table("Sources", ["Source", "State", "Age (h)", "Latest period"],
    d.sources.map((s: Json) => [s.source, s.state, s.age_hours?.toFixed(1) ?? "-", s.latest_period ?? "-"])));
  const full: Json = await maybe("macro/full");
  if (full) {
    root.append(h("h2", {}, "Positive view"), markdown(full.view.positive_view),
      h("h2", {}, "Negative view"), markdown(full.view.negative_view));
  }
}

export async function candidates(root: HTMLElement): Promise<void> {
  root.append(h("h1", {}, "Candidates"));
  const d: Json = await maybe("candidates");
  if (!d) return missing(root, "candidates", "quartz select run");
  if (d.synthetic_news) root.append(note("Synthetic news: sample data, not the market.", "warn"));
  root.append(note(`${d.articles} articles, ${d.articles_matched} matched; produced ${kst(d.produced_at)}`));
  root.append(table("Ranked candidates",
    ["#", "Ticker", "Name", "Score", "Tier", "Sentiment", "News", "Priority", "Articles"],
    d.candidates.map((c: Json) => [c.rank, c.code, c.name, c.score.toFixed(3),
      c.components.market_cap_tier.toFixed(2), c.components.sentiment.toFixed(2),
      c.components.news_count_norm.toFixed(2), c.components.priority.toFixed(2),
      h("ul", { class: "articles" }, ...c.top_articles.map((a: Json) =>
        h("li", {}, h("a", { href: a.url, rel: "noopener noreferrer", target: "_blank" }, a.title), ` (${a.source})`)))]),
    [3, 4, 5, 6, 7]));
}

const JOB_TONE: Record<string, string> = { ok: "ok", running: "ok", failed: "warn", missed: "warn" };

export async function health(root: HTMLElement): Promise<void> {
  const d: Json = await get("health");
  const rows: Child[][] = d.agents.map((a: Json) => [a.agent, kst(a.produced_at), age(a.age_s),
    age(a.max_age_s), h("span", { class: a.error || a.stale ? "warn" : "ok" },
      a.error ? `error: ${a.error}` : a.produced_at === null ? "none" : a.stale ? "stale" : "fresh")]);
  const jobs: Child[][] = d.jobs.map((j: Json) => [j.job, j.schedule ?? "by hand",
    kst(j.last_scheduled_at), kst(j.started_at),
    j.exit_code === null ? "-" : String(j.exit_code), j.seconds ?? "-", kst(j.last_success_at),
    h("span", { class: JOB_TONE[j.state] ?? "", "data-job": j.job }, j.state)]);
  root.append(h("h1", {}, "Health"), table("Agents' latest documents",
    ["Agent", "Produced", "Age", "Max age", "State"], rows, [], [3]),
  table("Jobs: last run against the schedule (cron times in KST)",
    ["Job", "Schedule", "Last fired", "Last start", "Exit", "Seconds", "Last success", "State"],
    jobs, [4, 5], [1, 2, 5, 6]),
  kv([["Bars", `${d.bars.fresh} of ${d.bars.tickers} tickers hold ${d.bars.last_completed_session}`],
    ["KIS token", d.token.valid ? `valid until ${kst(d.token.expires_at)} (${age(d.token.remaining_s)} left)` : "none cached", "token"],
    ["Rate budget", rateBudget(d.rate_budget), "rate-budget"],
    ["Live updates", d.live_updates], ["Environment", d.env]]));
}

/** The owner's calls over the last minute against the account's limit, or why unknown. */
function rateBudget(b: Json): string {
  if (b.error) return `unknown: ${b.error}`;
  if (b.note) return b.note;
  return `${b.calls} calls in the last ${b.span_s} s: ${b.per_second}/s of ${b.limit_per_s}/s ` +
    `(${Math.round(b.use * 100)} %); ${b.refused_since_start} refused for rate (EGW00201) since the agent started`;
}

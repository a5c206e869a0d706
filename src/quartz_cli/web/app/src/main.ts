// The dashboard shell: login, navigation between pages (hash routes), errors shown in place.

import "./style.css";

import { Unauthorized, current, login, logout, resume } from "./api";
import { h } from "./dom";
import { follow } from "./live";
import { candidates, decisions, health, macro, orders, overview, type Cleanup } from "./pages";
import { backtests } from "./backtests";
import { technical } from "./technical";

type Page = (root: HTMLElement, params: URLSearchParams) => Promise<Cleanup | void>;
/** What makes a page redraw itself: event types (prefixes) of the log, documents (prefixes). */
interface Refresh { events?: string[]; documents?: string[] }

const PAGES: [string, string, Page, Refresh?][] = [
  ["overview", "Overview", overview, { events: ["order.filled", "order.partially_filled", "trading."] }],
  ["orders", "Orders", orders],
  ["decisions", "Decisions", decisions, { events: ["decision."], documents: ["decisions"] }],
  ["macro", "Macro", macro, { documents: ["macro-analysis"] }],
  ["candidates", "Candidates", candidates, { documents: ["candidates"] }],
  ["technical", "Technical", technical],
  ["backtests", "Backtests", backtests],
  ["health", "Health", health, { events: ["job.", "token."], documents: ["macro-analysis", "candidates", "decisions"] }],
];
/** A burst of events redraws a page once, this long after the first. */
const REDRAW_MS = 1000;

/** Redraw the current page when the live stream says something it shows has changed. */
function refreshOn(spec: Refresh): Cleanup {
  let pending: number | undefined;
  const redraw = () => {
    if (pending === undefined) pending = window.setTimeout(() => { void route(); }, REDRAW_MS);
  };
  const stop = follow(null, {
    event: (e) => { if (spec.events?.some((p) => e.type.startsWith(p))) redraw(); },
    document: (d) => { if (spec.documents?.includes(d.prefix)) redraw(); },
    ended: () => loginForm(),
  });
  return () => {
    window.clearTimeout(pending);
    stop();
  };
}

const nav = document.getElementById("nav") as HTMLElement;
const who = document.getElementById("who") as HTMLElement;
const page = document.getElementById("page") as HTMLElement;
let cleanup: Cleanup | void;

function loginForm(message = ""): void {
  const input = h("input", { id: "token", type: "password", autocomplete: "current-password", required: "" }) as HTMLInputElement;
  const form = h("form", { class: "login", "aria-label": "Log in" },
    h("h1", {}, "Log in"),
    h("label", { for: "token" }, "Token (operator or viewer)"), input,
    h("button", { type: "submit" }, "Log in"),
    message ? h("p", { class: "warn", role: "alert" }, message) : null);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await login(input.value);
      await route();
    } catch (err) {
      loginForm(err instanceof Error ? err.message : String(err));
    }
  });
  nav.replaceChildren();
  who.replaceChildren();
  page.replaceChildren(form);
}

function chrome(active: string): void {
  nav.replaceChildren(...PAGES.map(([id, label]) =>
    h("a", id === active ? { href: `#/${id}`, "aria-current": "page" } : { href: `#/${id}` }, label)));
  const s = current();
  const out = h("button", { type: "button", id: "logout" }, "Log out");
  out.addEventListener("click", async () => {
    await logout();
    loginForm();
  });
  who.replaceChildren(h("span", { "data-field": "role" }, s?.role ?? ""), out);
}

async function route(): Promise<void> {
  if (cleanup) cleanup();
  cleanup = undefined;
  try {
    if (!current() && !(await resume())) return loginForm();
  } catch (err) {
    return loginForm(err instanceof Error ? err.message : String(err));
  }
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const entry = PAGES.find(([id]) => id === path) ?? PAGES[0];
  chrome(entry[0]);
  page.replaceChildren();
  page.removeAttribute("data-ready");
  page.setAttribute("data-page", entry[0]);
  try {
    const own = await entry[2](page, new URLSearchParams(query ?? ""));
    const live = entry[3] ? refreshOn(entry[3]) : undefined;
    cleanup = () => {
      if (own) own();
      if (live) live();
    };
    page.setAttribute("data-ready", "yes");
  } catch (err) {
    if (err instanceof Unauthorized) return loginForm();
    page.append(h("p", { class: "warn", role: "alert" }, err instanceof Error ? err.message : String(err)));
    page.setAttribute("data-ready", "error");
  }
}

window.addEventListener("hashchange", () => { void route(); });
void route();

// The live stream (`/api/ui/stream`, server-sent events from the account's event log): each
// event once, in order, across reconnects. The browser's EventSource reconnects by itself
// and sends the last id it saw (Last-Event-ID); if it gives up (an error answer), we open a
// new one from our own last id. Events at or before that id are dropped, never applied twice.

export interface LiveEvent {
  seq: number;
  at: string;
  type: string;
  request_id: string | null;
  run_id: string | null;
  data: Record<string, unknown>;
}

export interface Handlers {
  event?: (e: LiveEvent) => void;
  document?: (d: { prefix: string; produced_at: string | null }) => void;
  /** The session ended (logged out elsewhere, or expired). */
  ended?: () => void;
  /** "live" while connected, "reconnecting" between connections. */
  status?: (s: "live" | "reconnecting") => void;
}

const REOPEN_MS = 3000;

/** Follow the stream from after `after` (null: only new events); the returned function stops. */
export function follow(after: number | null, on: Handlers): () => void {
  let last = after;
  let source: EventSource | null = null;
  let timer: number | undefined;
  let stopped = false;

  const open = () => {
    source = new EventSource(last === null ? "/api/ui/stream" : `/api/ui/stream?after=${last}`);
    source.onopen = () => on.status?.("live");
    source.onmessage = (m) => {
      const e = JSON.parse(m.data) as LiveEvent;
      if (last !== null && e.seq <= last) return;
      last = e.seq;
      on.event?.(e);
    };
    source.addEventListener("hello", (m) => {
      if (last === null) last = (JSON.parse((m as MessageEvent).data) as { last_seq: number }).last_seq;
    });
    source.addEventListener("document", (m) => on.document?.(JSON.parse((m as MessageEvent).data)));
    source.addEventListener("session", () => {
      stop();
      on.ended?.();
    });
    source.onerror = () => {
      if (stopped) return;
      on.status?.("reconnecting");
      if (source?.readyState === EventSource.CLOSED) {
        source.close();
        timer = window.setTimeout(open, REOPEN_MS);
      }
    };
  };
  const stop = () => {
    stopped = true;
    window.clearTimeout(timer);
    source?.close();
  };
  open();
  return stop;
}

// The dashboard's JSON API (`servers/dashboard.py`): same origin, session cookie, CSRF header.

export interface Session {
  role: "operator" | "viewer";
  csrf: string;
  expires_at: string;
}

export class Unauthorized extends Error {}

let session: Session | null = null;

export function current(): Session | null {
  return session;
}

async function answer<T>(resp: Response): Promise<T> {
  if (resp.status === 401) {
    session = null;
    throw new Unauthorized("log in first");
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const message = (body as { message?: string }).message ?? resp.statusText;
    throw new Error(`${resp.status}: ${message}`);
  }
  return body as T;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(`/api/ui/${path}`, { credentials: "same-origin" }));
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (session) headers["x-csrf-token"] = session.csrf;
  return answer<T>(
    await fetch(`/api/ui/${path}`, {
      method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body),
    }),
  );
}

export async function resume(): Promise<Session | null> {
  const answered = await get<Session | { role: null }>("session");
  session = answered.role === null ? null : (answered as Session);
  return session;
}

export async function login(token: string): Promise<Session> {
  session = await post<Session>("login", { token });
  return session;
}

export async function logout(): Promise<void> {
  await post("logout", {});
  session = null;
}

/** A document answered 404 (not published yet): null instead of an error. */
export async function maybe<T>(path: string): Promise<T | null> {
  const resp = await fetch(`/api/ui/${path}`, { credentials: "same-origin" });
  if (resp.status === 404) return null;
  return answer<T>(resp);
}

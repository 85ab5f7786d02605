/**
 * Who may act on the dashboard, and proof that a POST came from the dashboard's own page.
 *
 * - Without a token the dashboard is read-only: every action is refused (403).
 * - With a token, a browser signs in once by posting the token; it gets a session cookie
 *   (`<nonce>.<HMAC(token, nonce)>`, HttpOnly, SameSite=Strict), checked without any server-side state.
 * - Every action form carries a CSRF value, HMAC(token, "csrf." + nonce), that only a page the server
 *   rendered for that session can know; a cross-site POST has neither the cookie (SameSite=Strict) nor
 *   the value, and a POST whose Origin is another site is refused outright.
 * - Scripts may instead send `Authorization: Bearer <token>` (which no browser sends cross-site on its own).
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const SESSION_COOKIE = "hewn_session";

export class Auth {
  readonly #token: string | undefined;

  constructor(token: string | undefined) {
    this.#token = token;
  }

  /** A token is configured: actions are possible at all. */
  get enabled(): boolean {
    return this.#token !== undefined;
  }

  /** Whether `given` is the token (constant time). */
  checkToken(given: string): boolean {
    return this.#token !== undefined && same(given, this.#token);
  }

  /** A new session cookie value, for a browser that just proved it knows the token. */
  newSession(): string {
    const nonce = randomBytes(18).toString("base64url");
    return `${nonce}.${this.#mac(`session.${nonce}`)}`;
  }

  /** The session's nonce if the request carries a valid session cookie. */
  session(req: IncomingMessage): string | undefined {
    if (this.#token === undefined) return undefined;
    const value = cookies(req)[SESSION_COOKIE];
    const [nonce, mac] = value?.split(".") ?? [];
    if (!nonce || !mac || !same(mac, this.#mac(`session.${nonce}`))) return undefined;
    return nonce;
  }

  /** The CSRF value of a session. */
  csrf(nonce: string | undefined): string {
    return nonce === undefined || this.#token === undefined ? "" : this.#mac(`csrf.${nonce}`);
  }

  /** Whether the request bears the token itself (`Authorization: Bearer …`). */
  bearer(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    return typeof header === "string" && header.startsWith("Bearer ") && this.checkToken(header.slice(7));
  }

  /**
   * Why an action request must be refused, or null if it may proceed: a bearer token, or a signed-in
   * session with its CSRF value from a same-origin page.
   */
  refuseAction(req: IncomingMessage, form: URLSearchParams): string | null {
    if (this.#token === undefined) return "this dashboard is read-only: start it with a token to enable actions";
    if (this.bearer(req)) return null;
    if (crossSite(req)) return "cross-site request refused";
    const nonce = this.session(req);
    if (nonce === undefined) return "sign in with the dashboard's token first";
    if (!same(form.get("csrf") ?? "", this.csrf(nonce))) return "missing or wrong CSRF token: reload the page and try again";
    return null;
  }

  #mac(text: string): string {
    return createHmac("sha256", this.#token ?? "").update(text).digest("base64url");
  }
}

/**
 * A request that does not come from this dashboard's own pages: by the browser's Fetch metadata where it
 * sends it (only `same-origin`, or `none` for a user's own navigation, pass), else by its Origin header.
 */
function crossSite(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string") return site !== "same-origin" && site !== "none";
  const origin = req.headers.origin;
  if (origin === undefined || origin === "null") return origin === "null";
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

function cookies(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0) out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * HTML for the dashboard: every piece of user content (job data, results, reasons, names, labels) goes
 * through {@link esc} on its way into a page, and pages run under a Content-Security-Policy that allows
 * only the dashboard's own script, so even a slip could not run injected code.
 * @module
 */

/** Escapes text for HTML element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** HTML that is already safe (built from escaped parts): the only thing {@link html} does not escape. */
export class Safe {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** A tagged template that escapes every interpolated value except {@link Safe} ones (and arrays of them). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Safe {
  let out = strings[0] ?? "";
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? "");
  });
  return new Safe(out);
}

function render(value: unknown): string {
  if (value instanceof Safe) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return esc(value);
}

/** What every page needs to build links and forms. */
export interface PageContext {
  /** The prefix of every link (e.g. "/hewn"), without a trailing slash. */
  base: string;
  /** Actions are enabled (a token is configured) and this browser is signed in. */
  canAct: boolean;
  /** A token is configured (so signing in is possible). */
  hasToken: boolean;
  /** The CSRF value every action form carries. */
  csrf: string;
  /** A message to show once (after an action). */
  notice?: string;
  /** Live-refresh interval in ms. */
  refreshMs: number;
}

/** The page frame: navigation, the live region that refreshes itself, and the script. */
export function layout(ctx: PageContext, title: string, live: Safe, options: { active: string; controls?: Safe } = { active: "" }): Safe {
  const nav = (href: string, label: string, key: string) =>
    html`<a href="${ctx.base}${href}" class="${options.active === key ? "active" : ""}">${label}</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · hewn</title><link rel="stylesheet" href="${ctx.base}/assets/style.css"></head>
<body data-refresh="${ctx.refreshMs}">
<header><a class="brand" href="${ctx.base}/">hewn</a><nav>${nav("/", "Overview", "overview")}${nav("/jobs", "Jobs", "jobs")}${nav("/schedules", "Schedules", "schedules")}</nav>
<span class="mode">${ctx.canAct ? html`actions enabled` : ctx.hasToken ? html`<a href="${ctx.base}/login">sign in for actions</a>` : html`read-only`}</span></header>
<main>${ctx.notice ? html`<p class="notice" role="status">${ctx.notice}</p>` : ""}<h1>${title}</h1>
${options.controls ?? ""}<div id="live">${live}</div></main>
<script src="${ctx.base}/assets/app.js"></script>
</body></html>`;
}

/** A form that POSTs an action (with the CSRF value); `confirm` is asked in the browser first. */
export function actionForm(ctx: PageContext, action: string, label: string, confirm: string, fields: Record<string, string> = {}): Safe {
  if (!ctx.canAct) return html``;
  return html`<form method="post" action="${ctx.base}${action}" data-confirm="${confirm}" class="action">
<input type="hidden" name="csrf" value="${ctx.csrf}">${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<button type="submit">${label}</button></form>`;
}


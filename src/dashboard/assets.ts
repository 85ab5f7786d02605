/**
 * The dashboard's only script and stylesheet, served from its own paths so the Content-Security-Policy
 * can forbid inline code. The script asks for confirmation before an action and refreshes the live part
 * of the page (`#live`) every few seconds by fetching the same URL with `x-hewn-partial: 1`.
 * @module
 */

export const APP_JS = `(() => {
  "use strict";
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
    if (question && !window.confirm(question)) event.preventDefault();
  });
  const every = Number(document.body.dataset.refresh) || 0;
  if (every <= 0) return;
  setInterval(async () => {
    const live = document.getElementById("live");
    if (!live || document.hidden) return;
    // Never pull a form from under the user: skip while a field or button in it has the focus.
    const focused = document.activeElement;
    if (focused && focused !== document.body && live.contains(focused)) return;
    try {
      const response = await fetch(location.href, { headers: { "x-hewn-partial": "1" }, credentials: "same-origin" });
      if (!response.ok) return;
      live.innerHTML = await response.text();
      document.body.dataset.updated = String(Date.now());
    } catch {
      // Offline for a moment: the next tick tries again.
    }
  }, every);
})();
`;

export const STYLE_CSS = `
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --accent: #3654d1;
  --enqueued: #3654d1; --dequeued: #0e8a9c; --completed: #1a7f37; --failed: #b76e00; --cancelled: #c0362c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; font-size: 18px; color: var(--fg); text-decoration: none; }
header nav a { margin-right: 16px; color: var(--muted); text-decoration: none; }
header nav a.active { color: var(--fg); font-weight: 600; }
header .mode { margin-left: auto; color: var(--muted); font-size: 12px; }
main { padding: 16px 24px; max-width: 1280px; }
h1 { font-size: 20px; margin: 4px 0 16px; }
h2 { font-size: 15px; margin: 24px 0 8px; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
table.jobs td { white-space: nowrap; } table.jobs td.reason { white-space: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; min-width: 150px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; color: #fff; }
.status.enqueued { background: var(--enqueued); } .status.dequeued { background: var(--dequeued); }
.status.completed { background: var(--completed); } .status.failed { background: var(--failed); }
.status.cancelled { background: var(--cancelled); } .status.paused { background: var(--muted); }
pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow: auto; max-height: 320px; white-space: pre-wrap; word-break: break-word; }
.notice { background: #eef4ff; border: 1px solid #c7d7fe; padding: 8px 12px; border-radius: 4px; }
.error { background: #fef3f2; border: 1px solid #fecdca; padding: 8px 12px; border-radius: 4px; }
form.filters { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; margin-bottom: 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
input, select, button { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
button { cursor: pointer; border-color: #b9c0cc; }
form.action { display: inline-block; margin-right: 8px; }
form.action button { color: var(--cancelled); }
.pager { display: flex; gap: 16px; margin: 10px 0; }
.muted { color: var(--muted); }
ol.timeline { list-style: none; padding: 0; display: flex; gap: 8px; flex-wrap: wrap; }
ol.timeline li { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; }
ol.timeline li.unset { color: var(--muted); border-style: dashed; }
ol.timeline .step { display: block; font-size: 11px; text-transform: uppercase; color: var(--muted); }
.graph { display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
.graph .column h3 { font-size: 11px; text-transform: uppercase; color: var(--muted); margin: 0 0 4px; }
.graph ul { list-style: none; padding: 0; margin: 0; display: flex; flex-direction: column; gap: 6px; }
.graph .node { display: block; background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; }
.graph .node.self { border-width: 2px; }
.graph .column.self, .graph .column.child { border-left: 2px dashed var(--line); padding-left: 24px; }
svg.chart { background: #fff; border: 1px solid var(--line); width: 100%; height: 140px; }
.legend span { margin-right: 12px; font-size: 12px; }
.legend .ok { color: var(--completed); } .legend .bad { color: var(--cancelled); }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; border: 1px solid var(--line); padding: 10px; }
dl.fields dt { color: var(--muted); } dl.fields dd { margin: 0; }
`;

/** The on-call page's Content-Security-Policy: its own script and styles only, never framed. */
export const DASHBOARD_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

/**
 * bull-board's (`/dashboard/queues`), from what its page loads (`@bull-board/ui`'s `index.ejs`
 * and bundles): its own scripts, chunks and highlight worker; its stylesheets, inline style
 * attributes and `<style>`; Google Fonts' stylesheet and fonts (IBM Plex); SVG data images;
 * its JSON API. Scripts only from the gateway (none inline: the UI config is a JSON data block),
 * never framed.
 */
export const BULL_BOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
  "font-src 'self' https://fonts.gstatic.com",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The on-call page: a static shell; `/dashboard/app.js` fills it from `/v1/dashboard/summary`. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Callback Gateway — on call</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f5f6f8; }
  header { background: #1d232a; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  header small { opacity: .7; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); }
  section { background: #fff; border-radius: 6px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #5b6470; margin: 0 0 8px; }
  .figures { display: flex; flex-wrap: wrap; gap: 12px; }
  .figure { min-width: 90px; } .figure b { display: block; font-size: 22px; }
  .bad b { color: #b42318; } .ok b { color: #067647; }
  table { width: 100%; border-collapse: collapse; } td, th { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eceef1; vertical-align: top; }
  th { font-weight: 600; color: #5b6470; font-size: 12px; }
  code { font-size: 12px; } button { cursor: pointer; }
  #login { max-width: 420px; margin: 60px auto; } #login input { width: 100%; padding: 6px; box-sizing: border-box; }
  .muted { color: #5b6470; }
</style>
</head>
<body>
<header><h1>Callback Gateway</h1><small id="updated">loading…</small><a id="queues" href="/dashboard/queues" style="color:#9cc3ff;margin-left:auto">queues (bull-board)</a></header>
<section id="login" hidden>
  <h2>Sign in</h2>
  <p class="muted">Paste one of the gateway's API tokens (GATEWAY_API_TOKENS). It opens a session cookie for this browser.</p>
  <form id="login-form"><input id="token" type="password" autocomplete="off" aria-label="API token"><p><button type="submit">Sign in</button> <span id="login-error" class="bad"></span></p></form>
</section>
<main id="board" hidden>
  <section><h2>Public callback URL</h2><div id="public-url"></div></section>
  <section><h2>Deliveries</h2><div class="figures" id="deliveries"></div></section>
  <section><h2>Queue and processes</h2><div class="figures" id="queue"></div></section>
  <section><h2>Callbacks since this gateway started</h2><div class="figures" id="callbacks"></div></section>
  <section class="wide"><h2>Dead letters <span id="dead-total" class="muted"></span></h2><table><thead><tr><th>delivery (webhook-id)</th><th>registration</th><th>event</th><th>attempts</th><th>last error</th><th></th></tr></thead><tbody id="dead-letters"></tbody></table></section>
  <section class="wide"><h2>Overdue registrations <span id="overdue-total" class="muted"></span></h2><table><thead><tr><th>registration</th><th>deliver to</th><th>parser job</th><th>deadline</th></tr></thead><tbody id="overdue"></tbody></table></section>
</main>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;

/** The page's script: no framework, no inline handlers (the page's CSP allows only 'self'). */
export const DASHBOARD_JS = `'use strict';
const $ = (id) => document.getElementById(id);
const text = (value) => document.createTextNode(value == null ? '—' : String(value));
function cell(row, value, code) {
  const td = document.createElement('td');
  if (code) { const c = document.createElement('code'); c.appendChild(text(value)); td.appendChild(c); } else td.appendChild(text(value));
  row.appendChild(td);
  return td;
}
function figures(target, entries, badKeys) {
  target.replaceChildren(...entries.map(([label, value]) => {
    const div = document.createElement('div');
    div.className = 'figure' + (badKeys.includes(label) && value > 0 ? ' bad' : '');
    const b = document.createElement('b'); b.appendChild(text(value));
    div.append(b, text(label.replaceAll('_', ' ')));
    div.dataset.figure = label;
    return div;
  }));
}
async function replay(id, button) {
  button.disabled = true;
  button.textContent = 'replaying…';
  const response = await fetch('/v1/deliveries/' + encodeURIComponent(id) + '/replay', { method: 'POST', credentials: 'same-origin' });
  button.textContent = response.status === 202 ? 'replayed' : 'failed (' + response.status + ')';
  refresh();
}
function render(data) {
  const url = data.public_url;
  $('public-url').replaceChildren(
    Object.assign(document.createElement('div'), { id: 'base-url', textContent: url.base_url || 'none: registrations are refused (503)' }),
    text('source: ' + (url.source || '—') + ', verified by ' + (url.verified_by || '—') + ', tunnel: ' + (url.tunnel || '—')),
    ...(url.last_failure ? [document.createElement('br'), text('last failure: ' + url.last_failure)] : []),
  );
  $('public-url').className = url.base_url ? 'ok' : 'bad';
  figures($('deliveries'), Object.entries(data.deliveries), ['dead_lettered', 'retrying']);
  figures($('queue'), [...Object.entries(data.queue), ['gateways', data.processes.gateways], ['workers', data.processes.workers]], []);
  figures($('callbacks'), Object.entries(data.callbacks_since_start), ['rejected']);
  $('dead-total').textContent = '(' + data.dead_letters.total + ')';
  $('dead-letters').replaceChildren(...data.dead_letters.items.map((item) => {
    const row = document.createElement('tr');
    row.dataset.delivery = item.id;
    cell(row, item.id, true); cell(row, item.registration_id, true); cell(row, item.event_type || item.format);
    cell(row, item.attempts); cell(row, item.last_error);
    const button = document.createElement('button');
    button.textContent = 'Replay';
    button.addEventListener('click', () => replay(item.id, button));
    cell(row, '').replaceChildren(button);
    return row;
  }));
  $('overdue-total').textContent = '(' + data.overdue.total + ')';
  $('overdue').replaceChildren(...data.overdue.registrations.map((item) => {
    const row = document.createElement('tr');
    cell(row, item.id, true); cell(row, item.deliver_to); cell(row, item.parse_job_id, true); cell(row, item.expect_callback_by);
    return row;
  }));
  $('updated').textContent = 'updated ' + new Date(data.generated_at).toLocaleTimeString();
}
async function refresh() {
  try {
    const response = await fetch('/v1/dashboard/summary', { credentials: 'same-origin' });
    if (response.status === 401) { $('board').hidden = true; $('login').hidden = false; return; }
    if (!response.ok) { $('updated').textContent = 'the gateway answered ' + response.status; return; }
    $('login').hidden = true; $('board').hidden = false;
    render(await response.json());
  } catch (error) {
    $('updated').textContent = 'cannot reach the gateway: ' + error.message;
  }
}
$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const response = await fetch('/dashboard/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: $('token').value }), credentials: 'same-origin' });
  $('token').value = '';
  if (response.ok) refresh(); else $('login-error').textContent = 'not a valid token';
});
refresh();
setInterval(refresh, 2000);
`;

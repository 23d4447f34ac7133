// The on-call page's script: no framework, no inline handlers (the page's CSP allows only
// 'self'). Data from /v1/dashboard/*; charts with uPlot (served by the gateway, never a CDN).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const SUMMARY_EVERY_MS = 3_000;
  const HISTORY_EVERY_MS = 10_000;
  let hours = 1;

  // --- Times: UTC everywhere, with the age beside them. ---
  const pad = (n) => String(n).padStart(2, '0');
  function utc(value) {
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return '—';
    return (
      `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
      `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`
    );
  }
  function age(value) {
    const seconds = Math.round((Date.now() - new Date(value).getTime()) / 1000);
    if (!Number.isFinite(seconds)) return '';
    const future = seconds < 0;
    const s = Math.abs(seconds);
    const text =
      s < 60
        ? `${s} s`
        : s < 3_600
          ? `${Math.floor(s / 60)} min`
          : s < 86_400
            ? `${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`
            : `${Math.floor(s / 86_400)} d`;
    return future ? `in ${text}` : `${text} ago`;
  }

  // --- DOM helpers. ---
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'class') node.className = value;
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const code = (value) => el('code', {}, value ?? '—');
  const when = (value) =>
    value
      ? el(
          'span',
          { class: 'time' },
          utc(value),
          ' ',
          el('span', { class: 'age' }, `(${age(value)})`),
        )
      : '—';
  const row = (cells, props = {}) =>
    el('tr', props, ...cells.map((cell) => el('td', {}, cell ?? '—')));
  const figure = (label, value, bad) =>
    el(
      'div',
      { class: `figure${bad ? ' bad' : ''}`, dataset: { figure: label } },
      el('b', {}, value ?? '—'),
      label,
    );
  const registrationLink = (id) => {
    const link = el('a', { class: 'link', href: `#registration/${id}` }, code(id));
    return link;
  };

  async function api(path, options = {}) {
    const response = await fetch(path, { credentials: 'same-origin', ...options });
    if (response.status === 401) {
      showLogin();
      throw new Error('signed out');
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `the gateway answered ${response.status}`);
    return body;
  }

  function showLogin() {
    $('board').hidden = true;
    $('search-form').hidden = true;
    $('login').hidden = false;
    $('updated').textContent = 'signed out';
  }
  function showBoard() {
    $('login').hidden = true;
    $('board').hidden = false;
    $('search-form').hidden = false;
  }

  // --- Status banner. ---
  function renderBanner(status) {
    const banner = $('banner');
    banner.className = `banner ${status.level}`;
    banner.dataset.level = status.level;
    if (status.conditions.length === 0) {
      banner.replaceChildren('All clear: every condition an alert would name is fine.');
      return;
    }
    const list = el(
      'ul',
      {},
      ...status.conditions.map((condition) =>
        el(
          'li',
          { dataset: { condition: condition.id } },
          condition.message,
          ' — ',
          el('a', { href: `#${condition.section}` }, 'see'),
          ', ',
          el(
            'a',
            { href: `/dashboard/runbook#${condition.runbook}` },
            `runbook: ${condition.alert}`,
          ),
        ),
      ),
    );
    const reds = status.conditions.filter((c) => c.level === 'red').length;
    banner.replaceChildren(
      status.level === 'red'
        ? `${reds} critical condition${reds === 1 ? '' : 's'}`
        : 'Needs attention',
      list,
    );
  }

  const REJECTION_REASONS = {
    not_found: 'unknown token',
    bad_signature: 'bad signature',
    malformed_callback: 'malformed',
    unsupported_media_type: 'malformed (not JSON)',
    payload_too_large: 'too large',
    intake_busy: 'rate-limited (intake busy)',
    rate_limited: 'rate-limited',
    storage_unavailable: 'Redis unreachable',
  };

  function renderSummary(data) {
    renderBanner(data.status);
    $('updated').textContent = `updated ${utc(data.generated_at)}`;
    const url = data.public_url;
    $('public-url-body').replaceChildren(
      ...[
        el(
          'div',
          { id: 'base-url', class: url.base_url ? '' : 'bad-text' },
          url.base_url || 'none: registrations are refused (503)',
        ),
        el(
          'div',
          { class: 'muted' },
          `source: ${url.source || '—'}, verified by ${url.verified_by || '—'}, tunnel: ${url.tunnel || '—'}`,
        ),
        url.last_failure
          ? el('div', { class: 'bad-text' }, `last failure: ${url.last_failure}`)
          : null,
      ].filter(Boolean),
    );
    if (!data.redis) {
      $('process-figures').replaceChildren(figure('redis', 'unreachable', true));
      return;
    }
    $('process-figures').replaceChildren(
      figure('workers', data.processes.workers, data.processes.workers === 0),
      figure('gateways', data.processes.gateways, data.processes.gateways === 0),
      figure('waiting jobs', data.queue.waiting, false),
      figure('delayed jobs', data.queue.delayed, false),
      figure('active jobs', data.queue.active, false),
      figure('oldest waiting (s)', data.queue.oldest_waiting_s, data.queue.oldest_waiting_s > 300),
    );
    const hour = data.last_hour;
    const rejectedTotal = Object.values(hour.rejected).reduce((sum, n) => sum + n, 0);
    $('hour-figures').replaceChildren(
      figure('received', hour.received, false),
      figure('delivered', hour.delivered, false),
      figure('retried', hour.retried, hour.retried > 0),
      figure('dead-lettered', hour.dead_lettered, hour.dead_lettered > 0),
      figure('rejected', rejectedTotal, rejectedTotal > 0),
    );
    const reasons = Object.entries(hour.rejected).sort((a, b) => b[1] - a[1]);
    $('rejection-rows').replaceChildren(
      ...(reasons.length === 0
        ? [row(['none'])]
        : reasons.map(([reason, count]) =>
            row([REJECTION_REASONS[reason] || reason, code(reason), el('b', {}, count)], {
              dataset: { reason },
            }),
          )),
    );
    $('dead-total').textContent = `(${data.dead_letters.total})`;
    $('dead-total').className = `count${data.dead_letters.total > 0 ? ' bad' : ''}`;
    $('dead-letter-rows').replaceChildren(
      ...data.dead_letters.items.map((item) => {
        const button = el('button', {}, 'Replay');
        button.addEventListener('click', () => replayOne(item.id, button));
        return row(
          [
            code(item.id),
            item.destination,
            registrationLink(item.registration_id),
            item.event_type,
            item.attempts,
            item.last_error,
            when(item.received_at),
            button,
          ],
          { dataset: { delivery: item.id } },
        );
      }),
    );
    $('overdue-total').textContent = `(${data.overdue.total})`;
    $('overdue-total').className = `count${data.overdue.total > 0 ? ' bad' : ''}`;
    $('overdue-rows').replaceChildren(
      ...data.overdue.registrations.map((item) =>
        row([
          registrationLink(item.id),
          item.deliver_to,
          code(item.parse_job_id),
          when(item.expect_callback_by),
        ]),
      ),
    );
  }

  // --- Destinations. ---
  const STATE_NAMES = {
    healthy: 'healthy',
    failing: 'failing',
    breaker_open: 'breaker open',
    held: 'held',
  };
  function renderDestinations(data) {
    $('destinations-note').textContent = data.truncated
      ? `(counted from the newest ${data.counted_from_newest} deliveries per state)`
      : '';
    $('destination-rows').replaceChildren(
      ...data.destinations.map((d) => {
        const state = el(
          'span',
          { class: `state ${d.state}` },
          STATE_NAMES[d.state] + (d.breaker ? ` (${d.breaker.replace('_', '-')})` : ''),
        );
        let action = '';
        if (d.dead_letters > 0) {
          action = el(
            'button',
            {},
            `Replay ${d.dead_letters} dead letter${d.dead_letters === 1 ? '' : 's'}`,
          );
          action.addEventListener('click', () =>
            replayDestination(d.destination, d.dead_letters, action),
          );
        }
        const rate =
          d.success_rate_15m === null
            ? '—'
            : `${Math.round(d.success_rate_15m * 100)} % of ${d.attempts_15m}`;
        return row(
          [
            code(d.destination),
            state,
            rate,
            d.in_flight,
            d.waiting,
            d.dead_letters,
            d.last_error ? el('span', {}, d.last_error, ' ', when(d.last_error_at)) : '—',
            when(d.last_success_at),
            action,
          ],
          { dataset: { destination: d.destination, state: d.state } },
        );
      }),
    );
  }

  async function replayDestination(destination, count, button) {
    if (!window.confirm(`Replay the ${count} dead letters of ${destination}?`)) return;
    button.disabled = true;
    button.textContent = 'replaying…';
    try {
      const result = await api('/v1/dashboard/destinations/replay', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ destination }),
      });
      notice(
        `${result.requeued} dead letter${result.requeued === 1 ? '' : 's'} of ${destination} requeued.`,
      );
    } catch (error) {
      notice(`Replay of ${destination} failed: ${error.message}`);
    }
    refresh();
  }
  async function replayOne(id, button) {
    button.disabled = true;
    button.textContent = 'replaying…';
    try {
      await api(`/v1/deliveries/${encodeURIComponent(id)}/replay`, { method: 'POST' });
      notice(`Delivery ${id} requeued.`);
    } catch (error) {
      notice(`Replay of ${id} failed: ${error.message}`);
    }
    refresh();
  }
  function notice(text) {
    const box = $('replay-result');
    box.textContent = `${utc(new Date())}: ${text}`;
    box.hidden = false;
  }

  // --- Charts (uPlot). ---
  const charts = {};
  const SERIES = {
    flow: [
      ['received', '#175cd3'],
      ['delivered', '#067647'],
      ['retried', '#b54708'],
      ['dead_lettered', '#b42318'],
      ['rejected', '#7a2e0e'],
    ],
    latency: [
      ['latency_p50_ms', '#175cd3'],
      ['latency_p99_ms', '#b42318'],
    ],
    oldest: [['oldest_waiting_s', '#b54708']],
  };
  function chart(name, data) {
    const target = $(`chart-${name}`);
    const columns = [data.at, ...SERIES[name].map(([key]) => data[key])];
    const width = Math.max(300, target.clientWidth || 360);
    if (!charts[name] || charts[name].width !== width) {
      charts[name]?.destroy();
      target.replaceChildren();
      charts[name] = new window.uPlot(
        {
          width,
          height: 200,
          tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
          // 24-hour clock and ISO dates on the axes, as everywhere else on the page.
          fmtDate: (template) =>
            window.uPlot.fmtDate(
              template
                .replace(/\{h\}/g, '{HH}')
                .replace(/\{aa\}/g, '')
                .replace(/\{M\}\/\{D\}\/\{YY\}/g, '{YYYY}-{MM}-{DD}')
                .replace(/\{M\}\/\{D\}/g, '{MM}-{DD}'),
            ),
          scales: { x: { time: true } },
          series: [
            {},
            ...SERIES[name].map(([key, stroke]) => ({
              label: key.replace(/_/g, ' '),
              stroke,
              width: 1.5,
              spanGaps: false,
              // A minute with data shows even when its neighbours have none.
              points: { show: true, size: 4 },
            })),
          ],
        },
        columns,
        target,
      );
    } else {
      charts[name].setData(columns);
    }
    const points = columns
      .slice(1)
      .reduce((sum, column) => sum + column.filter((v) => v !== null && v > 0).length, 0);
    target.dataset.points = String(points);
  }
  async function refreshHistory() {
    try {
      const data = await api(`/v1/dashboard/history?hours=${hours}`);
      $('flow-caption').textContent =
        `callbacks and deliveries per ${data.bucket_s === 60 ? 'minute' : `${data.bucket_s / 60} minutes`} (UTC)`;
      chart('flow', data);
      chart('latency', data);
      chart('oldest', data);
    } catch {
      // Shown by the summary's refresh.
    }
  }
  for (const button of document.querySelectorAll('.range button')) {
    button.addEventListener('click', () => {
      hours = Number(button.dataset.hours);
      for (const other of document.querySelectorAll('.range button')) {
        other.classList.toggle('chosen', other === button);
      }
      refreshHistory();
    });
  }

  // --- Drill-down and search. ---
  async function showRegistration(id) {
    const detail = $('detail');
    $('detail-id').textContent = id;
    detail.hidden = false;
    $('detail-body').replaceChildren('loading…');
    try {
      const data = await api(`/v1/dashboard/registrations/${encodeURIComponent(id)}`);
      const r = data.registration;
      const parts = [
        el(
          'p',
          {},
          `state: ${r.state}; destination: `,
          code(r.destination),
          `; callbacks received: ${r.callbacks_received}; created `,
          when(r.created_at),
          '; callback expected by ',
          when(r.expect_callback_by),
        ),
        el(
          'p',
          {},
          'parser job: ',
          code(data.parse_job.id),
          ` (${data.parse_job.api || 'api unknown'}), last heard: ${data.parse_job.state || '—'}`,
        ),
        el('h3', {}, 'Callbacks and their deliveries'),
      ];
      for (const delivery of data.deliveries) {
        parts.push(
          el(
            'p',
            { dataset: { delivery: delivery.id } },
            code(delivery.id),
            ` ${delivery.event_type} — ${delivery.state}, received `,
            when(delivery.received_at),
            delivery.replays ? `, replayed ${delivery.replays}×` : '',
          ),
          el(
            'table',
            {},
            el(
              'tbody',
              {},
              ...delivery.attempts.map((a) =>
                row([
                  `#${a.attempt}`,
                  when(a.at),
                  a.status ?? '—',
                  `${a.latency_ms} ms`,
                  a.outcome,
                  a.answer,
                ]),
              ),
            ),
          ),
        );
      }
      parts.push(
        el('h3', {}, 'Audit records'),
        el(
          'table',
          {},
          el(
            'tbody',
            {},
            ...data.audit.map((e) => row([when(e.at), code(e.type), e.actor, code(e.data)])),
          ),
        ),
      );
      $('detail-body').replaceChildren(...parts);
      detail.scrollIntoView();
    } catch (error) {
      $('detail-body').replaceChildren(`cannot show it: ${error.message}`);
    }
  }
  $('detail-close').addEventListener('click', () => {
    $('detail').hidden = true;
    if (location.hash.startsWith('#registration/')) history.replaceState(null, '', '#');
  });
  function route() {
    const match = /^#registration\/(.+)$/.exec(location.hash);
    if (match) showRegistration(decodeURIComponent(match[1]));
  }
  window.addEventListener('hashchange', route);

  $('search-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const q = $('search').value.trim();
    if (!q) return;
    $('search-results').hidden = false;
    try {
      const { hits } = await api(`/v1/dashboard/search?q=${encodeURIComponent(q)}`);
      $('search-hits').replaceChildren(
        hits.length === 0
          ? el('p', {}, `nothing found for ${q}`)
          : el(
              'ul',
              {},
              ...hits.map((hit) =>
                el(
                  'li',
                  {},
                  `${hit.kind.replace('_', ' ')} `,
                  code(hit.id),
                  ' → registration ',
                  registrationLink(hit.registration_id),
                ),
              ),
            ),
      );
      if (hits.length === 1) location.hash = `#registration/${hits[0].registration_id}`;
    } catch (error) {
      $('search-hits').replaceChildren(`search failed: ${error.message}`);
    }
  });

  // --- Refresh loop and sign-in. ---
  let historyAt = 0;
  async function refresh() {
    try {
      const [summary, destinations] = await Promise.all([
        api('/v1/dashboard/summary'),
        api('/v1/dashboard/destinations').catch(() => undefined),
      ]);
      showBoard();
      renderSummary(summary);
      if (destinations) renderDestinations(destinations);
      if (Date.now() - historyAt > HISTORY_EVERY_MS) {
        historyAt = Date.now();
        refreshHistory();
      }
    } catch (error) {
      if (error.message !== 'signed out')
        $('updated').textContent = `cannot reach the gateway: ${error.message}`;
    }
  }
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const response = await fetch('/dashboard/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: $('token').value }),
      credentials: 'same-origin',
    });
    $('token').value = '';
    if (response.ok) {
      $('login-error').textContent = '';
      historyAt = 0;
      await refresh();
      route();
    } else $('login-error').textContent = 'not a valid token';
  });
  refresh().then(route);
  setInterval(refresh, SUMMARY_EVERY_MS);
})();

// Events dashboard: reads the JSON endpoints (docs/dashboard.md) and keeps
// the page live. No framework, no build step, no inline script (CSP).
'use strict';

const POLL_MS = 2000;
const $ = (sel) => document.querySelector(sel);
const ui = { meta: null, failedAfter: null, failedPages: [], timer: null, busy: false, again: false, chain: null, pusher: null, pushed: false, pushWanted: false };

// ---- formatting: numbers with units, times relative with the exact one on hover

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'on') for (const [ev, f] of Object.entries(v)) node.addEventListener(ev, f);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
function ms(v) {
  if (v === null || v === undefined) return '–';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 1 : 0)} s`;
  if (v < 3600000) return `${(v / 60000).toFixed(1)} min`;
  if (v < 86400000) return `${(v / 3600000).toFixed(1)} h`;
  return `${(v / 86400000).toFixed(1)} d`;
}
const rate = (v) => `${v >= 10 ? v.toFixed(0) : v.toFixed(1)}/min`;
const count = (n) => Number(n).toLocaleString('en');
const pct = (p) => `${ms(p.p50)} / ${ms(p.p95)} / ${ms(p.p99)}`;
function ago(atMs) {
  const d = Date.now() - atMs;
  const text = d < 5000 ? 'just now' : `${ms(d)} ago`;
  const exact = new Date(atMs);
  return el('time', { datetime: exact.toISOString(), title: exact.toLocaleString() }, text);
}
function cell(content, cls) { return el('td', cls ? { class: cls } : {}, content); }
function fill(table, rows, emptyId) {
  const body = $(`${table} tbody`);
  // Each cell carries its column's name: narrow screens show rows as cards.
  const labels = [...document.querySelectorAll(`${table} thead th`)].map((th) => th.textContent);
  for (const row of rows) [...row.children].forEach((td, i) => td.setAttribute('data-label', labels[i] || ''));
  body.replaceChildren(...rows);
  $(table).closest('.scroll').hidden = rows.length === 0 && !!emptyId;
  const empty = $(emptyId);
  if (empty) empty.hidden = rows.length > 0;
}
function showError(text) {
  const box = $('#error');
  box.hidden = !text;
  box.textContent = text || '';
}

// ---- the API

async function api(path, method = 'GET') {
  const res = await fetch(path, { method, credentials: 'same-origin', headers: { accept: 'application/json' } });
  let body = null;
  try { body = await res.json(); } catch { body = { error: `${res.status} ${res.statusText}` }; }
  if (!res.ok) throw new Error(body && body.error ? body.error : `${res.status}`);
  return body;
}
function formQuery(form, extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim()) q.set(k, String(v).trim());
  for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
  return q.toString();
}
async function act(path, question) {
  if (question && !window.confirm(question)) return;
  try {
    const r = await api(path, 'POST');
    setLive(`${r.action}: ${count(r.touched)} touched`);
    await refresh();
  } catch (e) { showError(`${path}: ${e.message}`); }
}
function button(label, onClick, cls = 'small action') {
  return el('button', { type: 'button', class: cls, on: { click: onClick } }, label);
}

// ---- views

function renderQueues(report) {
  let pending = 0, running = 0, failed = 0, processed = 0;
  const rows = report.queues.map((q) => {
    pending += q.pending; running += q.running; failed += q.failed; processed += q.processed_per_minute;
    const state = q.paused ? el('span', { class: 'pill warn' }, 'paused') : el('span', { class: 'pill ok' }, 'running');
    const enc = encodeURIComponent(q.queue);
    const actions = el('td', { class: 'act' },
      q.paused ? button('Resume', () => act(`api/queues/${enc}/resume`))
               : button('Pause', () => act(`api/queues/${enc}/pause`, `Pause ${q.queue}? Workers stop claiming its jobs within a second.`)),
      button('Clear…', () => act(`api/queues/${enc}/clear`, `Delete the ${count(q.pending + q.delayed)} waiting job(s) of ${q.queue}? Running and failed jobs stay.`), 'small action danger'));
    return el('tr', { 'data-queue': q.queue },
      cell(q.queue, 'name'), cell(state), cell(count(q.pending), 'num'), cell(count(q.delayed), 'num'),
      cell(count(q.running), 'num'), cell(count(q.failed), 'num'), cell(ms(q.oldest_pending_ms), 'num'),
      cell(rate(q.processed_per_minute), 'num'), cell(rate(q.failed_per_minute), 'num'),
      cell(pct(q.wait_ms), 'num'), cell(pct(q.run_ms), 'num'), actions);
  });
  fill('#queues-table', rows, '#queues-empty');
  $('#total-pending').textContent = count(pending);
  $('#total-running').textContent = count(running);
  $('#failed-total').textContent = count(failed);
  $('#total-rate').textContent = processed >= 10 ? processed.toFixed(0) : processed.toFixed(1);
}
// The throughput chart: one stacked bar per step, processed under failed.
const SVG = 'http://www.w3.org/2000/svg';
function renderSeries(series) {
  const svg = $('#chart-svg');
  const n = series.points.length;
  const peak = Math.max(1, ...series.points.map((p) => p.processed + p.failed));
  const w = 600 / Math.max(n, 1);
  const bars = [];
  series.points.forEach((p, i) => {
    const tip = `${new Date(p.start_ms).toLocaleString()}: ${count(p.processed)} processed, ${count(p.failed)} failed`;
    let y = 120;
    for (const [v, cls] of [[p.processed, 'done'], [p.failed, 'failed']]) {
      if (!v) continue;
      const h = Math.max(1, (v / peak) * 116);
      y -= h;
      const r = document.createElementNS(SVG, 'rect');
      for (const [k, val] of Object.entries({ x: i * w + 0.5, y, width: Math.max(w - 1, 0.5), height: h, class: cls, 'data-start': p.start_ms })) r.setAttribute(k, val);
      const t = document.createElementNS(SVG, 'title');
      t.textContent = tip;
      r.append(t);
      bars.push(r);
    }
  });
  const desc = document.createElementNS(SVG, 'desc');
  desc.id = 'chart-desc';
  const total = series.points.reduce((a, p) => [a[0] + p.processed, a[1] + p.failed], [0, 0]);
  desc.textContent = `${count(total[0])} processed and ${count(total[1])} failed over the window`;
  svg.replaceChildren(desc, ...bars);
  svg.dataset.processed = String(total[0]);
  svg.dataset.failed = String(total[1]);
  $('#chart-h').textContent = `Jobs per ${ms(series.step_s * 1000)}`;
  $('#chart-from').textContent = n ? `${ms(Date.now() - series.points[0].start_ms)} ago` : '';
  $('#chart-peak').textContent = `peak ${count(peak)}`;
}
function renderJobs(report) {
  fill('#jobs-table', report.jobs.map((j) => el('tr', {},
    cell(j.queue), cell(j.job, 'name'), cell(rate(j.processed_per_minute), 'num'), cell(rate(j.failed_per_minute), 'num'),
    cell(`${ms(j.wait_ms.p50)} / ${ms(j.wait_ms.p95)}`, 'num'), cell(`${ms(j.run_ms.p50)} / ${ms(j.run_ms.p95)}`, 'num'))));
}
function renderWorkers(body) {
  const alive = body.workers.filter((w) => w.state !== 'stalled').length;
  $('#total-workers').textContent = count(alive);
  fill('#workers-table', body.workers.map((w) => el('tr', {},
    cell(`${w.host} · pid ${w.pid}`, 'name'),
    cell(w.state === 'stalled' ? el('span', { class: 'pill bad' }, `stalled (silent ${ms(w.silent_ms)})`) : el('span', { class: 'pill ok' }, w.state)),
    cell(w.queues.join(', ')), cell(`${count(w.running)} of ${w.concurrency}`, 'num'),
    cell(count(w.processed), 'num'), cell(count(w.failed), 'num'),
    cell(ago(w.started_at_ms)), cell(ago(w.last_beat_ms)))), '#workers-empty');
}
function renderCompleted(body) {
  fill('#completed-table', body.jobs.map((j) => el('tr', {},
    cell(ago(j.done_at_ms)), cell(j.name, 'name'), cell(j.queue), cell(ms(j.wait_ms), 'num'), cell(ms(j.run_ms), 'num'),
    cell(count(j.attempts), 'num'), cell(j.worker, 'name'))), '#completed-empty');
}
function renderGroups(body) {
  fill('#groups-table', body.groups.map((g) => el('tr', {},
    cell(count(g.count), 'num'), cell(g.name, 'name'), cell(g.kind), cell(g.message, 'msg'), cell(ago(g.last_seen_ms)),
    cell(button('Show', () => { const f = $('#failed-form'); f.reset(); f.elements.group.value = g.fingerprint; ui.failedAfter = null; refresh(); }, 'small quiet')))),
  '#groups-empty');
}
function renderFailed(body) {
  fill('#failed-table', body.jobs.map((j) => {
    const key = encodeURIComponent(j.key);
    return el('tr', { 'data-id': j.id },
      cell(ago(j.failed_at_ms)),
      cell(el('a', { href: `#failed/${j.key}`, on: { click: (e) => { e.preventDefault(); detail(j.key); } } }, j.name), 'name'),
      cell(j.queue), cell(j.reason, 'msg'), cell(count(j.attempts), 'num'),
      el('td', { class: 'act' },
        button('Retry', () => act(`api/failed/${key}/retry`)),
        button('Forget', () => act(`api/failed/${key}/forget`, `Delete failed job ${j.id}?`), 'small action danger')));
  }), '#failed-empty');
  const more = $('#failed-more');
  more.hidden = !body.next;
  more.dataset.next = body.next || '';
}
async function detail(key) {
  try {
    const j = await api(`api/failed/${encodeURIComponent(key)}`);
    const fields = [['Job', j.name], ['Queue', j.queue], ['Id', j.id], ['Failed', new Date(j.failed_at_ms).toLocaleString()],
      ['Attempts', count(j.attempts)], ['Error', j.reason], ['Tags', (j.tags || []).join(', ') || '–'],
      ['Event id', j.event_id || '–'], ['Correlation id', j.correlation_id || '–']];
    $('#detail-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    // Every attempt the envelope kept (newest last), each error with its causes.
    const attempts = (j.payload && j.payload.history) || [];
    fill('#detail-attempts', attempts.map((a) => el('tr', {},
      cell(count(a.attempt)), cell(ago(a.ended_at_ms)), cell(a.worker || '–'),
      cell(ms(a.duration_ms)), cell(a.outcome),
      cell(a.error_chain && a.error_chain.length
        ? el('ol', { class: 'causes' }, ...a.error_chain.map((e, i) => el('li', {}, i ? `caused by: ${e}` : e)))
        : '–'))), '#detail-attempts-empty');
    $('#detail-payload').textContent = JSON.stringify(j.payload, null, 2);
    $('#detail').showModal();
  } catch (e) { showError(e.message); }
}
async function bulk(action) {
  const q = formQuery($('#failed-form'));
  try {
    const { count: n } = await api(`api/failed/count?${q}`);
    if (n === 0) { setLive('no failed job matches'); return; }
    await act(`api/failed/${action}?${q}`, `${action === 'retry' ? 'Retry' : 'Forget'} the ${count(n)} failed job(s) the filters match?`);
  } catch (e) { showError(e.message); }
}

// ---- events

function renderEvents(body) {
  fill('#events-table', body.events.map((e) => el('tr', {},
    cell(e.position, 'num'), cell(ago(Date.parse(e.dispatched_at))), cell(e.name, 'name'), cell((e.tags || []).join(', ')),
    cell(button('Timeline', () => chain(e.correlation_id), 'small quiet')))), '#events-empty');
}
async function loadEvents() {
  if (!ui.meta || !ui.meta.store) { $('#events-table').closest('.scroll').hidden = true; return; }
  renderEvents(await api(`api/events?${formQuery($('#events-form'))}`));
  if (ui.chain) await chain(ui.chain, true);
}
async function chain(id, quiet) {
  ui.chain = id;
  const body = await api(`api/chains/${encodeURIComponent(id)}`);
  const canReplay = !ui.meta.read_only;
  const failedOf = (eventId) => body.failed_jobs.filter((j) => j.event_id === eventId);
  const shortName = (n) => String(n).split('::').pop();
  const hop = (cls, label, detail, at) => el('li', { class: cls }, el('strong', {}, label), ' ',
    el('span', { class: 'meta' }, detail, at ? ' · ' : null, at ? ago(Date.parse(at)) : null));
  const hopsOf = (e) => {
    const items = [];
    for (const l of e.listeners || []) {
      items.push(hop(l.ok ? '' : 'failed', `listener ${shortName(l.listener)}`,
        `${l.ok ? 'ran' : `failed: ${l.error}`} in ${ms(l.duration_ms)}`, l.started_at));
    }
    for (const q of e.queued || []) {
      items.push(hop(q.ok ? '' : 'failed', `queued ${shortName(q.listener)}`,
        q.ok ? `on ${q.queue}` : `not queued: ${q.error}`, q.started_at));
    }
    for (const j of e.jobs || []) {
      items.push(hop(j.ok ? '' : 'failed', `job ${shortName(j.listener)} · attempt ${count(j.attempt)}`,
        `${j.outcome} on ${j.queue} by worker ${j.worker} · waited ${ms(j.waited_ms)}, ran ${ms(j.duration_ms)}${j.error ? `: ${j.error}` : ''}`, j.started_at));
    }
    for (const b of e.broadcasts || []) {
      const receivers = b.receivers === null ? '' : ` to ${count(b.receivers)} connection(s)`;
      items.push(hop(b.ok ? '' : 'failed', `broadcast ${b.event}`,
        `${b.ok ? 'sent' : `failed: ${b.error}`} on ${b.channels.join(', ')}${receivers}`, b.started_at));
    }
    for (const j of failedOf(e.id)) {
      items.push(hop('failed', `failed job ${shortName(j.name)}`,
        `on ${j.queue} after ${count(j.attempts)} attempt(s): ${j.reason}`, new Date(j.failed_at_ms).toISOString()));
    }
    return items.length ? el('ul', { class: 'chain' }, ...items) : null;
  };
  // An HTTP request that caused the chain (event-core's `http` layer): the root.
  const requestNode = (e) => el('li', { class: `d0 request${e.request.ok ? '' : ' failed'}`, 'data-id': e.id },
    el('strong', {}, `request ${e.name}`), ' ',
    el('span', { class: 'meta' }, `${e.request.status === null ? 'no response' : `answered ${e.request.status}`} in ${ms(e.request.duration_ms)}${e.request.error ? `: ${e.request.error}` : ''} · origin`),
    el('div', { class: 'meta' }, `${e.id} · `, ago(Date.parse(e.dispatched_at))),
    hopsOf(e));
  const items = body.events.map((e) => e.kind === 'request' ? requestNode(e) : el('li', { class: `d${Math.min(e.depth, 4)}${e.replay_of ? ' replay' : ''}`, 'data-id': e.id },
    el('strong', {}, e.name), ' ', el('span', { class: 'meta' }, e.replay_of ? `replay of ${e.replay_of}` : (e.parent ? `caused by ${e.parent}` : 'origin')),
    el('div', { class: 'meta' }, `${e.id} · `, ago(Date.parse(e.dispatched_at)),
      e.replay_of || !canReplay ? null : button('Replay', () => replay(e.id, e.name), 'small action')),
    hopsOf(e)));
  const known = new Set(body.events.map((e) => e.id));
  for (const j of body.failed_jobs.filter((f) => !known.has(f.event_id))) {
    items.push(el('li', { class: 'failed' }, el('strong', {}, `failed job: ${j.name}`), ' ',
      el('span', { class: 'meta' }, `on ${j.queue} after ${count(j.attempts)} attempt(s): ${j.reason}`)));
  }
  $('#chain-h').textContent = `Chain ${id}${body.truncated ? ' (first 1,000 events)' : ''}`;
  $('#chain-list').replaceChildren(...items);
  $('#chain').hidden = false;
  if (!quiet) $('#chain').scrollIntoView({ block: 'nearest' });
}

async function replay(id, name) {
  const where = ui.meta.replay ? '' : ' The app\'s workers run it (`cargo run --bin artisan -- queue:work`).';
  if (!window.confirm(`Run the listeners of ${name} (${id}) again? Listeners marked replayable = false are skipped.${where}`)) return;
  try {
    const r = await api(`api/events/${encodeURIComponent(id)}/replay`, 'POST');
    if (r.handed_to === 'workers') {
      setLive(`replay handed to the workers (job ${r.job}): it shows here once \`queue:work\` has run it`);
    } else {
      const failed = r.failures.length ? `, ${r.failures.length} failed: ${r.failures.map((f) => f.error).join('; ')}` : '';
      setLive(`replay: ${count(r.touched)} listener(s) ran, ${count(r.skipped)} skipped${failed}`);
      if (r.failures.length) showError(`replay of ${id}: ${r.failures.map((f) => `${f.listener || name}: ${f.error}`).join('; ')}`);
    }
    await refresh();
  } catch (e) { showError(`replay of ${id}: ${e.message}`); }
}

// ---- live: push over the broadcast server when the dashboard has it
// (api/meta's `live.mode` is "push"), polling otherwise or while the socket
// is down. A hidden tab takes no update either way.

function setLive(text, cls = '') {
  const live = $('#live');
  live.textContent = text;
  live.className = `live ${cls}`;
}
async function refresh() {
  // A hidden tab takes no update (shown again, it refreshes at once).
  if (document.visibilityState !== 'visible') return;
  if (ui.busy) { ui.again = true; return; }
  ui.busy = true;
  try {
    const win = $('#window').value;
    const failedQ = formQuery($('#failed-form'), { after: ui.failedAfter });
    const [queues, jobs, series, workers, completed, groups, failed] = await Promise.all([
      api(`api/queues?window=${win}`), api(`api/jobs?window=${win}`), api(`api/series?window=${win}`), api('api/workers'),
      api('api/completed?limit=20'), api('api/failed/groups'), api(`api/failed?${failedQ}`)]);
    // Hidden while the requests ran: what they read is not shown.
    if (document.visibilityState !== 'visible') return;
    renderQueues(queues); renderJobs(jobs); renderSeries(series); renderWorkers(workers); renderCompleted(completed);
    renderGroups(groups); renderFailed(failed);
    await loadEvents();
    // Hidden while the events loaded: the "paused" line stays.
    if (document.visibilityState !== 'visible') return;
    showError('');
    const at = new Date().toLocaleTimeString();
    if (ui.pushed) setLive(`live: pushed by the broadcast server · updated ${at}`, 'push');
    else setLive(`polling every ${POLL_MS / 1000} s${ui.pushWanted ? ' (the broadcast server is unreachable)' : ''} · updated ${at}`, ui.pushWanted ? 'stopped' : '');
    document.body.dataset.updated = String(Date.now());
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } catch (e) {
    if (document.visibilityState !== 'visible') return;
    setLive(ui.pushed ? 'live: the last update failed' : 'polling: the last update failed', 'down');
    showError(e.message);
  } finally {
    ui.busy = false;
    if (ui.again) { ui.again = false; setTimeout(refresh, 0); }
  }
}
function startPolling() {
  stopPolling();
  refresh();
  ui.timer = setInterval(refresh, POLL_MS);
}
function stopPolling() {
  if (ui.timer) clearInterval(ui.timer);
  ui.timer = null;
}
// Push: one subscription; a frame says what changed and the page fetches
// it. Until the subscription holds (and whenever the socket drops) the
// page polls.
function startPush(live) {
  if (typeof Pusher === 'undefined') { startPolling(); return; }
  const pusher = new Pusher(live.key, {
    wsHost: live.host, wsPort: live.port, wssPort: live.port, forceTLS: live.tls,
    enabledTransports: [live.tls ? 'wss' : 'ws'], disableStats: true, cluster: 'events',
    channelAuthorization: { endpoint: live.auth_endpoint, transport: 'ajax' },
  });
  ui.pusher = pusher;
  const channel = pusher.subscribe(live.channel);
  channel.bind('pusher:subscription_succeeded', () => { ui.pushed = true; stopPolling(); refresh(); });
  channel.bind('pusher:subscription_error', (e) => { ui.pushed = false; showError(`live updates refused: ${e && e.error ? e.error : e.status}`); if (!ui.timer) startPolling(); });
  channel.bind(live.event, () => { if (document.visibilityState === 'visible') refresh(); });
  pusher.connection.bind('state_change', ({ current }) => {
    if (current === 'connected') return; // the subscription (re)succeeds and stops polling
    if (ui.pushed || current === 'unavailable' || current === 'failed') {
      ui.pushed = false;
      if (document.visibilityState === 'visible' && !ui.timer) startPolling();
    }
  });
}
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = el('script', { src });
    s.addEventListener('load', resolve);
    s.addEventListener('error', () => reject(new Error(`${src} did not load`)));
    document.head.append(s);
  });
}
function resume() {
  if (ui.pusher) { ui.pusher.connect(); if (!ui.pushed) startPolling(); else refresh(); }
  else startPolling();
}
function pause() {
  stopPolling();
  if (ui.pusher) { ui.pushed = false; ui.pusher.disconnect(); }
  setLive('paused while the tab is hidden', 'stopped');
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') pause();
  else resume();
});

async function start() {
  try { ui.meta = await api('api/meta'); } catch (e) { setLive('not connected', 'down'); showError(e.message); return; }
  document.body.classList.toggle('read-only', ui.meta.read_only);
  $('#conn').textContent = `${ui.meta.connection} connection${ui.meta.read_only ? ' · read-only' : ''}`;
  $('#events-off').hidden = ui.meta.store;
  $('#events-form').hidden = !ui.meta.store;
  $('#window').addEventListener('change', refresh);
  $('#failed-form').addEventListener('submit', (e) => { e.preventDefault(); ui.failedAfter = null; refresh(); });
  $('#failed-form').addEventListener('reset', () => { ui.failedAfter = null; setTimeout(refresh, 0); });
  $('#failed-more').addEventListener('click', () => { ui.failedAfter = $('#failed-more').dataset.next; refresh(); });
  $('#bulk-retry').addEventListener('click', () => bulk('retry'));
  $('#bulk-forget').addEventListener('click', () => bulk('forget'));
  $('#events-form').addEventListener('submit', (e) => { e.preventDefault(); loadEvents().catch((x) => showError(x.message)); });
  if (ui.meta.read_only) for (const b of document.querySelectorAll('.action')) b.remove();
  ui.pushWanted = ui.meta.live.mode === 'push';
  if (ui.pushWanted) {
    startPolling(); // until the subscription holds
    try { await loadScript('assets/pusher.min.js'); startPush(ui.meta.live); } catch (e) { showError(e.message); }
    if (document.visibilityState !== 'visible') pause();
  } else if (document.visibilityState === 'visible') startPolling();
  else setLive('paused while the tab is hidden', 'stopped');
}
start();

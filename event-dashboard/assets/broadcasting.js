// Events dashboard, the Broadcasting part: reads api/broadcasting (the
// broadcast server's nodes, channels and presence members) once at load,
// then every 2 s while the part is on screen and the tab is shown (the
// server pushes no figures of its own; a page that does not show the part
// asks nothing). Uses app.js's helpers (el, cell, fill, count, ago, ms, api).
// No inline script (CSP).
'use strict';

const BC_EVERY_MS = 2000;
const bc = { timer: null, busy: false, inView: false };

function bcShow(id, shown) { document.getElementById(id).hidden = !shown; }
function renderBroadcasting(b) {
  bcShow('bc-off', !b.configured);
  bcShow('bc-on', b.configured);
  if (!b.configured) {
    document.getElementById('bc-off').textContent = b.how;
    document.getElementById('bc-status').textContent = 'not configured';
    return;
  }
  const nodes = b.nodes || [];
  document.getElementById('bc-nodes').textContent = b.nodes ? count(nodes.filter((n) => n.alive).length) : '?';
  document.getElementById('bc-connections').textContent = count(b.connections);
  document.getElementById('bc-rate').textContent = b.messages_per_second >= 10 ? b.messages_per_second.toFixed(0) : b.messages_per_second.toFixed(1);
  document.getElementById('bc-channels').textContent = `${count(b.channels.length)}${b.channels_truncated ? '+' : ''}`;
  const empty = document.getElementById('nodes-empty');
  empty.textContent = b.nodes ? 'The server lists no node.' : `This server does not list its nodes (${b.nodes_error}); event-broadcast-server does, at GET /apps/{id}/nodes.`;
  fill('#nodes-table', nodes.map((n) => el('tr', { 'data-node': n.id },
    cell(n.id, 'name'),
    cell(n.alive ? el('span', { class: 'pill ok' }, 'alive') : el('span', { class: 'pill bad' }, `gone (silent ${ms(Date.now() - n.last_beat_ms)})`)),
    cell(count(n.connections), 'num'), cell(count(n.channels), 'num'),
    cell(`${n.messages_per_second >= 10 ? n.messages_per_second.toFixed(0) : n.messages_per_second.toFixed(1)}/s`, 'num'),
    cell(ago(n.started_at_ms)), cell(ago(n.last_beat_ms)))), '#nodes-empty');
  fill('#channels-table', b.channels.map((c) => el('tr', { 'data-channel': c.name },
    cell(c.name, 'name'), cell(count(c.subscription_count ?? 0), 'num'),
    cell(c.presence ? `${count(c.user_count ?? c.members.length)}: ${c.members.join(', ')}${c.members_truncated ? ', …' : ''}` : '–', 'msg'))),
  '#channels-empty');
  document.getElementById('bc-status').textContent = `${b.server} · read ${new Date().toLocaleTimeString()}`;
}
async function refreshBroadcasting() {
  if (bc.busy || document.visibilityState !== 'visible') return;
  bc.busy = true;
  const error = document.getElementById('bc-error');
  try {
    renderBroadcasting(await api('api/broadcasting'));
    error.hidden = true;
  } catch (e) {
    error.textContent = `the broadcast server could not be read: ${e.message}`;
    error.hidden = false;
    document.getElementById('bc-status').textContent = 'unreachable';
  } finally {
    bc.busy = false;
  }
}
function startBroadcasting() {
  if (bc.timer) clearInterval(bc.timer);
  bc.timer = setInterval(() => { if (bc.inView) refreshBroadcasting(); }, BC_EVERY_MS);
}
new IntersectionObserver((seen) => {
  bc.inView = seen.some((e) => e.isIntersecting);
  if (bc.inView) refreshBroadcasting();
}).observe(document.getElementById('broadcasting'));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') { clearInterval(bc.timer); bc.timer = null; } else startBroadcasting();
});
refreshBroadcasting();
startBroadcasting();

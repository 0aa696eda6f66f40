// Headless Chromium over the DevTools protocol against the events
// dashboard (no browser download: Debian's /usr/bin/chromium):
//   node dashboard.mjs <dashboard url with ?token=> <screenshot folder> <second order>
// The same scenario runs on every queue connection (sqlite, redis,
// postgres), with the app's worker in a separate process. Opens the page,
// waits for the failed count the Rust side seeded, prints READY 1; the
// Rust side then fails one more job (the second order) on the worker
// process, and the open page must show it in its counter and its failed
// list within the polling interval of the failure, without reload. Then
// retry from the page (the job runs again on the worker), pause from the
// page (the Rust side checks no job is claimed), and Replay on a stored
// event's timeline (the worker process runs its listener; the timeline
// shows the replay under the original, and the Rust side checks the
// listener ran). At each `READY`/`SHOWN`/`PAUSED`/`REPLAY`/`REPLAYED` line
// the Rust side acts and answers `go` on stdin. A hidden tab stops
// polling. Saves screenshots of the page and of the timeline at 375 and
// 1440 px (light and dark), prints PASS.
import { openChromium } from './cdp.mjs';
import { axeScanner, keyboardWalk } from './axe.mjs';
import { screenshots } from './shots.mjs';

const [url, shots, second] = process.argv.slice(2);
const browser = await openChromium();
const { cdp, js, text, until, fail, step, sleep, cleanup, problems, port, page, ws } = browser;
const scan = await axeScanner(browser);
const shot = screenshots(browser, shots);
const POLL_MS = 2000;

await cdp('Page.enable');
await cdp('Runtime.enable');
await cdp('Log.enable');
await cdp('Page.navigate', { url });
await until('the page shows the seeded failed job and says it is polling',
  async () => (await text('#failed-total')) === '1' && (await text('#live'))?.startsWith('polling every'), 15000);
const live = await text('#live');
console.log(`ok the page shows 1 failed job and says "${live}"`);
if ((await js('location.search')).includes('token')) await fail('the token stayed in the address bar');
await js('window.__sameDocument = true');
await until('the Broadcasting part says how to configure a server', async () => (await js(`!document.querySelector('#bc-off').hidden`))
  && (await text('#bc-off'))?.includes('EVENTS_BROADCAST_CONNECTION'), 3500);
console.log('ok without a broadcast server the Broadcasting part says how to configure one');
await scan('the first load (parts with nothing yet say what to do)');
await step('READY 1');

// The Rust side answers once the job has failed on the worker process.
const took = await until('the new failure appears in the counter and the failed list', async () => (await text('#failed-total')) === '2'
  && (await text('#failed-table tbody'))?.includes(`card declined for order ${second}`), POLL_MS + 1000);
if (!(await js('window.__sameDocument === true'))) await fail('the page was reloaded');
if (!(await text('#live'))?.startsWith('polling every')) await fail(`the page does not say it polls: "${await text('#live')}"`);
console.log(`ok the job that failed on the worker process appeared ${took} ms after it failed (polling every ${POLL_MS} ms), without reload`);

const workers = await text('#workers-table tbody');
if (!workers.includes('pid')) await fail(`the running worker is not listed: "${workers}"`);
console.log('ok the worker is listed');

// Retry from the page: the card now goes through, the job completes.
await step('SHOWN 2');
const clicked = await js(`(() => {
  const row = [...document.querySelectorAll('#failed-table tbody tr')].find((r) => r.textContent.includes('order ${second}'));
  const b = row && [...row.querySelectorAll('button')].find((x) => x.textContent === 'Retry');
  if (b) b.click();
  return !!b;
})()`);
if (!clicked) await fail('no Retry button on the failed job');
const ran = await until('the retried job completes', async () => (await text('#failed-total')) === '1'
  && (await text('#completed-table tbody'))?.includes('ChargeCardListener'), 3500);
console.log(`ok retry from the page ran the job on the worker (shown after ${ran} ms)`);

// The chart counts what ran: two failures and the retried job, as bars.
const bars = await until('the chart shows the failures and the retried job', async () => {
  const d = await js(`(() => { const s = document.querySelector('#chart-svg'); return s ? [Number(s.dataset.processed), Number(s.dataset.failed), s.querySelectorAll('rect.done').length, s.querySelectorAll('rect.failed').length] : null; })()`);
  return d && d[0] >= 1 && d[1] >= 2 && d[2] >= 1 && d[3] >= 1;
}, 5000);
console.log(`ok the chart shows processed and failed bars (after ${bars} ms): "${await js("document.querySelector('#chart-desc').textContent")}"`);

// Pause from the page (its confirm() accepted): the queue shows paused.
const paused = await js(`(() => {
  const b = [...document.querySelectorAll('#queues-table button')].find((x) => x.textContent === 'Pause');
  if (b) b.click();
  return !!b;
})()`);
if (!paused) await fail('no Pause button');
await until('the queue shows paused', async () => (await text('#queues-table tbody'))?.includes('paused')
  && (await js(`!!([...document.querySelectorAll('#queues-table button')].find((x) => x.textContent === 'Resume'))`)), 3500);
console.log('ok pause from the page: the queue shows paused and offers Resume');
await step('PAUSED');

// An event's timeline, with a Replay button on the stored event (the
// standalone dashboard hands a replay to the app's workers).
const opened = await js(`(() => {
  const b = [...document.querySelectorAll('#events-table button')].find((x) => x.textContent === 'Timeline');
  if (b) b.click();
  return !!b;
})()`);
if (!opened) await fail('no Timeline button on a stored event');
await until('the timeline shows with a Replay button', async () => js(`!!([...document.querySelectorAll('#chain-list button')].find((x) => x.textContent === 'Replay'))`), 3500);
console.log('ok the timeline opens and offers Replay on the stored event');

// Replay from the page: the card is fixed now (the Rust side tells the
// worker at REPLAY), the standalone dashboard hands the replay to the
// worker process, and the timeline shows the replay under the original.
await step('REPLAY');
const origin = await js(`(() => {
  const li = [...document.querySelectorAll('#chain-list li[data-id]')].find((l) => [...l.querySelectorAll('button')].some((b) => b.textContent === 'Replay'));
  const b = li && [...li.querySelectorAll('button')].find((x) => x.textContent === 'Replay');
  if (b) b.click();
  return li ? li.dataset.id : null;
})()`);
if (!origin) await fail('no Replay button on the timeline');
const replayed = await until('the timeline shows the replay under the original', async () => js(`(() => {
  const items = [...document.querySelectorAll('#chain-list li[data-id]')];
  const at = items.findIndex((l) => l.dataset.id === ${JSON.stringify(origin)});
  const r = items.findIndex((l) => l.dataset.id !== ${JSON.stringify(origin)} && l.classList.contains('replay')
    && l.textContent.includes('replay of ' + ${JSON.stringify(origin)}));
  return at >= 0 && r > at;
})()`), 8000);
console.log(`ok Replay from the page: the worker process ran it and the timeline shows "replay of ${origin}" under it (after ${replayed} ms)`);
await step(`REPLAYED ${origin}`);
// The timeline, as the user sees it, at both widths.
await js(`document.querySelector('#chain').scrollIntoView()`);
for (const dark of [false, true]) for (const width of [1440, 375]) await shot(`timeline-${width}-${dark ? 'dark' : 'light'}`, width, dark, '#chain');
await cdp('Emulation.setDeviceMetricsOverride', { width: 1440, height: 900, deviceScaleFactor: 1, mobile: false });
await cdp('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'light' }] });

// Every part shown with data (the per-job table unfolded, a chain open),
// then a failed job's detail dialog: scanned in light and dark.
await js(`document.querySelector('#jobs-box').open = true`);
const hidden = await js(`['#queues-table', '#jobs-table', '#groups-table', '#failed-table', '#workers-table', '#completed-table', '#events-table', '#chain-list']
  .filter((s) => { const e = document.querySelector(s); return !e || !e.offsetParent || !e.querySelector('tbody tr, li'); })`);
if (hidden.length) await fail(`parts without rows to scan: ${hidden.join(', ')}`);
await scan('every part with rows (queues, per job name, failed, workers, completed, events, a chain with its replay)');
await js(`document.querySelector('#failed-table tbody a').click()`);
await until('the failed job detail opens', async () => js(`document.querySelector('#detail').open`), 3500);
await until('the detail lists the failed attempt with its error', async () => js(`(() => {
  const rows = [...document.querySelectorAll('#detail-attempts tbody tr')];
  return rows.length >= 1 && rows.some((r) => r.textContent.includes('failed') && r.textContent.includes('card declined for order'));
})()`), 3500);
console.log('ok the failed job detail lists its attempts with their errors');
await scan('a failed job\'s detail dialog');
await js(`document.querySelector('#detail form button').click()`);
await until('the detail closes', async () => !(await js(`document.querySelector('#detail').open`)), 3500);
await keyboardWalk(browser, ['Queues', 'Failed', 'Broadcasting', 'Resume', 'Retry', 'Forget', 'Search', 'Timeline']);

const light = await shot('dashboard-1440-light', 1440, false);
await shot('dashboard-375-light', 375, false);
const dark = await shot('dashboard-1440-dark', 1440, true);
await shot('dashboard-375-dark', 375, true);
await scan('every part at 375 px (table rows as cards)');
await cdp('Emulation.setDeviceMetricsOverride', { width: 1440, height: 900, deviceScaleFactor: 1, mobile: false });
if (light === dark) await fail(`dark mode did not change the background (${light})`);
console.log(`ok dark mode follows the system (${light} -> ${dark})`);
// A hidden tab stops polling; shown again, it updates at once.
await fetch(`http://127.0.0.1:${port}/json/new?about:blank`, { method: 'PUT' });
await until('the tab is hidden', async () => (await js('document.visibilityState')) === 'hidden', 3000);
await until('the page says it stopped', async () => (await text('#live')) === 'paused while the tab is hidden', 1000);
const before = await js('document.body.dataset.updated');
await sleep(4500);
if ((await js('document.body.dataset.updated')) !== before) await fail('a hidden tab kept polling');
console.log('ok a hidden tab stops polling and says so');
await fetch(`http://127.0.0.1:${port}/json/activate/${page.id}`);
const back = await until('the shown tab updates', async () => (await js('document.body.dataset.updated')) !== before
  && (await text('#live'))?.startsWith('polling every'), 1500);
console.log(`ok shown again, it updated after ${back} ms`);
const csp = problems.filter((p) => /Content Security Policy|Refused/i.test(p));
if (csp.length) await fail(`the page broke its CSP: ${csp.join(' | ')}`);
if (problems.length) await fail(`the console has errors: ${problems.join(' | ')}`);
console.log('ok no console error, no CSP violation');
console.log('PASS');
ws.close();
await cleanup();
process.exit(0);

// The dashboard live by push, in headless Chromium:
//   node dashboard_push.mjs <dashboard url with ?token=> <screenshot folder> <pushed order> <polled order>
// The page subscribes over pusher-js to the broadcast server and says so;
// while nothing changes it fetches nothing (no polling); a job that fails
// on the worker process (the Rust side fails the pushed order at READY and
// answers once it has failed) appears in the counter and the failed list
// within 1 s, without reload. The Broadcasting part, scrolled into view,
// lists the server's node alive, the page's own channel with its
// subscription and a presence channel's member (scanned by axe, light and
// dark). When the broadcast server stops (at SERVER), the page falls back
// to polling and says why, and the Broadcasting part says the server is
// gone; a job that fails then (the polled order, at POLLING) appears
// within the polling interval. Prints PASS.
import fs from 'node:fs';
import path from 'node:path';
import { openChromium } from './cdp.mjs';
import { axeScanner } from './axe.mjs';

const [url, shots, pushed, polled] = process.argv.slice(2);
const POLL_MS = 2000;
fs.mkdirSync(shots, { recursive: true });
const browser = await openChromium();
const { cdp, js, text, until, fail, step, sleep, cleanup, problems, ws } = browser;
const scan = await axeScanner(browser);

await cdp('Page.enable');
await cdp('Runtime.enable');
await cdp('Log.enable');
await cdp('Page.navigate', { url });
await until('the page subscribes and says it is live by push',
  async () => (await text('#live'))?.startsWith('live: pushed by the broadcast server'), 15000);
console.log(`ok the page says "${await text('#live')}"`);
const failedBefore = await text('#failed-total');

// Quiet: no fetch while nothing changes.
const refreshes = await js('document.body.dataset.refreshes');
await sleep(3000);
const after = await js('document.body.dataset.refreshes');
if (after !== refreshes) await fail(`the page fetched ${after - refreshes} time(s) in 3 s with nothing changing: it polls`);
console.log('ok nothing changes, nothing is fetched (no polling)');

await js('window.__sameDocument = true');
const shows = (n, order) => async () => (await text('#failed-total')) === String(Number(failedBefore) + n)
  && (await text('#failed-table tbody'))?.includes(`card declined for order ${order}`);
await step('READY');
const took = await until('the pushed failure appears in the counter and the failed list within 1 s', shows(1, pushed), 1000);
if (!(await js('window.__sameDocument === true'))) await fail('the page was reloaded');
console.log(`ok the job that failed on the worker process appeared ${took} ms after it failed, by push, without reload`);
const png = await cdp('Page.captureScreenshot', { format: 'png' });
fs.writeFileSync(path.join(shots, 'dashboard-push.png'), Buffer.from(png.result.data, 'base64'));

// The Broadcasting part: the server's one node, this page's own
// subscription to the dashboard's channel, and the presence channel the
// Rust side joined as alice.
await js(`document.querySelector('#broadcasting').scrollIntoView()`);
await until('the Broadcasting part lists the node and the page\'s channel', async () => {
  const nodes = await text('#nodes-table tbody');
  const row = await js(`document.querySelector('#channels-table tr[data-channel="private-events-dashboard"]')?.textContent ?? null`);
  const room = await js(`document.querySelector('#channels-table tr[data-channel="presence-room"]')?.textContent ?? null`);
  return nodes?.includes('alive') && row?.includes('1') && room?.includes('1: alice') && (await text('#bc-nodes')) === '1';
}, 5000);
console.log(`ok the Broadcasting part: node "${await text('#nodes-table tbody')}", channels "${await text('#channels-table tbody')}"`);
await scan('the Broadcasting part with a server');
const bcPng = await cdp('Page.captureScreenshot', { format: 'png' });
fs.writeFileSync(path.join(shots, 'dashboard-broadcasting.png'), Buffer.from(bcPng.result.data, 'base64'));

await step('SERVER');
await until('without the server the page polls and says why',
  async () => (await text('#live'))?.includes('the broadcast server is unreachable'), 10000);
console.log(`ok without the broadcast server: "${await text('#live')}"`);
await until('the Broadcasting part says the server is unreachable', async () => (await js(`!document.querySelector('#bc-error').hidden`))
  && (await text('#bc-status')) === 'unreachable', 5000);
console.log(`ok the Broadcasting part: "${await text('#bc-error')}"`);
await step('POLLING');
const late = await until('without the server a failure appears within the polling interval', shows(2, polled), POLL_MS + 1000);
if (!(await text('#live'))?.startsWith(`polling every ${POLL_MS / 1000} s (the broadcast server is unreachable)`)) await fail(`the page does not say it polls: "${await text('#live')}"`);
console.log(`ok without the broadcast server the next failure appeared ${late} ms after it failed, and the page says "${await text('#live')}"`);

const csp = problems.filter((p) => /Content Security Policy/i.test(p));
if (csp.length) await fail(`the page broke its CSP: ${csp.join(' | ')}`);
console.log('PASS');
ws.close();
await cleanup();
process.exit(0);

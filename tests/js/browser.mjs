// Headless Chromium over the DevTools protocol (no browser download: Debian's
// /usr/bin/chromium):  node browser.mjs <page url> <screenshot.png>
// Loads the page, prints READY once it has subscribed to its public and
// private channels, waits until it shows both events the Rust side
// dispatches, saves a screenshot, prints PASS.
// CHROMIUM_TRUST_CERT=<cert.pem>: Chromium accepts that certificate's key
// (--ignore-certificate-errors-spki-list), for a page using wss://.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

const [url, shot] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-'));
const trust = [];
if (process.env.CHROMIUM_TRUST_CERT) {
  const cert = new crypto.X509Certificate(fs.readFileSync(process.env.CHROMIUM_TRUST_CERT));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  trust.push(`--ignore-certificate-errors-spki-list=${crypto.createHash('sha256').update(spki).digest('base64')}`);
}
const chrome = spawn('/usr/bin/chromium', [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ...trust, `--user-data-dir=${profile}`, '--remote-debugging-port=0', '--window-size=900,500', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe'] });
const cleanup = async () => {
  const exited = new Promise((r) => (chrome.exitCode !== null ? r() : chrome.once('exit', r)));
  try { chrome.kill('SIGKILL'); } catch {}
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  try { fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 }); } catch {}
};
const fail = async (why) => { console.log(`FAIL ${why}`); await cleanup(); process.exit(1); };
setTimeout(() => fail('timed out'), 45000).unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let port = null;
for (let i = 0; i < 200 && !port; i++) {
  try { port = fs.readFileSync(path.join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0]; } catch { await sleep(50); }
}
if (!port) fail('chromium did not open its DevTools port');

const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const page = targets.find((t) => t.type === 'page');
if (!page) fail('no page target');
const ws = new WebSocket(page.webSocketDebuggerUrl);
await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
let id = 0;
const pending = new Map();
ws.on('message', (m) => { const msg = JSON.parse(m); if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); } });
const cdp = (method, params = {}) => new Promise((resolve) => { const n = ++id; pending.set(n, resolve); ws.send(JSON.stringify({ id: n, method, params })); });
const title = async () => (await cdp('Runtime.evaluate', { expression: 'document.title', returnByValue: true })).result?.result?.value;
const until = async (want, ms) => {
  const t0 = Date.now();
  for (;;) {
    const t = await title();
    if (t === want) return;
    if (t && t.startsWith('error')) fail(`page: ${t}`);
    if (Date.now() - t0 > ms) fail(`page title stayed "${t}", wanted "${want}"`);
    await sleep(50);
  }
};

await cdp('Page.enable');
await cdp('Page.navigate', { url });
await until('ready', 15000);
console.log('ok the page subscribed to a public and a private channel');
console.log('READY');
await until('done', 15000);
const text = (await cdp('Runtime.evaluate', { expression: 'document.body.innerText', returnByValue: true })).result.result.value;
if (!text.includes('Hello from Rust') || !text.includes('"order_id":1')) fail(`page text: ${text}`);
console.log('ok the page shows both events');
const png = await cdp('Page.captureScreenshot', { format: 'png' });
fs.writeFileSync(shot, Buffer.from(png.result.data, 'base64'));
console.log(`ok screenshot ${shot}`);
console.log('PASS');
ws.close();
await cleanup();
process.exit(0);

// Headless Chromium (Debian's /usr/bin/chromium, no browser download)
// driven over the DevTools protocol, for the dashboard's browser tests:
//   const b = await openChromium(); await b.cdp('Page.navigate', { url });
// `step(line)` prints a line and waits for the Rust side's `go` on stdin.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import WebSocket from 'ws';

export async function openChromium() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-'));
  const chrome = spawn('/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', '--window-size=1440,900', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const cleanup = async () => {
    const exited = new Promise((r) => (chrome.exitCode !== null ? r() : chrome.once('exit', r)));
    try { chrome.kill('SIGKILL'); } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    try { fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 }); } catch {}
  };
  const fail = async (why) => { console.log(`FAIL ${why}`); await cleanup(); process.exit(1); };
  setTimeout(() => fail("timed out"), 120000).unref();

  const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const step = async (line) => { console.log(line); const go = await stdin.next(); if (go.done) await fail(`no answer to ${line}`); };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let port = null;
  for (let i = 0; i < 200 && !port; i++) {
    try { port = fs.readFileSync(path.join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0]; } catch { await sleep(50); }
  }
  if (!port) await fail('chromium did not open its DevTools port');
  let page = null;
  for (let i = 0; i < 100 && !page; i++) {
    try { page = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()).find((t) => t.type === 'page'); } catch {}
    if (!page) await sleep(50);
  }
  if (!page) await fail('no page target');
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  let id = 0;
  const pending = new Map();
  const problems = [];
  ws.on('message', (m) => {
    const msg = JSON.parse(m);
    if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
    if (msg.method === 'Log.entryAdded' && ['error', 'warning'].includes(msg.params.entry.level)) problems.push(msg.params.entry.text);
    if (msg.method === 'Page.javascriptDialogOpening') {
      console.log(`ok the page asked: ${msg.params.message}`);
      ws.send(JSON.stringify({ id: ++id, method: 'Page.handleJavaScriptDialog', params: { accept: true } }));
    }
    if (msg.method === 'Runtime.exceptionThrown') problems.push(msg.params.exceptionDetails.exception?.description || msg.params.exceptionDetails.text);
  });
  const cdp = (method, params = {}) => new Promise((resolve) => { const n = ++id; pending.set(n, resolve); ws.send(JSON.stringify({ id: n, method, params })); });
  const js = async (expression) => (await cdp('Runtime.evaluate', { expression, returnByValue: true })).result?.result?.value;
  const text = (sel) => js(`document.querySelector(${JSON.stringify(sel)})?.textContent ?? null`);
  const until = async (what, check, ms) => {
    const t0 = Date.now();
    for (;;) {
      if (await check()) return Date.now() - t0;
      if (Date.now() - t0 > ms) await fail(`${what}: not within ${ms} ms (failed count "${await text('#failed-total')}", live "${await text('#live')}", error "${await text('#error')}")`);
      await sleep(50);
    }
  };
  return { cdp, js, text, until, fail, step, sleep, cleanup, problems, port, page, ws };
}

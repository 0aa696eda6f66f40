// Bad frames next to a healthy pusher-js client, driven by
// event-broadcast-server/tests/js_clients.rs:
//   node frames.mjs <port>
// A pusher-js client subscribed to `news` receives a Headline (sent with the
// `pusher` SDK) before, between and after two raw `ws` clients misbehave:
// one sends truncated JSON (it must get pusher:error 4200 and stay usable),
// one a 4 MiB frame (it must be closed with 1009, message too big). Prints
// one `ok <check>` line per check, `PASS` at the end; exits 1 with
// `FAIL <reason>` otherwise.
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';

const port = Number(process.argv[2]);
const appId = 'js-app', key = 'js-key', secret = 'js-secret';
const sdk = new PusherServer({ appId, key, secret, host: '127.0.0.1', port: String(port), useTLS: false });

const fail = (why) => { console.log(`FAIL ${why}`); process.exit(1); };
setTimeout(() => fail('timed out'), 40000).unref();
const ok = (what) => console.log(`ok ${what}`);
const waitFor = (pred, what, ms = 8000) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  const tick = () => { const v = pred(); if (v) return resolve(v); if (Date.now() - t0 > ms) return reject(new Error(`waiting for ${what}`)); setTimeout(tick, 20); };
  tick();
});

/// A raw `ws` client, once the server said connection_established.
const raw = async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${key}?protocol=7&client=js&version=8.4.0`);
  ws.frames = [];
  ws.closed = null;
  ws.on('message', (data) => ws.frames.push(JSON.parse(data.toString())));
  ws.on('close', (code) => { ws.closed = { code }; });
  ws.on('error', () => {});
  await waitFor(() => ws.frames.some((f) => f.event === 'pusher:connection_established'), 'connection_established');
  return ws;
};

try {
  const client = new Pusher(key, {
    wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, cluster: 'mt1',
  });
  const seen = [];
  let subscribed = false;
  const news = client.subscribe('news');
  news.bind('Headline', (d) => seen.push(d.n));
  news.bind('pusher:subscription_succeeded', () => { subscribed = true; });
  await waitFor(() => subscribed, 'the pusher-js subscription');
  let sent = 0;
  const headline = async () => {
    sent += 1;
    const n = sent;
    await sdk.trigger('news', 'Headline', { n });
    await waitFor(() => seen.includes(n), `headline ${n} at pusher-js`);
  };
  await headline();

  const bad = await raw();
  bad.send('{"event":"pusher:subscribe","data":{"channel":"ne');
  const error = await waitFor(() => bad.frames.find((f) => f.event === 'pusher:error'), 'pusher:error');
  const data = JSON.parse(error.data);
  if (data.code !== 4200) fail(`pusher:error ${error.data}`);
  ok('a truncated JSON frame gets pusher:error 4200');
  bad.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
  await waitFor(() => bad.frames.some((f) => f.event === 'pusher:pong'), 'pusher:pong after the error');
  if (bad.closed) fail(`the socket was closed: ${bad.closed.code}`);
  ok('that socket stays open and answers pings');
  await headline();

  const big = await raw();
  big.send(`{"event":"pusher:ping","data":"${'x'.repeat(4 << 20)}"}`);
  const closed = await waitFor(() => big.closed, 'the close of the 4 MiB socket', 15000);
  if (closed.code !== 1009) fail(`the 4 MiB socket closed with ${closed.code}`);
  ok('a 4 MiB frame closes that socket with 1009');

  await headline();
  if (client.connection.state !== 'connected') fail(`pusher-js is ${client.connection.state}`);
  if (JSON.stringify(seen) !== '[1,2,3]') fail(`pusher-js saw ${JSON.stringify(seen)}`);
  ok('pusher-js kept receiving beside them');
  console.log('PASS');
  process.exit(0);
} catch (e) {
  fail(e && e.message ? e.message : String(e));
}

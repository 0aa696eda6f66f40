// Real npm clients against event-broadcast-server over TLS, driven by
// event-broadcast-server/tests/tls.rs:
//   NODE_EXTRA_CA_CERTS=ca.pem node tls_clients.mjs <port> <other-ca.pem>
// Node trusts the test's CA through NODE_EXTRA_CA_CERTS. pusher-js over
// wss:// (a public and a private channel), the `pusher` SDK over https
// (trigger, channel info, channel auth), and a client trusting another CA
// refused. Prints READY once subscribed; the Rust side then broadcasts
// OrderShipped over https with its `pusher` broadcaster. One `ok <check>`
// line per check, `PASS` at the end; exits 1 with `FAIL <reason>` otherwise.
import fs from 'node:fs';
import https from 'node:https';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';

const port = Number(process.argv[2]);
const otherCa = fs.readFileSync(process.argv[3]);
const appId = 'js-app', key = 'js-key', secret = 'js-secret';
const sdk = new PusherServer({ appId, key, secret, host: 'localhost', port: String(port), useTLS: true });

const fail = (why) => { console.log(`FAIL ${why}`); process.exit(1); };
setTimeout(() => fail('timed out'), 25000).unref();
const ok = (what) => console.log(`ok ${what}`);
const waitFor = (pred, what, ms = 8000) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  const tick = () => { const v = pred(); if (v) return resolve(v); if (Date.now() - t0 > ms) return reject(new Error(`waiting for ${what}`)); setTimeout(tick, 20); };
  tick();
});

try {
  const client = new Pusher(key, {
    wsHost: 'localhost', wssPort: port, forceTLS: true, enabledTransports: ['ws'], disableStats: true, cluster: 'mt1',
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        try { callback(null, sdk.authorizeChannel(socketId, channelName)); } catch (e) { callback(e, null); }
      },
    },
  });
  const got = {};
  let state = null;
  client.connection.bind('state_change', (s) => { state = s.current; });
  const news = client.subscribe('news');
  news.bind('Headline', (d) => { got.headline = d; });
  const orders = client.subscribe('private-orders.1');
  orders.bind('OrderShipped', (d) => { got.order = d; });
  let newsOk = false, ordersOk = false;
  news.bind('pusher:subscription_succeeded', () => { newsOk = true; });
  orders.bind('pusher:subscription_succeeded', () => { ordersOk = true; });
  await waitFor(() => newsOk && ordersOk, `pusher-js subscriptions over wss (state ${state})`);
  if (!client.connection.socket_id) fail('no socket id');
  ok('pusher-js connected over wss:// and subscribed to a public and a private channel');

  await sdk.trigger('news', 'Headline', { title: 'over https' });
  await waitFor(() => got.headline, 'Headline from the pusher SDK over https');
  if (got.headline.title !== 'over https') fail(`headline ${JSON.stringify(got.headline)}`);
  ok('pusher SDK trigger over https reaches pusher-js');

  const res = await sdk.get({ path: '/channels/news' });
  const info = await res.json();
  if (res.status !== 200 || info.occupied !== true) fail(`channel info ${res.status} ${JSON.stringify(info)}`);
  ok('pusher SDK GET /channels/news over https');

  // A client that trusts another CA is refused by its own TLS check.
  const refusal = await new Promise((resolve) => {
    const ws = new WebSocket(`wss://localhost:${port}/app/${key}?protocol=7`, { ca: otherCa });
    ws.on('open', () => resolve(null));
    ws.on('error', (e) => resolve(e));
  });
  if (!refusal || !/certificate|self.signed|verify/i.test(`${refusal.code} ${refusal.message}`)) fail(`a client trusting another CA was not refused: ${refusal && refusal.message}`);
  ok(`a client trusting another CA is refused (${refusal.code})`);

  // https with the wrong CA through Node's own client: refused too.
  const httpsRefusal = await new Promise((resolve) => {
    https.get({ host: 'localhost', port, path: '/up', ca: otherCa }, () => resolve(null)).on('error', resolve);
  });
  if (!httpsRefusal) fail('https with another CA was accepted');
  ok('https to the HTTP API trusting another CA is refused');

  console.log('READY');
  await waitFor(() => got.order, 'OrderShipped from the Rust broadcaster over https', 15000);
  if (got.order.order_id !== 1) fail(`order ${JSON.stringify(got.order)}`);
  ok('a Rust dispatch over https reaches pusher-js over wss');
  console.log('PASS');
  process.exit(0);
} catch (e) {
  fail(e && e.message ? e.message : String(e));
}

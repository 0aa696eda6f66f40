// Real npm clients against event-broadcast-server, driven by
// event-broadcast-server/tests/js_clients.rs:
//   node node_clients.mjs <port>
// pusher-js (Node), laravel-echo (private, join, whisper) and the `pusher`
// server SDK (an independent signer of HTTP requests and channel auth).
// Prints READY once subscribed; the Rust side then dispatches OrderShipped
// on private-orders.1. Prints one `ok <check>` line per check, `PASS` at the
// end; exits 1 with `FAIL <reason>` otherwise.
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import Echo from 'laravel-echo';

const port = Number(process.argv[2]);
const appId = 'js-app', key = 'js-key', secret = 'js-secret';
const sdk = new PusherServer({ appId, key, secret, host: '127.0.0.1', port: String(port), useTLS: false });
const bad = new PusherServer({ appId, key, secret: 'wrong-secret', host: '127.0.0.1', port: String(port), useTLS: false });

const fail = (why) => { console.log(`FAIL ${why}`); process.exit(1); };
setTimeout(() => fail('timed out'), 25000).unref();
const ok = (what) => console.log(`ok ${what}`);
const waitFor = (pred, what, ms = 8000) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  const tick = () => { const v = pred(); if (v) return resolve(v); if (Date.now() - t0 > ms) return reject(new Error(`waiting for ${what}`)); setTimeout(tick, 20); };
  tick();
});

const options = (signer, user) => ({
  wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, cluster: 'mt1',
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, callback) => {
      try {
        const presence = channelName.startsWith('presence-') ? { user_id: user.id, user_info: { name: user.name } } : undefined;
        callback(null, signer.authorizeChannel(socketId, channelName, presence));
      } catch (e) { callback(e, null); }
    },
  },
});

try {
  // pusher-js: a public and a private channel.
  const client = new Pusher(key, options(sdk, { id: '1', name: 'Ada' }));
  const got = {};
  const news = client.subscribe('news');
  news.bind('Headline', (d) => { got.headline = d; });
  const orders = client.subscribe('private-orders.1');
  orders.bind('OrderShipped', (d) => { got.order = d; });
  let newsOk = false, ordersOk = false;
  news.bind('pusher:subscription_succeeded', () => { newsOk = true; });
  orders.bind('pusher:subscription_succeeded', () => { ordersOk = true; });
  await waitFor(() => newsOk && ordersOk, 'pusher-js subscriptions');
  ok('pusher-js subscribed to a public and a private channel');

  // A subscription signed with the wrong secret is refused.
  const refusedClient = new Pusher(key, options(bad, { id: '3', name: 'Eve' }));
  let refused = null, leaked = false;
  const stolen = refusedClient.subscribe('private-orders.1');
  stolen.bind('pusher:subscription_error', (e) => { refused = e; });
  stolen.bind('OrderShipped', () => { leaked = true; });
  await waitFor(() => refused, 'subscription_error for a bad signature');
  ok('a bad channel signature gets pusher:subscription_error');

  // laravel-echo: private(), join(), whisper.
  const echo1 = new Echo({ broadcaster: 'pusher', key, Pusher, ...options(sdk, { id: '1', name: 'Ada' }) });
  const echo2 = new Echo({ broadcaster: 'pusher', key, Pusher, ...options(sdk, { id: '2', name: 'Bob' }) });
  let echoOrder = null, whisper = null, here = null, joined = null, left = null;
  echo1.private('orders.1').listen('.OrderShipped', (e) => { echoOrder = e; });
  echo2.private('orders.1').listenForWhisper('typing', (e) => { whisper = e; });
  echo1.join('chat').here((users) => { here = users; }).joining((u) => { joined = u; }).leaving((u) => { left = u; });
  await waitFor(() => here, 'echo1 here()');
  let here2 = null;
  echo2.join('chat').here((users) => { here2 = users; });
  await waitFor(() => joined && here2, 'echo joining()');
  if (joined.name !== 'Bob' || here2.length !== 2) fail(`presence: joined=${JSON.stringify(joined)} here=${JSON.stringify(here2)}`);
  ok('laravel-echo join(): here() and joining() see one member per user');

  // The SDK reads the presence list over the signed HTTP API.
  const res = await sdk.get({ path: '/channels/presence-chat/users' });
  const users = (await res.json()).users.map((u) => u.id).sort();
  if (JSON.stringify(users) !== '["1","2"]') fail(`users ${JSON.stringify(users)}`);
  ok('pusher SDK GET /channels/presence-chat/users');

  // Wait for echo2's private subscription before whispering.
  await waitFor(() => echo2.connector.pusher.channel('private-orders.1')?.subscribed, 'echo2 private subscription');
  await waitFor(() => echo1.connector.pusher.channel('private-orders.1')?.subscribed, 'echo1 private subscription');
  echo1.private('orders.1').whisper('typing', { name: 'Ada' });
  await waitFor(() => whisper, 'whisper');
  if (whisper.name !== 'Ada') fail(`whisper ${JSON.stringify(whisper)}`);
  ok('laravel-echo whisper reaches the other client');

  // The SDK as an independent HTTP signer, and a forged request refused.
  await sdk.trigger('news', 'Headline', { title: 'Hello' });
  await waitFor(() => got.headline, 'Headline from the pusher SDK');
  if (got.headline.title !== 'Hello') fail(`headline ${JSON.stringify(got.headline)}`);
  ok('pusher SDK trigger reaches pusher-js');
  let forged = null;
  try { await bad.trigger('news', 'Headline', { title: 'forged' }); } catch (e) { forged = e; }
  if (!forged || forged.status !== 401) fail(`a forged trigger was not refused with 401: ${forged && forged.status}`);
  ok('a trigger signed with the wrong secret gets 401');

  // The Rust side dispatches OrderShipped now.
  console.log('READY');
  await waitFor(() => got.order && echoOrder, 'OrderShipped from the Rust dispatcher', 15000);
  if (got.order.order_id !== 1 || echoOrder.order_id !== 1) fail(`order ${JSON.stringify(got.order)} ${JSON.stringify(echoOrder)}`);
  if (leaked) fail('a refused socket received an event');
  ok('a Rust dispatch reaches pusher-js and laravel-echo');

  echo2.leave('chat');
  await waitFor(() => left, 'echo leaving()');
  ok('laravel-echo leaving()');
  console.log('PASS');
  process.exit(0);
} catch (e) {
  fail(e && e.message ? e.message : String(e));
}

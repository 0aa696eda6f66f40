// Per-app limits as pusher-js sees them, driven by
// event-broadcast-server/tests/js_clients.rs:
//   node limits.mjs <port>
// The app allows 2 connections, 1 client event per second per socket and
// channel names of 20 characters. A third pusher-js client hears error 4004
// and stays disconnected (pusher-js does not retry 4000-4099); a name over
// the limit gets `pusher:subscription_error` LimitReached 4009; a burst of
// client events gets `error` 4301 on the connection while the first event
// is delivered. Prints `ok <check>` lines, `PASS`; `FAIL <reason>` otherwise.
import Pusher from 'pusher-js';
import PusherServer from 'pusher';

const port = Number(process.argv[2]);
const appId = 'js-app', key = 'js-key', secret = 'js-secret';
const sdk = new PusherServer({ appId, key, secret, host: '127.0.0.1', port: String(port), useTLS: false });

const fail = (why) => { console.log(`FAIL ${why}`); process.exit(1); };
setTimeout(() => fail('timed out'), 40000).unref();
const ok = (what) => console.log(`ok ${what}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const waitFor = (pred, what, ms = 8000) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  const tick = () => { const v = pred(); if (v) return resolve(v); if (Date.now() - t0 > ms) return reject(new Error(`waiting for ${what}`)); setTimeout(tick, 20); };
  tick();
});

const client = () => new Pusher(key, {
  wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, cluster: 'mt1',
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, callback) => callback(null, sdk.authorizeChannel(socketId, channelName)),
  },
});

try {
  const a = client();
  const b = client();
  await waitFor(() => a.connection.state === 'connected' && b.connection.state === 'connected', 'two connections');
  const errors = [];
  const c = client();
  c.connection.bind('error', (e) => errors.push(JSON.stringify(e)));
  await waitFor(() => errors.some((e) => e.includes('4004')), 'error 4004 for the third connection');
  await waitFor(() => c.connection.state === 'disconnected', 'the third client disconnected');
  await sleep(1500);
  if (c.connection.state !== 'disconnected') fail(`the third client retried: ${c.connection.state}`);
  ok('4004: refused, not retried');

  let limit = null;
  a.subscribe('a-very-long-public-channel-name').bind('pusher:subscription_error', (s) => { limit = s; });
  await waitFor(() => limit, 'the subscription_error');
  if (limit.type !== 'LimitReached' || limit.status !== 4009) fail(`subscription_error ${JSON.stringify(limit)}`);
  ok('LimitReached 4009');

  const heard = [];
  const chatA = a.subscribe('private-chat');
  const chatB = b.subscribe('private-chat');
  chatB.bind('client-typing', (d) => heard.push(d.i));
  let subscribed = 0;
  chatA.bind('pusher:subscription_succeeded', () => { subscribed += 1; });
  chatB.bind('pusher:subscription_succeeded', () => { subscribed += 1; });
  await waitFor(() => subscribed === 2, 'both subscribed');
  const connectionErrors = [];
  a.connection.bind('error', (e) => connectionErrors.push(JSON.stringify(e)));
  for (let i = 0; i < 3; i += 1) chatA.trigger('client-typing', { i });
  await waitFor(() => connectionErrors.some((e) => e.includes('4301')), 'error 4301 on the sender');
  await waitFor(() => heard.includes(0), 'the first client event');
  ok('4301 over the rate, the first delivered');
  a.disconnect();
  b.disconnect();
  console.log('PASS');
  process.exit(0);
} catch (e) {
  fail(e.message);
}

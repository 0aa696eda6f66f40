// Cache channels with pusher-js, driven by
// event-broadcast-server/tests/js_clients.rs:
//   node cache_channels.mjs <port>
// pusher-js hears `pusher:cache_miss` on a fresh `cache-` channel, then the
// event the `pusher` SDK triggers; a second pusher-js client subscribing
// later gets that last event at once (no cache_miss), and the first hears
// `pusher:subscription_count` 2 (the server runs with subscription counts
// on). The same for `private-cache-`, authorized by the SDK. Prints one
// `ok <check>` line per check, `PASS` at the end; `FAIL <reason>` otherwise.
import Pusher from 'pusher-js';
import PusherServer from 'pusher';

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

const client = () => new Pusher(key, {
  wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, cluster: 'mt1',
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, callback) => callback(null, sdk.authorizeChannel(socketId, channelName)),
  },
});

/// Subscribes and records what the channel hears.
const watch = (pusher, name) => {
  const heard = { misses: 0, events: [], counts: [], subscribed: false };
  const channel = pusher.subscribe(name);
  channel.bind('pusher:subscription_succeeded', () => { heard.subscribed = true; });
  channel.bind('pusher:cache_miss', () => { heard.misses += 1; });
  channel.bind('pusher:subscription_count', (d) => heard.counts.push(d.subscription_count));
  channel.bind('Headline', (d) => heard.events.push(d.n));
  return heard;
};

try {
  const first = client();
  const second = client();
  for (const name of ['cache-news', 'private-cache-orders']) {
    const a = watch(first, name);
    await waitFor(() => a.subscribed && a.misses === 1, `${name}: cache_miss at the first subscriber`);
    ok(`${name}: cache_miss`);
    await sdk.trigger(name, 'Headline', { n: 7 });
    await waitFor(() => a.events.includes(7), `${name}: the event at the first subscriber`);
    const b = watch(second, name);
    await waitFor(() => b.events.includes(7), `${name}: the cached event at the second subscriber`);
    if (b.misses !== 0) fail(`${name}: the second subscriber got a cache_miss`);
    ok(`${name}: the last event replayed`);
    await waitFor(() => a.counts.includes(2), `${name}: subscription_count 2 at the first subscriber`);
    ok(`${name}: subscription_count`);
  }
  first.disconnect();
  second.disconnect();
  console.log('PASS');
  process.exit(0);
} catch (e) {
  fail(e.message);
}

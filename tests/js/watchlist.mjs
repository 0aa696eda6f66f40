// Watchlist events with pusher-js, driven by
// event-broadcast-server/tests/js_clients.rs:
//   node watchlist.mjs <port>
// Ada signs in (user authentication by the `pusher` SDK) watching user 2;
// pusher-js's `pusher.user.watchlist` hears `online` when Bob (user 2)
// signs in, and `offline` when he disconnects. Prints `ok <check>` lines,
// `PASS` at the end; `FAIL <reason>` otherwise.
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

const user = (user) => new Pusher(key, {
  wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, cluster: 'mt1',
  userAuthentication: {
    customHandler: ({ socketId }, callback) => callback(null, sdk.authenticateUser(socketId, user)),
  },
});

try {
  const heard = [];
  const ada = user({ id: '1', watchlist: ['2'] });
  ada.user.watchlist.bind('online', (e) => heard.push(`online ${e.user_ids.join(',')}`));
  ada.user.watchlist.bind('offline', (e) => heard.push(`offline ${e.user_ids.join(',')}`));
  ada.signin();
  await waitFor(() => heard.includes('online '), 'the first watchlist event (nobody online)');
  ok('the watched users online at sign-in');
  const bob = user({ id: '2' });
  bob.signin();
  await waitFor(() => heard.includes('online 2'), 'online 2');
  ok('online');
  bob.disconnect();
  await waitFor(() => heard.includes('offline 2'), 'offline 2');
  ok('offline');
  ada.disconnect();
  console.log('PASS');
  process.exit(0);
} catch (e) {
  fail(e.message);
}

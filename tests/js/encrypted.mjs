// private-encrypted- channels against event-broadcast-server, driven by
// event-broadcast-server/tests/js_clients.rs:
//   node encrypted.mjs <ws port> <auth url> <wrong-key auth url> <master key base64>
// The auth URLs are the Rust ChannelAuthorizer's (auth_router), one with the
// app's master key, one with another key. pusher-js (its Node build has
// the encryption built in; browsers load `pusher-js/with-encryption`) decrypts
// what the Rust `pusher` broadcaster sealed; a client given the wrong key
// fails visibly and receives nothing; a raw socket sees only ciphertext; a
// client event on the channel is refused. Prints READY once subscribed (the
// Rust side then dispatches SecretOrderShipped on private-encrypted-orders.1),
// `ok <check>` per check, `PASS` at the end; `FAIL <reason>` otherwise.
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';

const [port, authUrl, wrongAuthUrl, masterKey] = [Number(process.argv[2]), ...process.argv.slice(3)];
const appId = 'js-app', key = 'js-key', secret = 'js-secret';
const channel = 'private-encrypted-orders.1';

const fail = (why) => { console.log(`FAIL ${why}`); for (const l of logs) console.log(`log ${l}`); process.exit(1); };
setTimeout(() => fail('timed out'), 25000).unref();
const ok = (what) => console.log(`ok ${what}`);
const waitFor = (pred, what, ms = 8000) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  const tick = () => { const v = pred(); if (v) return resolve(v); if (Date.now() - t0 > ms) return reject(new Error(`waiting for ${what}`)); setTimeout(tick, 20); };
  tick();
});
const logs = [];
Pusher.log = (msg) => logs.push(String(msg));

// The Rust authorizer, over HTTP, as a browser's authEndpoint would be.
const auth = async (url, socketId, channelName) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-user-id': '1' },
    body: `socket_id=${encodeURIComponent(socketId)}&channel_name=${encodeURIComponent(channelName)}`,
  });
  if (res.status !== 200) throw new Error(`auth ${res.status} ${await res.text()}`);
  return res.json();
};
const client = (url) => new Pusher(key, {
  wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, cluster: 'mt1',
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, callback) => {
      auth(url, socketId, channelName).then((a) => callback(null, a), (e) => callback(e, null));
    },
  },
});

try {
  // Our shared secret is the one Pusher's own SDK derives from the key.
  const sdk = new PusherServer({ appId, key, secret, host: '127.0.0.1', port: String(port), useTLS: false, encryptionMasterKeyBase64: masterKey });
  const ours = await auth(authUrl, '123.456', channel);
  const theirs = sdk.authorizeChannel('123.456', channel);
  if (!ours.shared_secret || ours.shared_secret !== theirs.shared_secret || ours.auth !== theirs.auth) {
    fail(`ours ${JSON.stringify(ours)} theirs ${JSON.stringify(theirs)}`);
  }
  ok('the authorizer answers with the auth and shared_secret the pusher SDK computes');

  const good = client(authUrl);
  const wrong = client(wrongAuthUrl);
  let got = null, leaked = null, goodSub = false, wrongSub = false;
  const gc = good.subscribe(channel);
  gc.bind('SecretOrderShipped', (d) => { got = d; });
  gc.bind('pusher:subscription_succeeded', () => { goodSub = true; });
  const wc = wrong.subscribe(channel);
  wc.bind('SecretOrderShipped', (d) => { leaked = d; });
  wc.bind('pusher:subscription_succeeded', () => { wrongSub = true; });
  await waitFor(() => goodSub && wrongSub, 'both encrypted subscriptions');
  ok('pusher-js subscribed to a private-encrypted channel (with the right and a wrong key)');

  // A raw socket, authorised (the signature needs no key): what the server relays.
  const raw = new WebSocket(`ws://127.0.0.1:${port}/app/${key}?protocol=7`);
  const frames = [];
  raw.on('message', (m) => frames.push(JSON.parse(m.toString())));
  await waitFor(() => frames.find((f) => f.event === 'pusher:connection_established'), 'raw connection');
  const socketId = JSON.parse(frames[0].data).socket_id;
  const rawAuth = await auth(authUrl, socketId, channel);
  raw.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, auth: rawAuth.auth } }));
  await waitFor(() => frames.find((f) => f.event === 'pusher_internal:subscription_succeeded'), 'raw subscription');
  raw.send(JSON.stringify({ event: 'client-typing', channel, data: { name: 'Ada' } }));
  const refused = await waitFor(() => frames.find((f) => f.event === 'pusher:error'), 'client event refusal');
  if (!/only allowed on private and presence/.test(JSON.stringify(refused))) fail(`client event answer ${JSON.stringify(refused)}`);
  ok('a client event on an encrypted channel is refused');

  console.log('READY');
  await waitFor(() => got, 'SecretOrderShipped decrypted by pusher-js', 15000);
  if (got.order_id !== 1 || got.carrier !== 'DHL') fail(`decrypted ${JSON.stringify(got)}`);
  ok('pusher-js decrypts what the Rust broadcaster encrypted');

  const seen = await waitFor(() => frames.find((f) => f.event === 'SecretOrderShipped'), 'the raw frame');
  const payload = typeof seen.data === 'string' ? JSON.parse(seen.data) : seen.data;
  if (!payload.nonce || !payload.ciphertext || JSON.stringify(seen).includes('DHL')) fail(`relayed ${JSON.stringify(seen)}`);
  ok('the server relays only nonce and ciphertext');

  await waitFor(() => logs.some((l) => l.includes('Failed to decrypt event with new key')), 'the wrong key failing', 10000);
  if (leaked) fail(`the wrong key decrypted ${JSON.stringify(leaked)}`);
  ok('a client with a wrong key fails to decrypt, visibly, and gets nothing');
  console.log('PASS');
  process.exit(0);
} catch (e) {
  fail(e && e.message ? e.message : String(e));
}

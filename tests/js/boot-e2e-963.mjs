import Pusher from 'pusher-js';
const pusher = new Pusher('boot-e2e-key', { wsHost: '127.0.0.1', wsPort: 39149, forceTLS: false, enabledTransports: ['ws'], cluster: 'mt1', disableStats: true });
const channel = pusher.subscribe('receipts');
channel.bind('pusher:subscription_succeeded', () => console.log('READY'));
channel.bind_global((name) => { if (!name.startsWith('pusher')) { console.log(`GOT ${name} on receipts`); process.exit(0); } });
setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 1200000);

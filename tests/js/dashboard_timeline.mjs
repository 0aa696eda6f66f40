// A correlation chain's timeline in headless Chromium, as the user reads it:
//   node dashboard_timeline.mjs <dashboard url with ?token=> <screenshot folder> <expected chain as JSON>
// The expected chain is a list of nodes in order, each
// `{node, parent, hops: [{hop, says}]}`: the node's name, its parent
// node's name (null for a root), and the hops shown under it (what a hop
// is called and what it says). The page is opened with the token; the
// first node's Timeline button in the Events part opens the chain; every
// node must be there, in order, saying it was caused by its parent's id
// (a root saying no such thing) and indented under it, with each of its
// hops. Then the axe scan (light and dark) at 1440 and 375 px and
// screenshots of the timeline at both widths, light and dark. Prints PASS.
import { openChromium } from './cdp.mjs';
import { axeScanner } from './axe.mjs';
import { screenshots } from './shots.mjs';

const [url, shots, expectedJson] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
const browser = await openChromium();
const { cdp, js, until, fail, sleep, cleanup, problems, ws } = browser;
const scan = await axeScanner(browser);
const shot = screenshots(browser, shots);

await cdp('Page.enable');
await cdp('Runtime.enable');
await cdp('Log.enable');
await cdp('Page.navigate', { url });
const root = expected[0].node;
await until(`the Events part lists ${root}`, async () => js(`[...document.querySelectorAll('#events-table tbody tr')]
  .some((r) => r.querySelector('td.name')?.textContent === ${JSON.stringify(root)})`), 15000);
await js(`(() => {
  const row = [...document.querySelectorAll('#events-table tbody tr')].find((r) => r.querySelector('td.name')?.textContent === ${JSON.stringify(root)});
  [...row.querySelectorAll('button')].find((b) => b.textContent === 'Timeline').click();
})()`);

// Each node as the page shows it: its name, what it says of its parent,
// its depth, the hops under it.
const read = () => js(`[...document.querySelectorAll('#chain-list li[data-id]')].map((li) => ({
  id: li.dataset.id,
  name: li.querySelector('strong')?.textContent,
  text: li.textContent,
  depth: Number((li.className.match(/\\bd(\\d+)\\b/) || [])[1] ?? -1),
  hops: [...li.querySelectorAll('ul.chain > li')].map((h) => ({ hop: h.querySelector('strong')?.textContent ?? '', text: h.textContent })),
}))`);
const problemsOf = (shown) => {
  const wrong = [];
  const names = shown.map((n) => n.name);
  if (JSON.stringify(names) !== JSON.stringify(expected.map((e) => e.node))) wrong.push(`nodes ${JSON.stringify(names)}`);
  for (const e of expected) {
    const n = shown.find((s) => s.name === e.node);
    if (!n) continue;
    if (e.parent === null) {
      if (/caused by/.test(n.text)) wrong.push(`${e.node} is a root but says "${n.text}"`);
    } else {
      const p = shown.find((s) => s.name === e.parent);
      if (!p) wrong.push(`${e.node}'s parent ${e.parent} is not shown`);
      else if (!n.text.includes(`caused by ${p.id}`)) wrong.push(`${e.node} does not say it was caused by ${e.parent} (${p.id}): "${n.text}"`);
      else if (!(n.depth > p.depth) || shown.indexOf(p) > shown.indexOf(n)) wrong.push(`${e.node} is not under ${e.parent}`);
    }
    for (const h of e.hops) {
      if (!n.hops.some((s) => s.hop.includes(h.hop) && s.text.includes(h.says))) {
        wrong.push(`${e.node} shows no hop "${h.hop}" saying "${h.says}" (hops: ${JSON.stringify(n.hops.map((s) => s.text))})`);
      }
    }
  }
  return wrong;
};
let last = ['the timeline did not open'];
for (const t0 = Date.now(); last.length && Date.now() - t0 < 5000; await sleep(50)) last = problemsOf(await read());
if (last.length) await fail(`the timeline is not the chain expected: ${last.join('; ')}`);
for (const n of await read()) {
  console.log(`ok ${n.name} (depth ${n.depth}): ${n.hops.map((h) => h.text.replace(/\s+/g, ' ')).join(' | ') || 'no hop'}`);
}
console.log(`ok the timeline shows ${expected.length} nodes, each with its parent link and its hops`);

await scan('the timeline at 1440 px');
await js(`document.querySelector('#chain').scrollIntoView()`);
for (const dark of [false, true]) for (const width of [1440, 375]) await shot(`timeline-${width}-${dark ? 'dark' : 'light'}`, width, dark, '#chain');
await scan('the timeline at 375 px');
const csp = problems.filter((p) => /Content Security Policy|Refused/i.test(p));
if (csp.length) await fail(`the page broke its CSP: ${csp.join(' | ')}`);
if (problems.length) await fail(`the console has errors: ${problems.join(' | ')}`);
console.log('PASS');
ws.close();
await cleanup();
process.exit(0);

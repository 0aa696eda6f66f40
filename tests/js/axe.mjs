// The accessibility scan of the dashboard's browser tests: axe-core (from
// npm, tests/js/node_modules) injected into the open page over the
// DevTools protocol and run on the whole document in light and dark mode
// (emulated prefers-color-scheme). Serious and critical violations fail
// the run and are printed with the part of the page they are in.
//   const scan = await axeScanner(browser); await scan('first load');
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/// The parts of the page a violation is reported under: the nearest of
/// these around the node (the header, the tabs, a section, the dialog).
const PARTS = 'dialog[open], section[id], section[aria-label], header, nav, main';

export async function axeScanner({ cdp, js, fail, sleep }) {
  const inject = async () => {
    if (await js('typeof window.axe === "object"')) return;
    const r = await cdp('Runtime.evaluate', { expression: SOURCE });
    if (r.result?.exceptionDetails) await fail(`axe-core did not load in the page: ${r.result.exceptionDetails.text}`);
  };
  const run = async () => {
    const r = await cdp('Runtime.evaluate', {
      awaitPromise: true, returnByValue: true,
      expression: `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => {
          const node = document.querySelector(n.target[0]);
          const part = node && node.closest(${JSON.stringify(PARTS)});
          return { target: n.target.join(' '), part: part ? (part.id || part.getAttribute('aria-label') || part.tagName.toLowerCase()) : 'page',
            why: (n.failureSummary || '').replace(/\\s+/g, ' ') };
        }) })))`,
    });
    if (r.result?.exceptionDetails) await fail(`axe-core failed: ${r.result.exceptionDetails.exception?.description || r.result.exceptionDetails.text}`);
    return r.result.result.value;
  };
  /// Scans the page as it is now, light then dark; fails on any serious or
  /// critical violation. Leaves the page in light mode.
  return async (label) => {
    await inject();
    const found = [];
    for (const dark of [false, true]) {
      await cdp('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }] });
      await sleep(100);
      const mode = dark ? 'dark' : 'light';
      for (const v of await run()) for (const n of v.nodes) found.push(`  [${mode}] ${v.impact} ${v.id} in ${n.part}: ${n.target}: ${v.help}. ${n.why}`);
    }
    await cdp('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'light' }] });
    if (found.length) {
      console.log(`axe: ${found.length} serious or critical violation(s) on ${label}:\n${found.join('\n')}`);
      await fail(`the accessibility scan of ${label} found ${found.length} serious or critical violation(s)`);
    }
    console.log(`ok axe: no serious or critical violation on ${label}, light and dark`);
  };
}

/// Walks the page with the Tab key from the top: every control it reaches
/// shows a visible focus ring, and each of `expected` (button or link
/// texts) is reached. Returns how many controls were reached.
export async function keyboardWalk({ cdp, js, fail }, expected) {
  await js('document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)');
  const reached = [];
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    await cdp('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Tab', code: 'Tab', windowsVirtualKeyCode: 9 });
    await cdp('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Tab', code: 'Tab', windowsVirtualKeyCode: 9 });
    const f = await js(`(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const s = getComputedStyle(e);
      const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || (s.boxShadow && s.boxShadow !== 'none');
      const r = e.getBoundingClientRect();
      if (!e.dataset.walk) e.dataset.walk = String(Math.random());
      return { id: e.dataset.walk, what: (e.tagName.toLowerCase() + ' "' + (e.textContent || e.name || e.id || '').trim().slice(0, 40) + '"'),
        text: (e.textContent || '').trim(), ring, shown: r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight };
    })()`);
    if (!f) continue;
    if (seen.has(f.id)) break; // wrapped around
    seen.add(f.id);
    if (!f.ring) await fail(`keyboard focus on ${f.what} shows no focus ring`);
    if (!f.shown) await fail(`keyboard focus on ${f.what} is off screen`);
    reached.push(f.text);
  }
  const missing = expected.filter((t) => !reached.includes(t));
  if (missing.length) await fail(`the Tab key never reaches ${missing.join(', ')} (reached ${reached.length} controls)`);
  console.log(`ok the Tab key reaches ${reached.length} controls, each with a visible focus ring (${expected.join(', ')} among them)`);
  return reached.length;
}

// Screenshots for the dashboard's browser tests: the page (or one part of
// it, by selector) at a width, light or dark (emulated
// prefers-color-scheme), saved as <folder>/<name>.png. Fails when the page
// is wider than the screen at that width. Returns the body's background
// colour, to compare light with dark.
//   const shot = screenshots(browser, folder); await shot('dashboard-375-light', 375, false);
import fs from 'node:fs';
import path from 'node:path';

export function screenshots({ cdp, js, fail, sleep }, folder) {
  fs.mkdirSync(folder, { recursive: true });
  return async (name, width, dark, selector = null) => {
    await cdp('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: width < 600 });
    await cdp('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }] });
    await sleep(300);
    const overflow = await js('document.documentElement.scrollWidth - window.innerWidth');
    if (overflow > 0) await fail(`at ${width} px the page is ${overflow} px wider than the screen`);
    let clip;
    if (selector) {
      clip = await js(`(() => {
        const e = document.querySelector(${JSON.stringify(selector)});
        if (!e || !e.offsetParent) return null;
        const r = e.getBoundingClientRect();
        return { x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height, scale: 1 };
      })()`);
      if (!clip || clip.width < 1 || clip.height < 1) await fail(`nothing to photograph at ${selector} (${width} px)`);
    }
    const png = await cdp('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, ...(clip ? { clip } : {}) });
    if (!png.result?.data) await fail(`no screenshot ${name}: ${JSON.stringify(png.error)}`);
    const file = path.join(folder, `${name}.png`);
    fs.writeFileSync(file, Buffer.from(png.result.data, 'base64'));
    console.log(`ok screenshot ${file}`);
    return js('getComputedStyle(document.body).backgroundColor');
  };
}

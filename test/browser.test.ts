/**
 * The package in a real browser: builds web/ (which imports the built dist/index.js, the bundle
 * npm users get) with Vite, serves it from a tiny static server, and drives Debian's Chromium
 * through playwright-core. The page loads dist/vtd-core.wasm with fetch (no Node API), translates,
 * draws the walk, takes an edited entry's fault, and runs the benchmark.
 *
 * Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it) and a built package
 * (`npm run build`; `npm test` runs it first).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const TIMEOUT = 60_000;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** A static file server for `dir` on 127.0.0.1, random port. */
async function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(dir, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

describe('the page in Chromium (playwright-core, Debian chromium)', () => {
  let outDir: string | undefined;
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const wasmResponses: { url: string; status: number; type: string | undefined }[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium ` +
        '(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; .ci/run does this)');
    }
    for (const f of ['dist/index.js', 'dist/vtd-core.wasm']) {
      if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does)`);
    }
    outDir = mkdtempSync(join(tmpdir(), 'vtd-web-'));
    await build({
      configFile: join(ROOT, 'web/vite.config.ts'),
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
    });
    const served = await serve(outDir);
    server = served.server;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: TIMEOUT,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.url().endsWith('.wasm')) wasmResponses.push({ url: r.url(), status: r.status(), type: r.headers()['content-type'] });
    });
    await page.goto(served.url, { timeout: TIMEOUT });
    await page.waitForSelector('body[data-ready="1"]', { timeout: TIMEOUT });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('loads vtd-core.wasm over HTTP, as application/wasm, without errors', () => {
    expect(wasmResponses).toHaveLength(1);
    expect(wasmResponses[0]).toMatchObject({ status: 200, type: 'application/wasm' });
    expect(pageErrors).toEqual([]);
  });

  it('translates a mapped IOVA through a 4-level first-stage table and draws the walk', async () => {
    await page.getByTestId('scenario').selectOption('fs4k');
    await expect.poll(() => page.getByTestId('status').textContent()).toContain('Ready: First stage, 4-level, 4 KiB pages');
    await page.getByTestId('iova').fill('0x7f0000000abc');
    await page.getByTestId('write').check();
    await page.getByTestId('translate').click();

    const result = page.getByTestId('result');
    await expect.poll(() => result.getAttribute('data-ok')).toBe('true');
    expect(await page.getByTestId('result-address').textContent()).toBe('0x1234abc');
    expect(await page.getByTestId('result-page-size').textContent()).toBe('4 KiB');
    expect(await page.getByTestId('result-perms').textContent()).toBe('RWX');

    const cards = page.locator('[data-testid="step-card"]');
    const structures = await cards.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-structure')}${e.getAttribute('data-level') ?? ''}`));
    expect(structures.slice(0, 8)).toEqual([
      'root-entry', 'context-entry', 'pasid-dir-entry', 'pasid-entry', 'fs-entry4', 'fs-entry3', 'fs-entry2', 'fs-entry1',
    ]);
    // The leaf's decoded fields: present, writable, address of the page.
    const leaf = page.locator('[data-testid="step-card"][data-structure="fs-entry"][data-level="1"]');
    expect(await leaf.locator('tr[data-field="P"] .val').textContent()).toBe('1');
    expect(await leaf.locator('tr[data-field="Address"] .val').textContent()).toBe('0x1234000');
  }, TIMEOUT);

  it('an entry edited in guest memory (leaf P cleared) faults with 0x71', async () => {
    const leafRaw = page.locator('[data-testid="step-card"][data-structure="fs-entry"][data-level="1"] input.qword').first();
    const before = BigInt(await leafRaw.inputValue());
    expect(before & 1n).toBe(1n);
    await leafRaw.fill(`0x${(before & ~1n).toString(16)}`);
    await leafRaw.press('Enter');

    await expect.poll(() => page.getByTestId('result').getAttribute('data-ok')).toBe('false');
    expect(await page.getByTestId('fault-code').textContent()).toBe('0x71');
    expect(await page.getByTestId('fault-name').textContent()).toBe('FS_ENTRY_P');
    expect(await page.getByTestId('fault-level').textContent()).toBe('1');
    expect(await page.locator('[data-testid="step-card"][data-structure="fs-entry"][data-level="1"] tr[data-field="P"] .val').textContent()).toBe('0');
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results/browser-fault.png'), fullPage: true });

    // Setting P again brings the translation back.
    const again = page.locator('[data-testid="step-card"][data-structure="fs-entry"][data-level="1"] input.qword').first();
    await again.fill(`0x${before.toString(16)}`);
    await again.press('Enter');
    await expect.poll(() => page.getByTestId('result').getAttribute('data-ok')).toBe('true');
    expect(await page.getByTestId('result-address').textContent()).toBe('0x1234abc');
  }, TIMEOUT);

  it('runs the benchmark in the page', async () => {
    await page.getByTestId('bench-button').click();
    const batchNs = page.getByTestId('bench-batch-ns');
    await batchNs.waitFor({ timeout: TIMEOUT });
    for (const id of ['bench-batch-ns', 'bench-batch-rate', 'bench-single-ns', 'bench-single-rate']) {
      const text = (await page.getByTestId(id).textContent()) ?? '';
      expect(text, id).toMatch(/^[\d,]+(\.\d+)?$/);
      expect(Number.isFinite(Number(text.replace(/,/g, '')))).toBe(true);
    }
    expect(pageErrors).toEqual([]);
  }, TIMEOUT);

  it('takes screenshots', async () => {
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results/browser.png'), fullPage: true });
    // For the README (VTD_UPDATE_SCREENSHOT=1): the request, the walk and its result, not the
    // machine-dependent benchmark numbers.
    await page.evaluate(() => window.scrollTo(0, 0));
    const walk = await page.getByTestId('walk').boundingBox();
    expect(walk).not.toBeNull();
    await page.screenshot({
      path: join(ROOT, process.env.VTD_UPDATE_SCREENSHOT ? 'docs/screenshot.png' : 'test-results/browser-walk.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: Math.ceil(walk!.y + walk!.height + 12) },
    });
    expect(statSync(join(ROOT, 'test-results/browser.png')).size).toBeGreaterThan(1000);
  }, TIMEOUT);
});

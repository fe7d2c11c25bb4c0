/**
 * The `vtd-emu` command line as a process: `node dist/cli.js ...` (npm test builds dist/
 * first). Fixtures are written by `vtd-emu export-demo` into a temp directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate, type JsonSchema } from '../bench/json-schema.js';
import { writeImage } from '../src/cli/formats.js';
import { imageFromUnit } from '../src/cli/image.js';
import { GuestBuilder } from '../src/guest/index.js';
import { Vtd } from '../src/vtd.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const schema = JSON.parse(readFileSync(new URL('../bench/schema.json', import.meta.url), 'utf8')) as JsonSchema;
let dir: string;
const f = (name: string) => join(dir, name);

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit status 2, exactly one line on stderr naming the problem, no stack trace, nothing on stdout. */
function usageError(r: ReturnType<typeof run>, what: RegExp): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter(Boolean);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^vtd-emu: /);
  expect(lines[0]).toMatch(what);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:/);
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does) before these tests');
  dir = mkdtempSync(join(tmpdir(), 'vtd-emu-cli-'));
  const r = run('export-demo', '--image', 'demo.vtdimg', '--requests', 'demo.vtdreq', '--count', '3000');
  expect(r.status, r.stderr).toBe(0);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('vtd-emu --help', () => {
  it('lists the commands, and every command has its own --help', () => {
    const top = run('--help');
    expect(top.status).toBe(0);
    for (const c of ['bench', 'walk', 'dump', 'export-demo']) {
      expect(top.stdout).toContain(c);
      const h = run(c, '--help');
      expect(h.status, c).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^usage: vtd-emu ${c}`));
      expect(h.stderr).toBe('');
      expect(run('help', c).stdout).toBe(h.stdout);
    }
    expect(run().stdout).toBe(top.stdout);
    expect(run('--version').stdout).toMatch(/^vtd-emu \d+\.\d+\.\d+/);
  });
});

describe('vtd-emu export-demo', () => {
  it('writes both files with their magics and sizes', () => {
    expect(readFileSync(f('demo.vtdimg')).subarray(0, 8).toString()).toBe('VTDEMUIM');
    const req = readFileSync(f('demo.vtdreq'));
    expect(req.subarray(0, 8).toString()).toBe('VTDEMURQ');
    expect(req.length).toBe(32 + 3000 * 16);
  });
});

describe('vtd-emu walk', () => {
  it('explains a first-stage translation step by step', () => {
    const r = run('walk', '--image', 'demo.vtdimg', '--sid', '00:03.0', '--pasid', '1', '--iova', '0x7f1234005678');
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^image: demo\.vtdimg \(vtd-emu image\): RAM 0x0-0xffffff, 0x100000000-0x1007fffff; scalable mode/);
    expect(out).toContain('request: sid 0x18 (00:03.0), PASID 0x1, iova 0x7f1234005678, read');
    const titles = out.split('\n').filter((l) => / @ GPA 0x[0-9a-f]+$/.test(l)).map((l) => l.replace(/ @ GPA.*/, ''));
    expect(titles).toEqual([
      'Root entry (scalable mode)', 'Context entry (scalable mode, 256-bit)', 'PASID directory entry', 'PASID table entry (512-bit)',
      'First-stage entry, level 4', 'A/D update of the level-4 first-stage entry', 'First-stage entry, level 3', 'A/D update of the level-3 first-stage entry',
      'First-stage entry, level 2', 'A/D update of the level-2 first-stage entry', 'First-stage entry, level 1', 'A/D update of the level-1 first-stage entry',
    ]);
    expect(out).toMatch(/PGTT\[8:6\]=001b first-stage/);
    expect(out).toMatch(/^ {2}raw +0x[0-9a-f]+/m);
    expect(out.trimEnd().split('\n').at(-1)).toBe('result: 0x100005678 (4 KiB page, RWX)');
  });

  it('shows the fault of a write to a read-only page, and the JSON form', () => {
    const r = run('walk', '--demo', '--pasid', '1', '--iova', '0x7f1234010008', '--write');
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('fault: 0x85 SM_WRITE at level 1: no write permission');
    const j = run('walk', '--demo', '--pasid', '4', '--iova', '0x555500003010', '--write', '--json');
    expect(j.status).toBe(0);
    const doc = JSON.parse(j.stdout);
    expect(doc.result).toMatchObject({ ok: true, address: '0x100003010', pageSize: 4096 });
    expect(doc.core.agrees).toBe(true);
    expect(doc.steps.some((s: { structure: string }) => s.structure === 'ss-entry')).toBe(true);
    expect(doc.steps[0]).toMatchObject({ structure: 'root-entry', gpa: '0x100000' });
  });

  it('accepts a source-id as a number and explains a device without a context entry', () => {
    const r = run('walk', '--image', 'demo.vtdimg', '--sid', '0x20', '--pasid', '1', '--iova', '4096');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('sid 0x20 (00:04.0)');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^fault: 0x41 SM_CONTEXT_ENTRY_P: /);
  });
});

describe('vtd-emu dump', () => {
  it('decodes every present structure of the image', () => {
    const r = run('dump', '--image', 'demo.vtdimg');
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toContain('mode: scalable, root table 0x100000');
    expect(out).toMatch(/^root entry bus 0x0 @ 0x100000: LP=1 {2}LCTP=0x101000$/m);
    expect(out).toMatch(/^ {2}context entry 00:03\.0 \(sid 0x18\) @ 0x101300: P=1 {2}PASIDE=1 {2}PDTS=0 \(128 directory entries\) {2}PASIDDIRPTR=0x102000$/m);
    expect(out).toMatch(/^ {4}PASID directory entry 0 \(PASIDs 0x0-0x3f\) @ 0x102000: P=1 {2}PTP=0x108000$/m);
    const pasids = out.split('\n').filter((l) => /^ {6}PASID 0x/.test(l));
    expect(pasids.map((l) => /PGTT=(\S+ \S+)/.exec(l)![1])).toEqual(['010b second-stage', '001b first-stage', '001b first-stage', '100b pass-through', '011b nested']);
    expect(pasids[2]).toContain('FSPM=1 (5-level)');
    expect(pasids[4]).toMatch(/SSPTPTR=0x[0-9a-f]+ .*FSPTPTR=0x[0-9a-f]+/);
    expect(out).toContain('present: 1 root entry, 1 context entry, 1 PASID directory entry, 5 PASID entries');
    const j = JSON.parse(run('dump', '--demo', '--json').stdout);
    expect(j.counts).toEqual({ rootEntries: 1, contextEntries: 1, pasidDirEntries: 1, pasidEntries: 5 });
    expect(j.roots[0].contexts[0].directory[0].table[1]).toMatchObject({ pasid: 1, gpa: '0x108040' });
  });
});

describe('a legacy-mode image', () => {
  it('is dumped and walked', async () => {
    const vtd = await Vtd.create({ memory: { size: 8 << 20 } });
    const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 4n << 20n }]);
    const ss = g.secondStage({ levels: 3 });
    ss.map(0x4000n, 0x20_0000n);
    g.legacyDevice((2 << 8) | (1 << 3), { tt: 'second-stage', ssptptr: ss.root, aw: ss.aw, did: 7 });
    vtd.setRootTable(g.root(), { scalable: false });
    writeFileSync(f('legacy.vtdimg'), writeImage(imageFromUnit(vtd)));
    const d = run('dump', '--image', 'legacy.vtdimg');
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toContain('mode: legacy, root table 0x103000');
    expect(d.stdout).toMatch(/^root entry bus 0x2 @ 0x103020: P=1 {2}CTP=0x[0-9a-f]+$/m);
    expect(d.stdout).toMatch(/^ {2}context entry 02:01\.0 \(sid 0x208\) @ 0x[0-9a-f]+: P=1 {2}TT=0 \(second-stage\) {2}SSPTPTR=0x[0-9a-f]+ {2}AW=1 \(3-level\) {2}DID=0x7$/m);
    expect(d.stdout).toContain('present: 1 root entry, 1 context entry\n');
    const w = run('walk', '--image', 'legacy.vtdimg', '--sid', '02:01.0', '--iova', '0x4008', '--write');
    expect(w.status, w.stderr).toBe(0);
    expect(w.stdout).toContain('Context entry (legacy, 128-bit)');
    expect(w.stdout.trimEnd().split('\n').at(-1)).toBe('result: 0x200008 (4 KiB page, RW-)');
  });
});

describe('vtd-emu bench', () => {
  it('--tiny --json validates against bench/schema.json and writes the HTML and SVG charts', () => {
    const r = run('bench', '--tiny', '--json', '--scenario', 'fs4-4k,pt-rand', '--no-native', '--out', 'out/r.json', '--html', 'out/r.html', '--chart', 'out/r.svg');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // not a terminal: no progress output
    const doc = JSON.parse(r.stdout);
    expect(validate(schema, doc)).toEqual([]);
    expect(new Set(doc.scenarios.map((s: { name: string }) => s.name))).toEqual(new Set(['fs4-4k-rand', 'fs4-4k-seq', 'pt-rand']));
    expect(JSON.parse(readFileSync(f('out/r.json'), 'utf8'))).toEqual(doc);
    const html = readFileSync(f('out/r.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).not.toMatch(/<script|<link|src=|href=|@import|url\(/); // self-contained
    expect(html).toContain('fs4-4k-rand');
    const svg = readFileSync(f('out/r.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect((svg.match(/<rect [^>]*fill="#1f77b4"><title>[^<]* batch: /g) ?? []).length).toBe(3); // one batch bar per scenario
  });

  it('prints the tables by default', () => {
    const r = run('bench', '--tiny', '--scenario', 'pt-seq', '--no-native', '--reps', '1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^vtd-emu translation benchmark \(quick, tiny, seed 1\)/);
    expect(r.stdout).toMatch(/^pt-seq +batch-iotlb /m);
    expect(r.stdout).toMatch(/^summary: 1 scenarios, 5 rows, mismatches 0/m);
  });

  it('replays a generated trace (vtd-emu image and request list)', () => {
    const r = run('bench', '--tiny', '--json', '--image', 'demo.vtdimg', '--requests', 'demo.vtdreq');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(validate(schema, doc)).toEqual([]);
    expect(doc.config.replay).toMatchObject({ image: 'demo.vtdimg', imageFormat: 'vtd-emu', requestFormat: 'vtd-emu', requests: 3000, used: 3000 });
    expect(doc.scenarios.map((s: { path: string }) => s.path).sort()).toEqual(['batch', 'batch-iotlb', 'batch-nocache', 'reference', 'single']);
    expect(doc.scenarios.every((s: { name: string; mismatches: number }) => s.name === 'replay-demo' && s.mismatches === 0)).toBe(true);
    const faults = doc.scenarios.find((s: { path: string }) => s.path === 'batch').faults;
    expect(faults).toBeGreaterThan(0); // the demo trace has unmapped IOVAs, an unknown PASID, a device without context
    expect(doc.ratios[0].iotlbHitPercent).toBeGreaterThan(0);
  });

  it('lists scenarios', () => {
    const r = run('bench', '--list', '--scenario', 'ss4');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['ss4-4k-rand', 'ss4-4k-seq', 'ss4-2m-rand', 'ss4-2m-seq']);
  });
});

describe('bad arguments and bad files: one line, exit status 2', () => {
  it('rejects bad arguments', () => {
    usageError(run('frobnicate'), /unknown command 'frobnicate'/);
    usageError(run('bench', '--bogus'), /bench: unknown option '--bogus'/);
    usageError(run('bench', '--out'), /bench: --out needs a value/);
    usageError(run('bench', '--json=1'), /bench: --json takes no value/);
    usageError(run('bench', '--quick', '--full'), /not both/);
    usageError(run('bench', '--reps', '0'), /--reps: 0 is not in \[1, 1000\]/);
    usageError(run('bench', '--seed', 'x'), /--seed: 'x' is not a number/);
    usageError(run('bench', '--scenario', 'nope'), /--scenario 'nope' matches no scenario/);
    usageError(run('bench', '--image', 'demo.vtdimg'), /needs both --image and --requests/);
    usageError(run('bench', 'extra'), /unexpected argument 'extra'/);
    usageError(run('walk', '--demo'), /--iova is required/);
    usageError(run('walk', '--iova', '0x1000'), /give --image FILE or --demo/);
    usageError(run('walk', '--demo', '--iova', '0x1000', '--sid', '00:40.0'), /device 64 is beyond 0x1f/);
    usageError(run('walk', '--demo', '--iova', '0x1000', '--sid', 'zz'), /--sid: 'zz' is not a number/);
    usageError(run('walk', '--demo', '--iova', '0x1000', '--pasid', '0x100000'), /PASID 0x100000 is beyond 0xfffff/);
    usageError(run('walk', '--demo', '--iova', '0x10000000000000000'), /does not fit in 64 bits/);
    usageError(run('dump'), /give --image FILE or --demo/);
    usageError(run('export-demo'), /give --image FILE and\/or --requests FILE/);
    usageError(run('export-demo', '--requests', 'x.vtdreq', '--count', '0'), /--count: 0 is not in/);
  });

  it('rejects bad files', () => {
    const img = readFileSync(f('demo.vtdimg'));
    writeFileSync(f('truncated.vtdimg'), img.subarray(0, img.length - 100));
    writeFileSync(f('garbage.bin'), 'this is not an image at all');
    writeFileSync(f('empty.bin'), '');
    const badVersion = Buffer.from(img);
    badVersion.writeUInt32LE(9, 8);
    writeFileSync(f('v9.vtdimg'), badVersion);
    usageError(run('dump', '--image', 'missing.vtdimg'), /cannot read image 'missing\.vtdimg': no such file/);
    usageError(run('dump', '--image', '.'), /cannot read image '\.': is a directory/);
    usageError(run('dump', '--image', 'truncated.vtdimg'), /truncated\.vtdimg: truncated/);
    usageError(run('walk', '--image', 'garbage.bin', '--iova', '0'), /garbage\.bin: not an image file \(magic 'this is '/);
    usageError(run('dump', '--image', 'empty.bin'), /empty\.bin: empty file/);
    usageError(run('dump', '--image', 'v9.vtdimg'), /unsupported VTDEMUIM version 9/);
    usageError(run('dump', '--image', 'demo.vtdreq'), /not an image file \(a vtd-emu request list/);
    usageError(run('bench', '--image', 'demo.vtdimg', '--requests', 'demo.vtdimg'), /demo\.vtdimg: not a request list \(a vtd-emu image/);
    usageError(run('bench', '--image', 'demo.vtdimg', '--requests', 'missing.vtdreq'), /cannot read request list/);
    usageError(run('bench', '--tiny', '--out', 'demo.vtdimg/x.json'), /cannot write into 'demo\.vtdimg'/);
  });
});

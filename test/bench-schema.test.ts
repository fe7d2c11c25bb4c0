/**
 * The benchmark's JSON document, from a tiny run: it validates against bench/schema.json, and
 * its rows hang together. No assertion looks at how fast anything was, only at shapes, result
 * checks (zero mismatches), fault counts and IOTLB statistics.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { validate, type JsonSchema } from '../bench/json-schema.js';
import { parseResults } from '../bench/native.js';
import { BenchArgumentError, runBench, scenarioNames, SCHEMA, selectScenarios, TRANSLATION_PATHS, type BenchReport } from '../bench/run.js';

const schema = JSON.parse(readFileSync(new URL('../bench/schema.json', import.meta.url), 'utf8')) as JsonSchema;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('bench JSON (tiny run)', () => {
  let rep: BenchReport;
  beforeAll(async () => {
    rep = await runBench({ tiny: true, quiet: true });
  });

  it('validates against bench/schema.json', () => {
    expect(rep.schema).toBe(SCHEMA);
    expect(validate(schema, clone(rep))).toEqual([]);
  });

  it('has the configuration it was given', () => {
    expect(rep.config).toMatchObject({ mode: 'quick', tiny: true, seed: 1, replay: null });
    expect(rep.targets).toEqual({ wasmVsNativeMax: 1.25, referenceSpeedupMin: 3 });
    if (!rep.native.available) expect(typeof rep.native.note).toBe('string');
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep);
  });

  it('has well-formed rows with zero mismatches', () => {
    const names = new Set(scenarioNames('quick', true));
    for (const r of rep.scenarios) {
      expect(names.has(r.name), r.name).toBe(true);
      expect(r.faults).toBeLessThanOrEqual(r.requests);
      expect(r.checked).toBeLessThanOrEqual(r.requests);
      expect(r.mismatches, `${r.name} ${r.path}: ${r.mismatchSamples?.join('; ')}`).toBe(0);
      if (r.path.startsWith('native')) expect(r.ns.max).toBeNull();
      else expect(r.checked).toBeGreaterThan(0);
    }
    expect(rep.summary.mismatches).toBe(0);
  });

  it('measures every scenario on the three batch units, single and reference, native images on native and native-iotlb, dma scenarios on dma', () => {
    const byName = new Map<string, string[]>();
    for (const r of rep.scenarios) byName.set(r.name, [...(byName.get(r.name) ?? []), r.path]);
    for (const [name, paths] of byName) {
      const want = name.startsWith('dma-') ? ['dma'] : TRANSLATION_PATHS.filter((p) => name.startsWith('native-') || !p.startsWith('native'));
      expect(paths.sort(), name).toEqual([...want].sort());
    }
    expect([...byName.keys()].filter((n) => n.startsWith('dma-')).length).toBeGreaterThan(0);
    const expected = scenarioNames('quick', true).filter((n) => rep.native.available || !n.startsWith('native-'));
    expect([...byName.keys()].sort()).toEqual(expected.sort());
  });

  it('checks batch against native_walk (or the reference walker) and every other path against batch', () => {
    for (const r of rep.scenarios) {
      if (r.path === 'batch') expect(r.checkedAgainst).toBe(r.name.startsWith('native-') ? 'native-expected' : 'reference');
      else if (r.path.startsWith('native')) expect(r.checkedAgainst).toBeNull();
      else if (r.path === 'dma') expect(r.checkedAgainst).toBe('guest-mapping');
      else expect(r.checkedAgainst).toBe('batch');
    }
    for (const n of rep.scenarios.filter((r) => r.path === 'native')) {
      const b = rep.scenarios.find((r) => r.name === n.name && r.path === 'batch')!;
      expect(b.requests).toBe(n.requests);
      expect(b.faults).toBe(n.faults + (b.knownDifferences ?? 0));
    }
    // The three batch units translate the same requests to the same results, so the same faults.
    for (const name of new Set(rep.scenarios.filter((r) => r.path !== 'dma').map((r) => r.name))) {
      const f = rep.scenarios.filter((r) => r.name === name && r.path.startsWith('batch')).map((r) => r.faults);
      expect(new Set(f).size, name).toBe(1);
    }
  });

  it('reports IOTLB statistics on batch-iotlb rows and native_walk\'s hit rate on native-iotlb rows', () => {
    for (const r of rep.scenarios) {
      if (r.path === 'batch-iotlb') {
        expect(r.iotlb!.hits! + r.iotlb!.misses!).toBeGreaterThan(0);
        expect(r.iotlb!.hitPercent).toBeCloseTo((100 * r.iotlb!.hits!) / (r.iotlb!.hits! + r.iotlb!.misses!), 1);
      } else if (r.path === 'native-iotlb') {
        expect(r.iotlb).toMatchObject({ hits: null, misses: null });
      } else {
        expect(r.iotlb).toBeUndefined();
      }
    }
    // Sequential first-stage 2 MiB pages: many 8-byte requests per page, so the IOTLB must hit.
    expect(rep.ratios.find((r) => r.scenario === 'fs4-2m-seq')!.iotlbHitPercent).toBeGreaterThan(50);
  });

  it('checks device DMA through the bound nested HWPTs against the guest mapping and translateBatch', () => {
    const dma = rep.scenarios.filter((r) => r.path === 'dma');
    expect(dma.map((r) => r.name).sort()).toEqual(scenarioNames('quick', true).filter((n) => n.startsWith('dma-')).sort());
    for (const r of dma) {
      const d = r.dma!;
      expect(r.checked, r.name).toBe(r.requests);
      expect(r.mismatches, `${r.name}: ${r.mismatchSamples?.join('; ')}`).toBe(0);
      expect(d.batchChecked).toBe(r.requests);
      expect(d.batchMismatches, `${r.name}: ${r.mismatchSamples?.join('; ')}`).toBe(0);
      // The same requests fault on the host exactly where the vIOMMU faults them.
      expect(d.batchFaults, r.name).toBe(r.faults);
      expect(r.faults, r.name).toBeGreaterThan(0); // writes to read-only pages, unmapped IOVAs
      expect(d.reads + d.writes).toBe(r.requests);
      expect(d.writes).toBeGreaterThan(0);
      // One nested HWPT per bound PASID; at least one dmaBatch call per PASID and access.
      expect(d.hwpts).toBe(d.pasids);
      expect(d.calls).toBeGreaterThanOrEqual(2 * d.pasids);
      expect(d.pasids).toBe(r.name.includes('16pasid') ? 16 : 1);
      if (r.pattern === 'seq') expect(d.calls).toBe(2 * d.pasids); // no stray PASIDs in seq streams
      // The ratio of the unrounded medians; the rounded ones reproduce it to well within 1%.
      expect(Math.abs(d.dmaVsBatch - r.ns.median / d.batchNs) / d.dmaVsBatch).toBeLessThan(0.01);
      expect(r.iotlb).toBeUndefined();
    }
    expect(rep.summary.dma).toMatchObject({ count: dma.length, batchMismatches: 0 });
  });

  it('runs dma scenarios alone (no translation scenario, no ratios)', async () => {
    const r = await runBench({ tiny: true, quiet: true, reps: 1, scenarios: ['dma-fs4-4k-16pasid-rand'] });
    expect(validate(schema, clone(r))).toEqual([]);
    expect(r.scenarios.map((x) => `${x.name} ${x.path}`)).toEqual(['dma-fs4-4k-16pasid-rand dma']);
    expect(r.ratios).toEqual([]);
    expect(r.summary).toMatchObject({ scenarios: 1, rows: 1, mismatches: 0, dma: { count: 1, batchMismatches: 0 } });
    expect(r.scenarios[0]!.dma!.calls).toBeGreaterThan(32); // 16 PASIDs x r/w, plus the stray PASIDs of the rand stream
  });

  it('has one ratio entry per translation scenario, native ratios exactly where native ran', () => {
    const names = new Set(rep.scenarios.filter((r) => r.path !== 'dma').map((r) => r.name));
    expect(rep.ratios.map((r) => r.scenario).sort()).toEqual([...names].sort());
    for (const r of rep.ratios) {
      const native = r.scenario.startsWith('native-');
      for (const k of ['nativeNs', 'wasmVsNative', 'wasmVsNativeMin', 'meetsNativeTarget', 'nativeIotlbNs', 'wasmIotlbVsNativeIotlb', 'meetsNativeIotlbTarget'] as const) {
        expect(r[k] === null, `${r.scenario} ${k}`).toBe(!native);
      }
      expect(r.referenceSpeedup).toBeCloseTo(r.referenceNs / r.nocacheNs, 0);
    }
    expect(rep.summary.scenarios).toBe(new Set(rep.scenarios.map((r) => r.name)).size);
    expect(rep.summary.scenarios).toBe(rep.ratios.length + rep.summary.dma.count);
    expect(rep.summary.rows).toBe(rep.scenarios.length);
  });

  it('rejects documents that break the schema', () => {
    const bad: [string, (r: Record<string, any>) => void][] = [
      ['missing section', (r) => { delete r.summary; }],
      ['wrong schema id', (r) => { r.schema = 'vtd-emu-bench/2'; }],
      ['dma row without its details', (r) => { delete r.scenarios.find((x: { path: string }) => x.path === 'dma').dma.batchMismatches; }],
      ['unknown checkedAgainst', (r) => { r.scenarios[0].checkedAgainst = 'vibes'; }],
      ['unknown path', (r) => { r.scenarios[0].path = 'turbo'; }],
      ['negative count', (r) => { r.scenarios[0].faults = -1; }],
      ['fractional count', (r) => { r.scenarios[0].requests = 1.5; }],
      ['extra property', (r) => { r.ratios[0].speed = 1; }],
      ['string for a number', (r) => { r.ratios[0].batchNs = '12'; }],
      ['hit rate above 100%', (r) => { r.ratios[0].iotlbHitPercent = 101; }],
      ['bad sha256', (r) => { r.wasm.sha256 = 'xyz'; }],
    ];
    for (const [what, mutate] of bad) {
      const doc = clone(rep) as unknown as Record<string, any>;
      mutate(doc);
      expect(validate(schema, doc).length, what).toBeGreaterThan(0);
    }
  });

  it('replays a trace given as an image and a request list', async () => {
    const { demoImage, demoRequests } = await import('../src/cli/demo.js');
    const r = await runBench({
      tiny: true, quiet: true,
      replay: { name: 'replay-demo', image: await demoImage(), requests: demoRequests(2000), source: { image: 'demo', imageFormat: 'demo', requests: 'demo', requestFormat: 'vtd-emu' } },
    });
    expect(validate(schema, clone(r))).toEqual([]);
    expect(r.scenarios.map((x) => x.path).sort()).toEqual(['batch', 'batch-iotlb', 'batch-nocache', 'reference', 'single']);
    expect(r.summary.mismatches).toBe(0);
    expect(r.config.replay).toMatchObject({ requests: 2000, used: 2000 });
    // 2000 requests repeat within a repetition until it holds at least the tiny 4096 (3 passes).
    expect(r.scenarios.find((x) => x.path === 'batch')!.requests).toBe(6000);
  });
});

describe('the schema validator', () => {
  it('refuses keywords it does not implement', () => {
    expect(() => validate({ type: 'object', patternProperties: {} }, {})).toThrow(/patternProperties/);
    expect(() => validate({ $ref: '#/$defs/nope' }, 1)).toThrow(/unresolvable/);
  });

  it('checks types, enums, bounds, patterns and anyOf', () => {
    const s = {
      type: 'object', additionalProperties: false, required: ['a'],
      properties: { a: { type: 'integer', minimum: 1, maximum: 3 }, b: { enum: ['x', null] }, c: { type: 'string', pattern: '^z+$' }, d: { anyOf: [{ type: 'null' }, { type: 'array', items: { type: 'boolean' }, minItems: 1 }] } },
    };
    expect(validate(s, { a: 2, b: null, c: 'zz', d: [true] })).toEqual([]);
    expect(validate(s, { a: 4 })).toEqual(['/a: 4 is above the maximum 3']);
    expect(validate(s, { b: 'y' }).length).toBe(2);
    expect(validate(s, { a: 1, c: 'a' })).toEqual(["/c: 'a' does not match /^z+$/"]);
    expect(validate(s, { a: 1, d: [] }).length).toBe(1);
    expect(validate(s, { a: 1, e: 1 })).toEqual(['/e: property not allowed']);
  });
});

describe('bench scenario selection and native_walk output', () => {
  it('rejects filters that match nothing', async () => {
    expect(() => selectScenarios(scenarioNames('quick'), ['no-such-scenario'])).toThrow(BenchArgumentError);
    await expect(runBench({ tiny: true, quiet: true, scenarios: ['nope'] })).rejects.toThrow(BenchArgumentError);
  });

  it('selects by name, prefix and glob', () => {
    const all = scenarioNames('quick');
    expect([...selectScenarios(all, ['fs4-*-rand'])]).toEqual(['fs4-4k-rand', 'fs4-2m-rand', 'fs4-1g-rand']);
    expect([...selectScenarios(all, ['pt'])]).toEqual(['pt-rand', 'pt-seq']);
  });

  it('parses native_walk RESULT lines', () => {
    const out = parseResults(
      'noise\nRESULT label=x pattern=rand mode=walk levels=4 page=4K pasids=1 pages=8 k=16 faults=2.50% min_ns=1.50 med_ns=2.25 Mtps_med=444.44\n' +
      'RESULT label=x pattern=rand mode=iotlb levels=4 page=4K pasids=1 pages=8 k=16 hit=90.0% min_ns=1.00 med_ns=1.25 Mtps_med=800.00\n',
    );
    expect(out).toEqual([
      { pattern: 'rand', mode: 'walk', minNs: 1.5, medNs: 2.25, percent: 2.5, k: 16 },
      { pattern: 'rand', mode: 'iotlb', minNs: 1, medNs: 1.25, percent: 90, k: 16 },
    ]);
  });
});

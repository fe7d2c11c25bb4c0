/**
 * The benchmark's JSON document (bench/README.md), from a tiny run. Structure only: no assertion
 * looks at how fast anything was, only at shapes, non-negative numbers, result checks (zero
 * mismatches) and fault counts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../bench/cli.js';
import { parseResults } from '../bench/native.js';
import { BenchArgumentError, runBench, scenarioNames, SCHEMA, selectScenarios, type BenchReport } from '../bench/run.js';

const PATHS = ['batch', 'single', 'reference', 'native'];
const nonNegative = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

describe('bench JSON (tiny run)', () => {
  let rep: BenchReport;
  beforeAll(async () => {
    rep = await runBench({ tiny: true, quiet: true });
  });

  it('has the top-level sections', () => {
    expect(rep.schema).toBe(SCHEMA);
    expect(Object.keys(rep).sort()).toEqual(
      ['config', 'durationMs', 'machine', 'native', 'notes', 'ratios', 'scenarios', 'schema', 'startedAt', 'summary', 'targets', 'wasm'].sort(),
    );
    expect(rep.config).toMatchObject({ mode: 'quick', tiny: true, seed: 1 });
    for (const k of ['reps', 'referenceReps', 'batchRequests', 'singleRequests', 'referenceRequests'] as const) {
      expect(count(rep.config[k]) && rep.config[k] > 0).toBe(true);
    }
    expect(typeof rep.machine.node).toBe('string');
    expect(count(rep.machine.cpus)).toBe(true);
    expect(typeof rep.machine.arch).toBe('string');
    expect(nonNegative(rep.machine.loadAverage.start) && nonNegative(rep.machine.loadAverage.end)).toBe(true);
    expect(nonNegative(rep.durationMs)).toBe(true);
    expect(rep.targets).toEqual({ wasmVsNativeMax: 1.25, referenceSpeedupMin: 3 });
    expect(typeof rep.native.available).toBe('boolean');
    if (!rep.native.available) expect(typeof rep.native.note).toBe('string');
    expect(() => JSON.parse(JSON.stringify(rep))).not.toThrow();
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep);
  });

  it('has well-formed rows with zero mismatches', () => {
    const names = new Set(scenarioNames('quick', true));
    expect(rep.scenarios.length).toBeGreaterThan(0);
    for (const r of rep.scenarios) {
      expect(names.has(r.name), r.name).toBe(true);
      expect(PATHS).toContain(r.path);
      expect(['rand', 'seq']).toContain(r.pattern);
      expect(count(r.levels) && count(r.pageSize) && r.pageSize >= 4096).toBe(true);
      expect(count(r.requests) && r.requests > 0).toBe(true);
      expect(count(r.reps) && r.reps > 0).toBe(true);
      expect(nonNegative(r.ns.median) && nonNegative(r.ns.min)).toBe(true);
      if (r.path === 'native') expect(r.ns.max).toBeNull();
      else expect(nonNegative(r.ns.max)).toBe(true);
      expect(nonNegative(r.perSecond)).toBe(true);
      expect(count(r.faults) && r.faults <= r.requests).toBe(true);
      expect(count(r.checked) && r.checked <= r.requests).toBe(true);
      expect(r.mismatches, `${r.name} ${r.path}: ${r.mismatchSamples?.join('; ')}`).toBe(0);
      if (r.path !== 'native') expect(r.checked).toBeGreaterThan(0);
    }
    expect(rep.summary.mismatches).toBe(0);
  });

  it('measures every scenario on batch, single and reference, and native images against native', () => {
    const byName = new Map<string, string[]>();
    for (const r of rep.scenarios) byName.set(r.name, [...(byName.get(r.name) ?? []), r.path]);
    for (const [name, paths] of byName) {
      const want = name.startsWith('native-') ? ['native', 'batch', 'single', 'reference'] : ['batch', 'single', 'reference'];
      expect(paths.sort(), name).toEqual(want.sort());
    }
    const expected = scenarioNames('quick', true).filter((n) => rep.native.available || !n.startsWith('native-'));
    expect([...byName.keys()].sort()).toEqual(expected.sort());
  });

  it('counts the same faults on the batch path as native_walk (plus documented differences)', () => {
    for (const n of rep.scenarios.filter((r) => r.path === 'native')) {
      const b = rep.scenarios.find((r) => r.name === n.name && r.path === 'batch')!;
      expect(b.requests).toBe(n.requests);
      expect(b.checkedAgainst).toBe('native-expected');
      expect(b.faults).toBe(n.faults + (b.knownDifferences ?? 0));
    }
  });

  it('has one ratio entry per scenario, numbers or null', () => {
    const names = new Set(rep.scenarios.map((r) => r.name));
    expect(rep.ratios.map((r) => r.scenario).sort()).toEqual([...names].sort());
    for (const r of rep.ratios) {
      for (const k of ['batchNs', 'singleNs', 'referenceNs', 'wasmVsReference', 'referenceSpeedup', 'singleVsBatch'] as const) {
        expect(nonNegative(r[k]), `${r.scenario} ${k}`).toBe(true);
      }
      const native = r.scenario.startsWith('native-');
      for (const k of ['nativeNs', 'wasmVsNative', 'wasmVsNativeMin', 'meetsNativeTarget'] as const) {
        expect(r[k] === null, `${r.scenario} ${k}`).toBe(!native);
      }
      expect(typeof r.meetsReferenceTarget).toBe('boolean');
    }
    expect(rep.summary.scenarios).toBe(rep.ratios.length);
    expect(rep.summary.rows).toBe(rep.scenarios.length);
  });

  it('filters scenarios and skips native on request', async () => {
    const r = await runBench({ tiny: true, quiet: true, scenarios: ['pt'], native: false, reps: 1 });
    expect(new Set(r.scenarios.map((x) => x.name))).toEqual(new Set(['pt-rand', 'pt-seq']));
    expect(r.native.available).toBe(false);
  });
});

describe('bench arguments and parsing', () => {
  it('rejects bad arguments with BenchArgumentError', async () => {
    for (const argv of [['--bogus'], ['--out'], ['--seed', 'x'], ['--reps', '0'], ['--quick', '--full'], ['--json=1']]) {
      expect(() => parseArgs(argv), argv.join(' ')).toThrow(BenchArgumentError);
    }
    expect(() => selectScenarios(scenarioNames('quick'), ['no-such-scenario'])).toThrow(BenchArgumentError);
    await expect(runBench({ tiny: true, quiet: true, scenarios: ['nope'] })).rejects.toThrow(BenchArgumentError);
  });

  it('parses good arguments', () => {
    expect(parseArgs(['--full', '--json', '--out', 'x.json', '--scenario', 'fs4,pt-rand', '--seed=7'])).toMatchObject({
      mode: 'full', json: true, out: 'x.json', scenarios: ['fs4', 'pt-rand'], seed: 7,
    });
    const all = scenarioNames('quick');
    expect([...selectScenarios(all, ['fs4-*-rand'])]).toEqual(['fs4-4k-rand', 'fs4-2m-rand', 'fs4-1g-rand']);
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

/**
 * The native C baseline (bench/native/native_walk.c, a copy of the project's perf-baseline file),
 * compiled and run in the same bench run: it builds its tables, times its own walk, and with
 * --dump writes the image and request files vtd-emu then replays.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pattern } from './scenarios.js';

export interface NativeConfig {
  /** Scenario name prefix; scenarios are `${key}-${pattern}`. */
  key: string;
  levels: 4 | 5;
  page: '4k' | '2m';
  pasids: number;
  pages: number;
  density: number;
  mem: string;
  patterns: Pattern[];
  description: string;
}

const BOTH: Pattern[] = ['rand', 'seq'];

/** Cache-resident (dense, one PASID) and 32 MiB-of-tables configurations, per native README. */
export function nativeConfigs(mode: 'tiny' | 'quick' | 'full'): NativeConfig[] {
  if (mode === 'tiny') {
    return [{ key: 'native-fs4-4k-dense', levels: 4, page: '4k', pasids: 1, pages: 4096, density: 1, mem: '16M', patterns: BOTH,
      description: 'tiny: 4096 pages, 1 PASID, dense' }];
  }
  const dense = (levels: 4 | 5, page: '4k' | '2m'): NativeConfig => ({
    key: `native-fs${levels}-${page}-dense`, levels, page, pasids: 1, pages: 262144, density: 1, mem: '256M', patterns: BOTH,
    description: `--levels ${levels} --page ${page} --pasids 1 --pages 262144 --density 1 (cache-resident)`,
  });
  const big = (levels: 4 | 5, page: '4k' | '2m'): NativeConfig => ({
    key: `native-fs${levels}-${page}-32m`, levels, page, pasids: 16, pages: 262144, density: 16, mem: '256M', patterns: BOTH,
    description: `--levels ${levels} --page ${page} --pasids 16 --pages 262144 --density 16 (~32 MiB of tables)`,
  });
  // Streaming (ten requests per page: ~90% IOTLB hits) and 1024 PASIDs at once.
  const stream: NativeConfig = { ...dense(4, '4k'), key: 'native-fs4-4k-stream', patterns: ['seq10'] };
  const many: NativeConfig = {
    key: 'native-fs4-4k-1024pasid', levels: 4, page: '4k', pasids: 1024, pages: 262144, density: 1, mem: '256M', patterns: ['rand'],
    description: '--levels 4 --page 4k --pasids 1024 --pages 262144 --density 1 (1024 PASIDs)',
  };
  const quick = [dense(4, '4k'), stream, many, dense(5, '4k'), dense(4, '2m'), big(4, '4k')];
  return mode === 'quick' ? quick : [...quick, big(5, '4k'), big(4, '2m')];
}

export type Toolchain =
  | { available: true; compiler: string; version: string; flags: string[]; binary: string; dir: string; source: string }
  | { available: false; note: string };

/** bench/native/native_walk.c, from the sources (vitest) or from the CLI bundle in dist/ (also in the npm package). */
export function findNativeSource(): string | undefined {
  const candidates = [new URL('./native/native_walk.c', import.meta.url), new URL('../bench/native/native_walk.c', import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function which(cmd: string): string | undefined {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return (r.stdout || r.stderr).split('\n')[0]!.trim();
}

/** Compiles native_walk.c into a temp dir with gcc (or cc); never throws. */
export function prepareNative(): Toolchain {
  const source = findNativeSource();
  if (!source) return { available: false, note: 'bench/native/native_walk.c not found; native baseline skipped' };
  const compiler = ['gcc', 'cc'].map((c) => ({ c, v: which(c) })).find((x) => x.v !== undefined);
  if (!compiler) return { available: false, note: 'no C compiler (gcc or cc) on PATH; native baseline skipped' };
  const dir = mkdtempSync(join(tmpdir(), 'vtd-bench-native-'));
  const binary = join(dir, 'native_walk');
  const attempts = [['-O2', '-march=x86-64-v2'], ['-O2']];
  const errors: string[] = [];
  for (const flags of attempts) {
    const r = spawnSync(compiler.c, [...flags, '-o', binary, source], { encoding: 'utf8' });
    if (!r.error && r.status === 0) {
      return { available: true, compiler: compiler.c, version: compiler.v!, flags, binary, dir, source };
    }
    errors.push(`${flags.join(' ')}: ${(r.stderr || String(r.error)).trim().split('\n')[0]}`);
  }
  rmSync(dir, { recursive: true, force: true });
  return { available: false, note: `compiling native_walk.c with ${compiler.c} failed (${errors.join('; ')}); native baseline skipped` };
}

export function disposeNative(tc: Toolchain): void {
  if (tc.available) rmSync(tc.dir, { recursive: true, force: true });
}

export interface NativeResult {
  pattern: Pattern;
  mode: 'walk' | 'iotlb';
  minNs: number;
  medNs: number;
  /** walk: fault percentage; iotlb: hit percentage. */
  percent: number;
  k: number;
}

export interface NativeRun {
  args: string[];
  results: NativeResult[];
  imagePath: string;
  requestPath: (pattern: Pattern) => string;
  tableFrames?: number;
  tablesMiB?: number;
}

/** Parses `RESULT key=value ...` lines (values never contain spaces: labels are scenario keys). */
export function parseResults(stdout: string): NativeResult[] {
  const out: NativeResult[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('RESULT ')) continue;
    const kv = new Map<string, string>();
    for (const tok of line.slice(7).trim().split(/\s+/)) {
      const eq = tok.indexOf('=');
      if (eq > 0) kv.set(tok.slice(0, eq), tok.slice(eq + 1));
    }
    const mode = kv.get('mode');
    const pattern = kv.get('pattern');
    const minNs = Number(kv.get('min_ns'));
    const medNs = Number(kv.get('med_ns'));
    if ((mode !== 'walk' && mode !== 'iotlb') || (pattern !== 'rand' && pattern !== 'seq' && pattern !== 'seq10') ||
        !Number.isFinite(minNs) || !Number.isFinite(medNs)) {
      throw new Error(`unparsable native_walk line: ${line}`);
    }
    const pct = kv.get(mode === 'walk' ? 'faults' : 'hit') ?? 'NaN';
    out.push({ pattern, mode, minNs, medNs, percent: Number(pct.replace('%', '')), k: Number(kv.get('k')) });
  }
  return out;
}

export function runNative(
  tc: Extract<Toolchain, { available: true }>, cfg: NativeConfig, patterns: Pattern[],
  o: { requests: number; reps: number; seed: number },
): NativeRun {
  const prefix = join(tc.dir, cfg.key);
  const args = [
    '--mem', cfg.mem, '--levels', String(cfg.levels), '--page', cfg.page, '--pasids', String(cfg.pasids),
    '--pages', String(cfg.pages), '--density', String(cfg.density), '--requests', String(o.requests),
    '--pattern', patterns.join(','), '--reps', String(o.reps), '--seed', String(o.seed), '--dump', prefix, '--label', cfg.key,
  ];
  const r = spawnSync(tc.binary, args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 600_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`native_walk ${args.join(' ')} failed (status ${r.status}): ${(r.stderr || String(r.error)).trim().slice(-400)}`);
  }
  const m = /table frames=(\d+) \(([\d.]+) MiB\)/.exec(r.stderr);
  return {
    args,
    results: parseResults(r.stdout),
    imagePath: `${prefix}.img`,
    requestPath: (p) => `${prefix}.${p}.req`,
    ...(m ? { tableFrames: Number(m[1]), tablesMiB: Number(m[2]) } : {}),
  };
}

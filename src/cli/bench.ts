/** `vtd-emu bench` (what `npm run bench` runs): the translation benchmark, or the replay of a user's trace. */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { basename, dirname, extname } from 'node:path';
import { renderHtml, renderSvg } from '../../bench/chart.js';
import { formatReport } from '../../bench/report.js';
import { BenchArgumentError, runBench, scenarioNames, selectScenarios, type BenchOptions, type ReplayInput } from '../../bench/run.js';
import { CliError } from './errors.js';
import { need, parse, parseRange, parseSid, writeOutput } from './args.js';
import { DEMO_SID } from './demo.js';
import { loadImage, loadRequests } from './load.js';
import { terminalProgress, type Progress } from './progress.js';

export const BENCH_USAGE = `usage: vtd-emu bench [--quick | --full | --tiny] [--scenario NAME[,NAME...]]... [--no-native]
                    [--json] [--out FILE.json] [--html FILE.html] [--chart FILE.svg]
                    [--seed N] [--reps N] [--list] [--verbose]
       vtd-emu bench --image FILE --requests FILE [--sid BDF] [--tiny] [--json] [--out ...] [--html ...]

Measures the translation core on built-in scenarios (tables written with the guest encoders, and
native_walk's images with the native C walker timed in the same run), or replays a user's trace.
Every scenario runs on the paths batch (context + PASID caches, no IOTLB), batch-nocache,
batch-iotlb (all caches), single (one call per request) and reference (the pure-TS walker), plus
native and native-iotlb for native_walk's images; the dma-* scenarios measure device DMA through
the simulated iommufd after the guest bound its PASID tables (path dma). Results are
cross-checked on every run.

  --quick          default (~1.5 minutes): mostly cache-resident tables, plus native's 32 MiB case
  --full           bigger tables (32 MiB per 4 KiB table set) and more native cases (several minutes)
  --tiny           a seconds-long smoke configuration (numbers not meaningful)
  --scenario F     only scenarios named F, starting with 'F-', or matching the glob F ('fs4-*-rand'); repeatable
  --no-native      skip the native C baseline (it needs gcc or cc)
  --json           print one JSON document (schema: bench/schema.json) instead of the tables
  --out FILE       also write the JSON document to FILE
  --html FILE      also write a self-contained HTML page: chart (inline SVG) and ratio table
  --chart FILE     also write the chart alone as an SVG file
  --seed N         seed of the deterministic tables and requests (default 1)
  --reps N         timed repetitions per path (default 7; 3 with --tiny)
  --list           list the scenario names of the chosen mode and exit
  --verbose        progress lines on stderr even when it is not a terminal
  --image FILE     replay: a guest image (vtd-emu .vtdimg, or native_walk VTDIMG01) ...
  --requests FILE  ... and a request list (vtd-emu .vtdreq, or native_walk VTDREQ01, whose expected
                   results are then checked); the first ${2 ** 20} requests are measured
  --sid BDF        replay of native_walk files: the device of every request (default 00:03.0)

A progress bar is drawn on stderr when it is a terminal. Exit status: 0, 1 if any result
mismatched, 2 for bad arguments or files.`;

/** Fails before a long run when an output file cannot be written. */
function checkWritable(path: string, flag: string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch {
    throw new CliError(`bench: ${flag}: cannot write into '${dir}'`);
  }
}

export async function benchCommand(argv: string[]): Promise<number> {
  const v = parse('bench', argv, {
    quick: { type: 'boolean' }, full: { type: 'boolean' }, tiny: { type: 'boolean' }, json: { type: 'boolean' },
    out: { type: 'string' }, html: { type: 'string' }, chart: { type: 'string' }, scenario: { type: 'string', multiple: true },
    seed: { type: 'string' }, reps: { type: 'string' }, 'no-native': { type: 'boolean' }, list: { type: 'boolean' },
    verbose: { type: 'boolean' }, image: { type: 'string' }, requests: { type: 'string' }, sid: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  need(!(v.quick && v.full), 'bench', 'give --quick or --full, not both');
  need(!(v.tiny && v.full), 'bench', 'give --tiny or --full, not both');
  const replaying = v.image !== undefined || v.requests !== undefined;
  need(!replaying || (v.image !== undefined && v.requests !== undefined), 'bench', 'a replay needs both --image and --requests');
  need(!(replaying && v.scenario), 'bench', '--scenario does not apply to a replay (--image/--requests)');
  need(!(replaying && v.list), 'bench', '--list does not apply to a replay (--image/--requests)');
  need(replaying || v.sid === undefined, 'bench', '--sid only applies to a replay (--image/--requests)');
  const opts: BenchOptions = { mode: v.full ? 'full' : 'quick', tiny: v.tiny ?? false };
  if (v.seed !== undefined) opts.seed = parseRange(v.seed, '--seed', 0, Number.MAX_SAFE_INTEGER);
  if (v.reps !== undefined) opts.reps = parseRange(v.reps, '--reps', 1, 1000);
  if (v['no-native']) opts.native = false;
  const filters = (v.scenario ?? []).flatMap((s) => s.split(',')).filter(Boolean);
  if (filters.length) opts.scenarios = filters;
  const names = scenarioNames(opts.mode!, opts.tiny);
  try {
    selectScenarios(names, filters); // before any work
  } catch (e) {
    if (e instanceof BenchArgumentError) throw new CliError(`bench: ${e.message}`);
    throw e;
  }
  if (v.list) {
    process.stdout.write(`${[...selectScenarios(names, filters)].join('\n')}\n`);
    return 0;
  }
  for (const [flag, path] of [['--out', v.out], ['--html', v.html], ['--chart', v.chart]] as const) if (path !== undefined) checkWritable(path, flag);

  if (replaying) {
    const sid = v.sid === undefined ? DEMO_SID : parseSid(v.sid);
    const img = await loadImage(v.image!, sid);
    const rq = loadRequests(v.requests!, sid);
    if (rq.expected && img.format !== 'VTDIMG01') {
      throw new CliError(`bench: ${rq.name} holds native_walk's expected results; replay it with the native_walk image it belongs to`);
    }
    const r: ReplayInput = {
      name: `replay-${basename(v.requests!, extname(v.requests!))}`,
      image: img.image, requests: rq.requests,
      source: { image: v.image!, imageFormat: img.format, requests: v.requests!, requestFormat: rq.format },
      ...(rq.expected ? { expected: rq.expected } : {}),
      ...(img.native ? { levels: img.native.levels, pageSize: img.native.bigPages ? 2 ** 21 : 4096 } : {}),
    };
    opts.replay = r;
  }

  let progress: Progress | undefined;
  if (process.stderr.isTTY) {
    progress = terminalProgress(process.stderr, 'bench');
    opts.progress = (d, t, label) => progress!.update(d, t, label);
    opts.log = (line) => progress!.log(`[bench] ${line}`);
  } else if (!v.verbose) {
    opts.quiet = true;
  }
  let report;
  try {
    report = await runBench(opts);
  } catch (e) {
    if (e instanceof BenchArgumentError) throw new CliError(`bench: ${e.message}`);
    throw e;
  } finally {
    progress?.done();
  }
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (v.out) writeOutput(v.out, json, 'JSON');
  if (v.html) writeOutput(v.html, renderHtml(report), 'HTML');
  if (v.chart) writeOutput(v.chart, `${renderSvg(report)}\n`, 'SVG chart');
  process.stdout.write(v.json ? json : `${formatReport(report)}\n`);
  if (!v.json && (process.stderr.isTTY || v.verbose)) for (const [what, path] of [['JSON', v.out], ['HTML', v.html], ['SVG chart', v.chart]] as const) if (path) process.stderr.write(`[bench] ${what} written to ${path}\n`);
  return report.summary.mismatches > 0 ? 1 : 0;
}

/**
 * `npm run bench` entry: builds nothing itself (the script builds the core and this file first),
 * runs the benchmark and prints a table, or JSON with --json. Usage: `--help`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatReport } from './report.js';
import { parseArgs, USAGE, type Cli } from './cli.js';
import { BenchArgumentError, runBench, scenarioNames, selectScenarios } from './run.js';

async function main(): Promise<number> {
  let cli: Cli;
  try {
    cli = parseArgs(process.argv.slice(2));
    if (cli.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const names = scenarioNames(cli.mode ?? 'quick', cli.tiny ?? false);
    selectScenarios(names, cli.scenarios ?? []); // validates the filters before any work
    if (cli.list) {
      process.stdout.write(`${[...selectScenarios(names, cli.scenarios ?? [])].join('\n')}\n`);
      return 0;
    }
  } catch (e) {
    if (e instanceof BenchArgumentError) {
      process.stderr.write(`bench: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const report = await runBench(cli);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (cli.out) {
    mkdirSync(dirname(cli.out), { recursive: true });
    writeFileSync(cli.out, json);
  }
  process.stdout.write(cli.json ? json : `${formatReport(report)}\n`);
  if (cli.out && !cli.json) process.stderr.write(`[bench] JSON written to ${cli.out}\n`);
  return 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);

/** Command-line parsing of `npm run bench` (kept apart from main.ts so tests can import it). */
import { BenchArgumentError, type BenchOptions, type Mode } from './run.js';

export const USAGE = `usage: npm run bench -- [--quick | --full] [--json] [--out FILE] [--scenario NAME[,NAME...]]...
                          [--seed N] [--reps N] [--no-native] [--list] [--help]
  --quick          default (~1 minute): mostly cache-resident tables, plus native's 32 MiB 4-level case
  --full           bigger tables: 32 MiB per 4 KiB table set (as native_walk --pages 262144 --density 16
                   --pasids 16) and the native 32 MiB 5-level and 2 MiB-page cases (several minutes)
  --json           print one JSON document (schema: bench/README.md) instead of the tables
  --out FILE       also write the JSON document to FILE
  --scenario F     only scenarios named F, starting with 'F-', or matching the glob F ('fs4-*-rand'); repeatable
  --seed N         seed of the deterministic tables and requests (default 1)
  --reps N         timed repetitions per path (default 7)
  --no-native      skip the native C baseline
  --tiny           a seconds-long smoke configuration (numbers not meaningful; what the schema test runs)
  --list           list scenario names of the chosen mode and exit`;

export interface Cli extends BenchOptions {
  json: boolean;
  out?: string;
  list: boolean;
  help: boolean;
}

export function parseArgs(argv: string[]): Cli {
  const cli: Cli = { json: false, list: false, help: false, scenarios: [] };
  let mode: Mode | undefined;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new BenchArgumentError(`${flag} needs a value`);
    return v;
  };
  const int = (s: string, flag: string): number => {
    if (!/^\d+$/.test(s)) throw new BenchArgumentError(`${flag} needs a non-negative integer, got '${s}'`);
    return Number(s);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = value(i, flag);
      i++;
      return v;
    };
    switch (flag) {
      case '--quick':
      case '--full':
        if (mode !== undefined && mode !== flag.slice(2)) throw new BenchArgumentError('give --quick or --full, not both');
        mode = flag.slice(2) as Mode;
        break;
      case '--json': cli.json = true; break;
      case '--out': cli.out = take(); break;
      case '--scenario': cli.scenarios!.push(...take().split(',').filter(Boolean)); break;
      case '--seed': cli.seed = int(take(), '--seed'); break;
      case '--reps': {
        const r = int(take(), '--reps');
        if (r < 1 || r > 1000) throw new BenchArgumentError(`--reps must be in [1, 1000], got ${r}`);
        cli.reps = r;
        break;
      }
      case '--no-native': cli.native = false; break;
      case '--tiny': cli.tiny = true; break;
      case '--list': cli.list = true; break;
      case '--help': case '-h': cli.help = true; break;
      default: throw new BenchArgumentError(`unknown argument '${a}' (see --help)`);
    }
    if (inline !== undefined && !['--out', '--scenario', '--seed', '--reps'].includes(flag)) {
      throw new BenchArgumentError(`${flag} takes no value`);
    }
  }
  if (mode) cli.mode = mode;
  return cli;
}

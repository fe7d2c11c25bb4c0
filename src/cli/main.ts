/**
 * `vtd-emu`: the command line (the package's bin, dist/cli.js).
 *   vtd-emu bench        the translation benchmark, or the replay of a user's trace
 *   vtd-emu walk         one translation explained step by step
 *   vtd-emu dump         the root / context / PASID structures of a guest image
 *   vtd-emu export-demo  the demo guest and a request trace, as files
 * Bad arguments and bad files: one line on stderr, exit status 2. A stack trace only with
 * VTD_EMU_DEBUG=1, for errors that are bugs (exit status 1).
 */
import { VtdError } from '../errors.js';
import { GuestEncodeError } from '../guest/index.js';
import { CapsError } from '../spec/caps.js';
import { BENCH_USAGE, benchCommand } from './bench.js';
import { DUMP_USAGE, dumpCommand } from './dump.js';
import { CliError, FormatError } from './errors.js';
import { EXPORT_USAGE, exportDemoCommand } from './export-demo.js';
import { WALK_USAGE, walkCommand } from './walk.js';

declare const __VTD_EMU_VERSION__: string | undefined;
const VERSION = typeof __VTD_EMU_VERSION__ === 'string' ? __VTD_EMU_VERSION__ : 'dev';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; usage: string; summary: string }> = {
  bench: { run: benchCommand, usage: BENCH_USAGE, summary: 'measure the translation core (built-in scenarios, or --image/--requests to replay a trace)' },
  walk: { run: walkCommand, usage: WALK_USAGE, summary: 'explain one translation step by step: every structure read, its fields, the result or fault' },
  dump: { run: dumpCommand, usage: DUMP_USAGE, summary: "decode a guest image's root, context, PASID directory and PASID table entries" },
  'export-demo': { run: exportDemoCommand, usage: EXPORT_USAGE, summary: 'write the demo guest image and a request list (examples of both formats)' },
};

export const USAGE = `usage: vtd-emu <command> [options]    (vtd-emu <command> --help for its options)

commands:
${Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(12)} ${c.summary}`).join('\n')}

  vtd-emu --version | --help`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`vtd-emu ${VERSION}\n`);
    return 0;
  }
  if (cmd === 'help') {
    const c = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    if (rest[0] !== undefined && !c) throw new CliError(`unknown command '${rest[0]}' (see vtd-emu --help)`);
    process.stdout.write(`${c ? c.usage : USAGE}\n`);
    return 0;
  }
  const c = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!c) throw new CliError(`unknown command '${cmd}' (see vtd-emu --help)`);
  return c.run(rest);
}

/** One line, whatever the message holds. */
const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, '; ');

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    // Usage errors and bad files (including the library's argument and encoding errors they
    // lead to, e.g. an image whose regions the core rejects): exit status 2.
    if (e instanceof CliError || e instanceof FormatError || e instanceof VtdError || e instanceof CapsError || e instanceof GuestEncodeError) {
      process.stderr.write(`vtd-emu: ${oneLine(e.message)}\n`);
      process.exitCode = 2;
      return;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(process.env.VTD_EMU_DEBUG ? `${err.stack ?? err.message}\n` : `vtd-emu: internal error: ${oneLine(err.message)} (VTD_EMU_DEBUG=1 shows the stack)\n`);
    process.exitCode = 1;
  },
);

/** Argument parsing for the subcommands: node's util.parseArgs, with one-line CliErrors. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly (no positionals); errors name the command and point at --help. */
export function parse<O extends Options>(cmd: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const m = String(err.message ?? e);
    let msg: string;
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
        const opt = /'([^']+)'/.exec(m)?.[1] ?? m;
        msg = `unknown option '${opt}'`;
        break;
      }
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
        const arg = /'([^']+)'/.exec(m)?.[1] ?? m;
        msg = `unexpected argument '${arg}'`;
        break;
      }
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
        const opt = /'(--[^' ]+)/.exec(m)?.[1];
        msg = opt ? (/missing|ambiguous/.test(m) ? `${opt} needs a value` : `${opt} takes no value`) : m.split('\n')[0]!;
        break;
      }
      default:
        msg = m.split('\n')[0]!;
    }
    throw new CliError(`${cmd}: ${msg} (see vtd-emu ${cmd} --help)`);
  }
}

/** A source-id: 'BB:DD.F' (hex bus and device, function 0-7), '0x18' or decimal. */
export function parseSid(s: string, flag = '--sid'): number {
  const bdf = /^([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(s);
  if (bdf) {
    const bus = parseInt(bdf[1]!, 16);
    const dev = parseInt(bdf[2]!, 16);
    if (dev > 31) throw new CliError(`${flag}: device ${dev} is beyond 0x1f in '${s}'`);
    return (bus << 8) | (dev << 3) | Number(bdf[3]);
  }
  const v = parseIntArg(s, flag);
  if (v > 0xffffn) throw new CliError(`${flag}: source-id ${s} is beyond 0xffff (use BB:DD.F or 0x0000-0xffff)`);
  return Number(v);
}

/** A non-negative integer in hex (0x...) or decimal (underscores allowed), as a bigint. */
export function parseIntArg(s: string, flag: string): bigint {
  const t = s.replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) throw new CliError(`${flag}: '${s}' is not a number (decimal or 0x hex)`);
  return BigInt(t);
}

export function parseU64(s: string, flag: string): bigint {
  const v = parseIntArg(s, flag);
  if (v >= 1n << 64n) throw new CliError(`${flag}: ${s} does not fit in 64 bits`);
  return v;
}

export function parseRange(s: string, flag: string, lo: number, hi: number): number {
  const v = parseIntArg(s, flag);
  if (v < BigInt(lo) || v > BigInt(hi)) throw new CliError(`${flag}: ${s} is not in [${lo}, ${hi}]`);
  return Number(v);
}

export function parsePasid(s: string, flag = '--pasid'): number {
  const v = parseIntArg(s, flag);
  if (v > 0xfffffn) throw new CliError(`${flag}: PASID ${s} is beyond 0xfffff (20 bits)`);
  return Number(v);
}

/** Reads a whole file; a missing or unreadable file is a CliError. */
export function readInput(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message ?? e);
    throw new CliError(`cannot read ${what} '${path}': ${why}`);
  }
}

/** Error for a flag given without another it needs, or two that exclude each other. */
export function need(cond: unknown, cmd: string, msg: string): void {
  if (!cond) throw new CliError(`${cmd}: ${msg} (see vtd-emu ${cmd} --help)`);
}

/** Writes a file (creating its directory); failures are CliErrors. */
export function writeOutput(path: string, data: string | Uint8Array, what: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code === 'ENOTDIR' ? 'a parent is not a directory' : String((e as Error).message ?? e);
    throw new CliError(`cannot write ${what} '${path}': ${why}`);
  }
}

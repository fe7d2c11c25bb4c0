import { checkPtr, checkU64, checkUint, GuestEncodeError, orRaw } from './errors.js';
import { writeEntry, type GuestMemoryLike } from './memory.js';

/** PASID-granular translation type (PASID entry bits 8:6). */
export const PGTT = {
  FIRST_STAGE: 0b001,
  SECOND_STAGE: 0b010,
  NESTED: 0b011,
  PASS_THROUGH: 0b100,
} as const;

export type PgttName = 'first-stage' | 'second-stage' | 'nested' | 'pass-through';

const PGTT_NAMES = new Map<string, number>([
  ['first-stage', PGTT.FIRST_STAGE],
  ['second-stage', PGTT.SECOND_STAGE],
  ['nested', PGTT.NESTED],
  ['pass-through', PGTT.PASS_THROUGH],
]);

export const MAX_PASID = 0xfffff;

/** PASID directory entry (64 bits), VT-d 9.5: P bit 0, FPD bit 1, PASID-table pointer 63:12. */
export interface PasidDirFields {
  present?: boolean;
  fpd?: boolean;
  pasidTablePtr: bigint;
  raw?: bigint;
}

export function encodePasidDirEntry(f: PasidDirFields): bigint {
  return (
    ((f.present ?? true) ? 1n : 0n) | (f.fpd ? 2n : 0n) |
    checkPtr('pasidTablePtr', f.pasidTablePtr) | checkU64('raw', f.raw ?? 0n)
  );
}

/** Directory entries cover 64 PASIDs each: entry pasid >> 6. */
export function pasidDirEntryAddress(pasidDirPtr: bigint, pasid: number): bigint {
  return checkPtr('pasidDirPtr', pasidDirPtr) + BigInt((checkUint('pasid', pasid, MAX_PASID) >>> 6) * 8);
}

/** A PASID table holds 64 entries of 64 bytes: entry pasid & 63. */
export function pasidEntryAddress(pasidTablePtr: bigint, pasid: number): bigint {
  return checkPtr('pasidTablePtr', pasidTablePtr) + BigInt((checkUint('pasid', pasid, MAX_PASID) & 63) * 64);
}

export function writePasidDirEntry(mem: GuestMemoryLike, pasidDirPtr: bigint, pasid: number, f: PasidDirFields): bigint {
  const at = pasidDirEntryAddress(pasidDirPtr, pasid);
  mem.writeU64(at, encodePasidDirEntry(f));
  return at;
}

/**
 * Scalable-mode PASID table entry (512 bits), VT-d 9.6. Absent fields encode as 0 (so an
 * all-default entry is present with PGTT 000b, which is invalid: pgtt is required).
 */
export interface PasidEntryFields {
  /** P, bit 0 (default true). */
  present?: boolean;
  /** FPD, bit 1. */
  fpd?: boolean;
  /** AW, bits 4:2: second-stage width, 1 = 3-level, 2 = 4-level, 3 = 5-level. */
  aw?: number;
  /** PGTT, bits 8:6: a name, a PGTT constant, or any 3-bit value (for invalid-type tests). */
  pgtt: PgttName | number;
  /** SSPTPTR, bits 63:12: second-stage table root. */
  ssptptr?: bigint;
  /** DID, bits 79:64. */
  did?: number;
  /** SRE, bit 128: supervisor requests enable. */
  sre?: boolean;
  /** ERE, bit 129: execute requests enable. */
  ere?: boolean;
  /** FSPM, bits 131:130: 00b 4-level, 01b 5-level first-stage paging. */
  fspm?: number;
  /** Alternative to fspm: first-stage levels (4 → FSPM 00b, 5 → 01b). */
  levels?: 4 | 5;
  /** WPE, bit 132: write protect enable (CR0.WP for supervisor requests). */
  wpe?: boolean;
  /** NXE, bit 133 (VT-d 3.x; Linux sets it; the walker ignores it). */
  nxe?: boolean;
  /** SMEP, bit 134 (defined, ignored by the walker). */
  smep?: boolean;
  /** EAFE, bit 135: extended-accessed flag enable. */
  eafe?: boolean;
  /** FSPTPTR, bits 191:140: first-stage table root. */
  fsptptr?: bigint;
  /** Up to 8 qwords OR'd into the encoding, for reserved or not-modelled bits. */
  raw?: readonly bigint[];
}

const b = (on: boolean | undefined, bit: number): bigint => (on ? 1n << BigInt(bit) : 0n);

function pgttValue(p: PgttName | number): number {
  if (typeof p === 'number') return checkUint('pgtt', p, 7);
  const v = PGTT_NAMES.get(p);
  if (v === undefined) {
    throw new GuestEncodeError(`pgtt must be 'first-stage', 'second-stage', 'nested', 'pass-through' or 0..7, got '${String(p)}'`);
  }
  return v;
}

function fspmValue(f: PasidEntryFields): number {
  if (f.levels !== undefined && f.levels !== 4 && f.levels !== 5) {
    throw new GuestEncodeError(`levels must be 4 or 5, got ${String(f.levels)}`);
  }
  const fromLevels = f.levels === undefined ? undefined : f.levels - 4;
  if (f.fspm !== undefined && fromLevels !== undefined && f.fspm !== fromLevels) {
    throw new GuestEncodeError(`fspm ${f.fspm} contradicts levels ${f.levels}; give one of them`);
  }
  return checkUint('fspm', f.fspm ?? fromLevels ?? 0, 3);
}

/** The 8 qwords of a PASID table entry. */
export function encodePasidEntry(f: PasidEntryFields): bigint[] {
  const q0 =
    b(f.present ?? true, 0) | b(f.fpd, 1) | (BigInt(checkUint('aw', f.aw ?? 0, 7)) << 2n) |
    (BigInt(pgttValue(f.pgtt)) << 6n) | checkPtr('ssptptr', f.ssptptr ?? 0n);
  const q1 = BigInt(checkUint('did', f.did ?? 0, 0xffff));
  const q2 =
    b(f.sre, 0) | b(f.ere, 1) | (BigInt(fspmValue(f)) << 2n) | b(f.wpe, 4) | b(f.nxe, 5) |
    b(f.smep, 6) | b(f.eafe, 7) | checkPtr('fsptptr', f.fsptptr ?? 0n);
  return orRaw('PASID entry', [q0, q1, q2, 0n, 0n, 0n, 0n, 0n], f.raw);
}

export function writePasidEntry(mem: GuestMemoryLike, pasidTablePtr: bigint, pasid: number, f: PasidEntryFields): bigint {
  const at = pasidEntryAddress(pasidTablePtr, pasid);
  writeEntry(mem, at, encodePasidEntry(f));
  return at;
}

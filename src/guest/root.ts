import { scalableContextEntryAddress } from './context.js';
import { checkPtr, checkUint, orRaw } from './errors.js';
import { readEntry, writeEntry, type GuestMemoryLike } from './memory.js';

/** Source-id → bus and devfn (sid = bus << 8 | devfn). */
export function splitSid(sid: number): { bus: number; devfn: number } {
  checkUint('sid', sid, 0xffff);
  return { bus: sid >> 8, devfn: sid & 0xff };
}

/** Root entries are 16 bytes, indexed by bus. */
export function rootEntryAddress(rta: bigint, bus: number): bigint {
  checkPtr('rta', rta);
  return rta + BigInt(checkUint('bus', bus, 255) * 16);
}

/**
 * Scalable-mode root entry, VT-d 9.2: q0 covers devfn 0-127 (LP bit 0, LCTP bits 63:12),
 * q1 devfn 128-255 (UP bit 64, UCTP bits 127:76). A half's present bit defaults to
 * "pointer given".
 */
export interface ScalableRootFields {
  lp?: boolean;
  lctp?: bigint;
  up?: boolean;
  uctp?: bigint;
  raw?: readonly bigint[];
}

export function encodeScalableRootEntry(f: ScalableRootFields): bigint[] {
  const half = (p: boolean | undefined, ctp: bigint | undefined, name: string): bigint =>
    ((p ?? ctp !== undefined) ? 1n : 0n) | checkPtr(name, ctp ?? 0n);
  return orRaw('scalable root entry', [half(f.lp, f.lctp, 'lctp'), half(f.up, f.uctp, 'uctp')], f.raw);
}

/** Legacy root entry, VT-d 9.1: P bit 0, CTP bits 63:12; q1 reserved. */
export interface LegacyRootFields {
  present?: boolean;
  ctp: bigint;
  raw?: readonly bigint[];
}

export function encodeLegacyRootEntry(f: LegacyRootFields): bigint[] {
  return orRaw('legacy root entry', [((f.present ?? true) ? 1n : 0n) | checkPtr('ctp', f.ctp), 0n], f.raw);
}

export function writeScalableRootEntry(mem: GuestMemoryLike, rta: bigint, bus: number, f: ScalableRootFields): void {
  writeEntry(mem, rootEntryAddress(rta, bus), encodeScalableRootEntry(f));
}

export function writeLegacyRootEntry(mem: GuestMemoryLike, rta: bigint, bus: number, f: LegacyRootFields): void {
  writeEntry(mem, rootEntryAddress(rta, bus), encodeLegacyRootEntry(f));
}

/**
 * Point the root-entry half that covers `devfn` at context table `ctp` and mark it present,
 * keeping the other half as it is. Returns the GPA of `devfn`'s context entry in that table.
 */
export function setScalableContext(mem: GuestMemoryLike, rta: bigint, bus: number, devfn: number, ctp: bigint): bigint {
  checkUint('devfn', devfn, 255);
  const at = rootEntryAddress(rta, bus);
  const half = devfn >= 128 ? 1 : 0;
  const q = readEntry(mem, at, 2);
  q[half] = checkPtr('ctp', ctp) | 1n;
  writeEntry(mem, at, q);
  return scalableContextEntryAddress(ctp, devfn);
}

/** The present context-table pointer of the half covering `devfn`, if any (scalable mode). */
export function scalableContextTable(mem: GuestMemoryLike, rta: bigint, bus: number, devfn: number): bigint | undefined {
  checkUint('devfn', devfn, 255);
  const q = mem.readU64(rootEntryAddress(rta, bus) + (devfn >= 128 ? 8n : 0n));
  return q & 1n ? q & ~0xfffn : undefined;
}

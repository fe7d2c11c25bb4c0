/** Bit helpers and result constructors shared by the reference walker's pieces. */
import { faultName } from '../spec/faults.js';
import type { TranslateFault, TranslateOk } from '../types.js';
import type { RefMemory } from './memory.js';

/** Bit n of q. */
export const bit = (q: bigint, n: number): boolean => ((q >> BigInt(n)) & 1n) === 1n;

/** Bits hi:lo of q, shifted down. */
export const field = (q: bigint, hi: number, lo: number): bigint =>
  (q >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);

/** A mask of bits hi:lo (empty when hi < lo, e.g. bits 51:HAW with HAW = 52). */
export const mask = (hi: number, lo: number): bigint =>
  hi < lo ? 0n : ((1n << BigInt(hi + 1)) - 1n) ^ ((1n << BigInt(lo)) - 1n);

/** Pointer fields of root/context/PASID structures: bits 63:12. */
export const PTR_MASK = mask(63, 12);
/** Next-table address in a paging entry: ADDR(51:12). */
export const ADDR_MASK = mask(51, 12);

export const INTERRUPT_LO = 0xfee00000n;
export const INTERRUPT_HI = 0xfeefffffn;

export function fault(reason: number, level?: number): TranslateFault {
  // `level` is present only for page-walk faults (types.ts FaultInfo).
  const info = level === undefined ? { reason, name: faultName(reason) } : { reason, name: faultName(reason), level };
  return { ok: false, fault: info };
}

export function identity(address: bigint): TranslateOk {
  return { ok: true, address, pageSize: 4096, read: true, write: true, exec: true };
}

/**
 * Reads an entry of `qwords` 64-bit words. Undefined is a read fault: the contract wants the
 * entry's whole span inside one RAM region.
 */
export function readEntry(mem: RefMemory, gpa: bigint, qwords: number): bigint[] | undefined {
  if (mem.spanInside && !mem.spanInside(gpa, qwords * 8)) return undefined;
  const q: bigint[] = [];
  for (let i = 0; i < qwords; i++) {
    const v = mem.read64(gpa + BigInt(i * 8));
    if (v === undefined) return undefined;
    q.push(v);
  }
  return q;
}

/** §8: output in the interrupt address range faults (0x87, legacy 0xE); no level. */
export function outputCheck<T extends TranslateOk>(r: T | TranslateFault, code: number): T | TranslateFault {
  if (r.ok && r.address >= INTERRUPT_LO && r.address <= INTERRUPT_HI) return fault(code);
  return r;
}

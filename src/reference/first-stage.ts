/** Contract §5: the first-stage (x86-64 format) walk, with the §7 nesting hook. */
import { FaultReason as F } from '../spec/faults.js';
import type { TranslateFault, TranslateOk } from '../types.js';
import { ADDR_MASK, bit, fault, mask } from './bits.js';
import type { RefEnv } from './env.js';

const A = 1n << 5n;
const D = 1n << 6n;
const EA = 1n << 10n;

export interface FsParams {
  /** FSPTPTR (bits 63:12 used). */
  root: bigint;
  levels: 4 | 5;
  iova: bigint;
  write: boolean;
  exec: boolean;
  priv: boolean;
  wpe: boolean;
  eafe: boolean;
}

/** Where a first-stage structure entry really lives (§7); identity outside nesting. */
export interface TablePlace {
  ok: true;
  hpa: bigint;
  /** Whether an A/D/EA update may be written there (§7: else 0x77). */
  writable: boolean;
}
export type TableXlate = (gpa: bigint, top: boolean) => TablePlace | TranslateFault;

const direct: TableXlate = (gpa) => ({ ok: true, hpa: gpa, writable: true });

/** §5.2.3: reserved bits of a present first-stage entry at level L. */
function fsReserved(env: RefEnv, e: bigint, L: number): boolean {
  const ps = bit(e, 7);
  if ((e & mask(51, env.caps.haw)) !== 0n) return true;
  if (ps && L >= 4) return true;
  if (ps && L === 3 && !env.caps.fs1gp) return true;
  if (ps && L === 2 && (e & mask(20, 13)) !== 0n) return true; // bit 12 is PAT
  if (ps && L === 3 && (e & mask(29, 13)) !== 0n) return true;
  return false;
}

/** §5.1: canonical input for the paging depth (48 or 57 bits, sign-extended). */
function canonical(iova: bigint, levels: 4 | 5): boolean {
  const top = levels === 4 ? 47 : 56;
  const upper = iova >> BigInt(top); // bits 63:top
  return upper === 0n || upper === mask(63 - top, 0);
}

/**
 * Walks the first stage. `xlate` turns each structure entry's address into the place it is
 * read from and written to (second stage in nested mode, §7). The output is a GPA in nested
 * mode; the caller translates it.
 */
export function fsWalk(env: RefEnv, p: FsParams, xlate: TableXlate = direct): TranslateOk | TranslateFault {
  if (!canonical(p.iova, p.levels)) return fault(F.FS_NON_CANONICAL);

  let table = p.root & mask(63, 12);
  let us = true;
  let rw = true;
  let xd = false;
  for (let L: number = p.levels; L >= 1; L--) {
    const shift = 12 + 9 * (L - 1);
    const index = (p.iova >> BigInt(shift)) & 511n;
    const place = xlate(table + index * 8n, L === p.levels);
    if (!place.ok) return place;
    const e = env.mem.read64(place.hpa);
    env.trace?.({ structure: 'fs-entry', gpa: place.hpa, qwords: e === undefined ? undefined : [e], level: L });
    if (e === undefined) return fault(L === p.levels ? F.FS_FSPTPTR_ACCESS : F.FS_ENTRY_ACCESS, L);
    if (!bit(e, 0)) return fault(F.FS_ENTRY_P, L);
    if (fsReserved(env, e, L)) return fault(F.FS_ENTRY_RSVD, L);
    us &&= bit(e, 2);
    rw &&= bit(e, 1);
    xd ||= bit(e, 63); // "NXE always on"

    // Sets `bits` on the entry if any is clear; in nesting the place must be writable (0x77).
    const update = (bits: bigint): TranslateFault | undefined => {
      if ((e & bits) === bits) return undefined;
      if (!place.writable) return fault(F.NESTED_FS_AD_WRITE, L); // §7: the first-stage level
      env.mem.write64(place.hpa, e | bits);
      env.trace?.({ structure: 'ad-update', gpa: place.hpa, qwords: [e | bits], level: L });
      return undefined;
    };

    const leaf = L === 1 || ((L === 2 || L === 3) && bit(e, 7));
    if (!leaf) {
      // §5.2.5: A (and EA) on every non-leaf entry as the walk passes it.
      const f = update(A | (p.eafe ? EA : 0n));
      if (f) return f;
      table = e & ADDR_MASK;
      continue;
    }

    // §5.3: U/S, then write, then execute; reads are always allowed.
    const user = !p.priv;
    if (user && !us) return fault(F.FS_US, L);
    if (p.write && !rw && (user || p.wpe)) return fault(F.SM_WRITE, L);
    if (p.exec && xd) return fault(F.SM_EXECUTE, L);

    // §5.4: A, D on a write (regardless of A), EA with EAFE. Only after the checks passed.
    const f = update(A | (p.write ? D : 0n) | (p.eafe ? EA : 0n));
    if (f) return f;

    const size = 1n << BigInt(shift);
    return {
      ok: true,
      address: (e & ADDR_MASK & ~(size - 1n)) | (p.iova & (size - 1n)),
      pageSize: Number(size),
      read: true,
      write: user ? rw : rw || !p.wpe,
      exec: !xd,
    };
  }
  throw new Error('unreachable: level 1 is always a leaf');
}

/** Contract §6: the second-stage walk. Also used by nested (§7) and legacy mode (§9). */
import { FaultReason as F } from '../spec/faults.js';
import type { TranslateFault } from '../types.js';
import { ADDR_MASK, bit, fault, mask } from './bits.js';
import type { RefEnv } from './env.js';

/** Which fault code each kind of second-stage failure reports; differs by caller. */
export interface SsCodes {
  range: number;
  readTop: number;
  read: number;
  rsvd: number;
  noRead: number;
  noWrite: number;
  noExec: number;
}

/** Scalable-mode second-stage translation (PGTT 010b). */
export const SS_SCALABLE: SsCodes = {
  range: F.SM_ADDR_BEYOND_MAX,
  readTop: F.SS_SSPTPTR_ACCESS,
  read: F.SS_ENTRY_ACCESS,
  rsvd: F.SS_ENTRY_RSVD,
  noRead: F.SM_READ,
  noWrite: F.SM_WRITE,
  noExec: F.SM_EXECUTE,
};

/** Legacy mode (§9): 0x4 / 0x7 both levels / 0xC / 0x6 / 0x5. Exec is always off there. */
export const SS_LEGACY: SsCodes = {
  range: F.ADDR_BEYOND_MGAW,
  readTop: F.PAGING_ENTRY_INV,
  read: F.PAGING_ENTRY_INV,
  rsvd: F.PAGING_ENTRY_RSVD,
  noRead: F.READ,
  noWrite: F.WRITE,
  noExec: F.SM_EXECUTE, // unreachable: requests without PASID never execute (§2)
};

/** §7: translating a first-stage structure address (a read). */
export const ssNestedTable = (top: boolean): SsCodes => {
  const noRead = top ? F.NESTED_FS_TOP_TABLE_READ : F.NESTED_FS_TABLE_READ;
  return {
    range: F.NESTED_FS_ADDR_BEYOND_SS,
    readTop: F.SS_SSPTPTR_ACCESS,
    read: F.SS_ENTRY_ACCESS,
    rsvd: F.SS_ENTRY_RSVD,
    noRead,
    noWrite: noRead, // unused: structure reads never write
    noExec: noRead,
  };
};

/** §7: translating the final output address of the first stage. */
export const SS_NESTED_FINAL: SsCodes = {
  range: F.NESTED_FS_ADDR_BEYOND_SS,
  readTop: F.SS_SSPTPTR_ACCESS,
  read: F.SS_ENTRY_ACCESS,
  rsvd: F.SS_ENTRY_RSVD,
  noRead: F.SS_PERMISSION,
  noWrite: F.SS_PERMISSION,
  noExec: F.SS_PERMISSION,
};

export interface SsOk {
  ok: true;
  address: bigint;
  pageSize: number;
  r: boolean;
  w: boolean;
  x: boolean;
  /** Level of the leaf entry (for faults raised on top of this walk, e.g. 0x77). */
  level: number;
}

export interface SsRequest {
  /** SSPTPTR (bits 63:12 used). */
  root: bigint;
  /** AW: levels = AW + 2. */
  aw: number;
  address: bigint;
  write: boolean;
  exec: boolean;
}

/** §6.2.2: reserved bits of a present (R or W) second-stage entry at level L. */
function ssReserved(env: RefEnv, e: bigint, L: number): boolean {
  const { caps } = env;
  const ps = bit(e, 7);
  if ((e & mask(51, caps.haw)) !== 0n) return true;
  if (!caps.dt && bit(e, 62)) return true; // TM is defined only with device-TLB
  if (ps && L >= 4) return true;
  if (ps && L === 3 && !(caps.sslps & 2)) return true;
  if (ps && L === 2 && !(caps.sslps & 1)) return true;
  if (ps && L === 2 && (e & mask(20, 12)) !== 0n) return true;
  if (ps && L === 3 && (e & mask(29, 12)) !== 0n) return true;
  return false;
}

export function ssWalk(env: RefEnv, req: SsRequest, codes: SsCodes): SsOk | TranslateFault {
  const levels = req.aw + 2;
  // §6.1: the input must fit both the AGAW and MGAW.
  const width = Math.min(30 + 9 * req.aw, env.caps.mgaw);
  if (req.address >> BigInt(width) !== 0n) return fault(codes.range);

  let table = req.root & mask(63, 12);
  let r = true;
  let w = true;
  let x = true;
  for (let L = levels; L >= 1; L--) {
    const shift = 12 + 9 * (L - 1);
    const index = (req.address >> BigInt(shift)) & 511n;
    const e = env.mem.read64(table + index * 8n);
    env.trace?.({ structure: 'ss-entry', gpa: table + index * 8n, qwords: e === undefined ? undefined : [e], level: L });
    if (e === undefined) return fault(L === levels ? codes.readTop : codes.read, L);
    // §6.2.3: R=W=0 is not present; its other bits are ignored (so no reserved check).
    if ((e & 3n) === 0n) return fault(req.write ? codes.noWrite : codes.noRead, L);
    if (ssReserved(env, e, L)) return fault(codes.rsvd, L);
    r &&= bit(e, 0);
    w &&= bit(e, 1);
    x &&= bit(e, 2);
    const leaf = L === 1 || ((L === 2 || L === 3) && bit(e, 7));
    if (!leaf) {
      table = e & ADDR_MASK;
      continue;
    }
    // §6.3: read needs r, write needs w, then exec needs x.
    if (!req.write && !r) return fault(codes.noRead, L);
    if (req.write && !w) return fault(codes.noWrite, L);
    if (req.exec && !x) return fault(codes.noExec, L);
    const size = 1n << BigInt(shift);
    return {
      ok: true,
      address: (e & ADDR_MASK & ~(size - 1n)) | (req.address & (size - 1n)),
      pageSize: Number(size),
      r,
      w,
      x,
      level: L,
    };
  }
  throw new Error('unreachable: level 1 is always a leaf');
}

// First-stage walk, x86-64 (IA-32e) paging format, 4 or 5 levels, 4 KiB / 2 MiB / 1 GiB pages.
// Permissions as x86-64 paging with CR0.WP = WPE and EFER.NXE = 1; A on every entry walked,
// D on the leaf of a write whenever clear, EA with EAFE. docs/semantics.md §5 and, for the
// nested form (every table address and the output go through the second stage), §7.

import { FS_RSVD } from './caps';
import * as F from './faults';
import { base0, lin0, linSlow, size0 } from './memory';
import { ok, fault, PERM_R, PERM_W, PERM_X, RAW_DIRTY, RAW_FS_NX, RAW_FS_RW, RAW_FS_US, RAW_SS_ALL } from './result';
import { ssWalk, ssOut, ssShift, ssPerm, ssLevel, SS_OK, SS_RANGE, SS_TOP_ACCESS, SS_ACCESS, SS_RSVD } from './second-stage';

export const FS_P: u64 = 1;
export const FS_RW: u64 = 2;
export const FS_US: u64 = 4;
export const FS_A: u64 = 0x20;
export const FS_D: u64 = 0x40;
export const FS_PS: u64 = 0x80;
export const FS_EA: u64 = 0x400;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/** Request / PASID-entry bits of a first-stage walk. */
export const W_WRITE: u32 = 1;
export const W_EXEC: u32 = 2;
export const W_PRIV: u32 = 4;
export const W_WPE: u32 = 8;
export const W_EAFE: u32 = 16;
export const W_SRE: u32 = 32; // bare walk only: the PASID entry's SRE
export const W_ERE: u32 = 64; // bare walk only: the PASID entry's ERE

/** Reserved bits set in a first-stage entry at `level` (FS_RSVD in caps.ts). */
// @ts-ignore: decorator
@inline function fsRsvd(e: u64, level: u32): u64 {
  return e & load<u64>(FS_RSVD + (<usize>((level << 1) | (<u32>(e >> 7) & 1)) << 3));
}

/** Second-stage status of a first-stage structure address -> nested fault code (§7). */
function nestedTableFault(st: u32, top: bool): u32 {
  if (st == SS_RANGE) return fault(F.FR_NESTED_FS_ADDR_BEYOND_SS, 0);
  if (st == SS_TOP_ACCESS) return fault(F.FR_SS_SSPTPTR_ACCESS, ssLevel);
  if (st == SS_ACCESS) return fault(F.FR_SS_ENTRY_ACCESS, ssLevel);
  if (st == SS_RSVD) return fault(F.FR_SS_ENTRY_RSVD, ssLevel);
  return fault(top ? F.FR_NESTED_FS_TOP_TABLE_READ : F.FR_NESTED_FS_TABLE_READ, ssLevel);
}

// @ts-ignore: decorator
@inline function walk(nested: bool, root: u64, levels: u32, iova: u64, req: u32, ssptr: u64, aw: u32): u32 {
  // Canonical: bits 63:47 (4-level) or 63:56 (5-level) all equal to the top translated bit.
  const top = <i64>iova >> (levels == 5 ? 56 : 47);
  if (top != 0 && top != -1) return fault(F.FR_FS_NON_CANONICAL, 0);

  const write = (req & W_WRITE) != 0;
  const ad: u64 = (req & W_EAFE) != 0 ? FS_A | FS_EA : FS_A;
  let table = root;
  let acc: u64 = FS_RW | FS_US; // AND of R/W and U/S over the levels
  let xd: u64 = 0; // OR of XD
  // The first RAM region in locals: one compare per table read (memory.ts `lin`).
  const b0 = base0, s0 = size0, l0 = lin0;
  for (let level = levels; level >= 1; level--) {
    let tableW = true; // second stage lets A/D updates write this table (nested only)
    let tbl = table;
    if (nested) {
      const st = ssWalk(ssptr, aw, table);
      if (st != SS_OK) return nestedTableFault(st, level == levels);
      if ((ssPerm & PERM_R) == 0) return fault(level == levels ? F.FR_NESTED_FS_TOP_TABLE_READ : F.FR_NESTED_FS_TABLE_READ, ssLevel);
      tbl = ssOut;
      tableW = (ssPerm & PERM_W) != 0;
    }
    const shift: u32 = 12 + 9 * (level - 1);
    const gpa = tbl + (((iova >> shift) & 511) << 3);
    const off = gpa - b0;
    const p: usize = off < s0 ? <usize>(l0 + off) : linSlow(gpa);
    if (p == 0) return fault(level == levels ? F.FR_FS_FSPTPTR_ACCESS : F.FR_FS_ENTRY_ACCESS, level);
    const e = load<u64>(p);
    if ((e & FS_P) == 0) return fault(F.FR_FS_ENTRY_P, level);
    if (fsRsvd(e, level) != 0) return fault(F.FR_FS_ENTRY_RSVD, level);
    acc &= e;
    xd |= e;
    if (level != 1 && (e & FS_PS) == 0) {
      if ((e & ad) != ad) {
        if (nested && !tableW) return fault(F.FR_NESTED_FS_AD_WRITE, level);
        store<u64>(p, e | ad);
      }
      table = e & ADDR_MASK;
      continue;
    }
    // Leaf: x86-64 permission checks, U/S first, then write, then execute.
    const user = (req & W_PRIV) == 0;
    const rw = (acc & FS_RW) != 0;
    const nx = (xd >> 63) != 0;
    if (user && (acc & FS_US) == 0) return fault(F.FR_FS_US, level);
    if (write && !rw && (user || (req & W_WPE) != 0)) return fault(F.FR_SM_WRITE, level);
    if ((req & W_EXEC) != 0 && nx) return fault(F.FR_SM_EXECUTE, level);
    const upd: u64 = write ? ad | FS_D : ad;
    if ((e & upd) != upd) {
      if (nested && !tableW) return fault(F.FR_NESTED_FS_AD_WRITE, level);
      store<u64>(p, e | upd);
    }
    const size: u64 = <u64>1 << shift;
    const out = (e & ADDR_MASK & ~(size - 1)) | (iova & (size - 1));
    let perm: u32 = PERM_R;
    if (rw || (!user && (req & W_WPE) == 0)) perm |= PERM_W;
    if (!nx) perm |= PERM_X;
    const raw: u32 = ((acc & FS_US) != 0 ? RAW_FS_US : 0) | (rw ? RAW_FS_RW : 0) | (nx ? RAW_FS_NX : 0) |
      (((e | upd) & FS_D) != 0 ? RAW_DIRTY : 0);
    if (!nested) return ok(out, shift, perm, raw | RAW_SS_ALL);
    // The output address is guest-physical: through the second stage with the request's access.
    const st = ssWalk(ssptr, aw, out);
    if (st == SS_RANGE) return fault(F.FR_NESTED_FS_ADDR_BEYOND_SS, 0);
    if (st == SS_TOP_ACCESS) return fault(F.FR_SS_SSPTPTR_ACCESS, ssLevel);
    if (st == SS_ACCESS) return fault(F.FR_SS_ENTRY_ACCESS, ssLevel);
    if (st == SS_RSVD) return fault(F.FR_SS_ENTRY_RSVD, ssLevel);
    if (st != SS_OK) return fault(F.FR_SS_PERMISSION, ssLevel);
    const need: u32 = (write ? PERM_W : PERM_R) | ((req & W_EXEC) != 0 ? PERM_X : 0);
    if ((ssPerm & need) != need) return fault(F.FR_SS_PERMISSION, ssLevel);
    return ok(ssOut, ssShift < shift ? ssShift : shift, perm & ssPerm, raw | (ssPerm << 3));
  }
  return fault(F.FR_FS_ENTRY_ACCESS, 1); // unreachable: level 1 is always a leaf
}

/** First-stage walk over tables at guest-physical `root` (FSPTPTR). Returns 0 or a fault reason. */
// @ts-ignore: decorator
@inline export function fsWalk(root: u64, levels: u32, iova: u64, req: u32): u32 {
  return walk(false, root, levels, iova, req, 0, 0);
}

/** Nested walk: first stage at `root`, every table address and the output through the second stage. */
export function nestedWalk(root: u64, levels: u32, iova: u64, req: u32, ssptr: u64, aw: u32): u32 {
  return walk(true, root, levels, iova, req, ssptr, aw);
}

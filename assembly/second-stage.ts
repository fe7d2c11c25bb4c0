// Second-stage walk (VT-d second-stage format): AW -> 3/4/5 levels, R/W/X, 2 MiB / 1 GiB leaves.
// It reports a neutral status; the caller turns it into the fault code of its context
// (scalable second stage, legacy, nested table pointer, nested final address) — see
// docs/semantics.md §6-§7. A/D (SSADE) is not emulated.

import { CAP_DT, CAP_SSLPS_1G, CAP_SSLPS_2M, has, mgaw, pteAddrRsvd } from './caps';
import { lin } from './memory';

export const SS_OK: u32 = 0;
export const SS_RANGE: u32 = 1;
export const SS_TOP_ACCESS: u32 = 2;
export const SS_ACCESS: u32 = 3;
export const SS_RSVD: u32 = 4;
export const SS_NOT_PRESENT: u32 = 5;

const SS_R: u64 = 1;
const SS_W: u64 = 2;
const SS_X: u64 = 4;
const SS_PS: u64 = 0x80;
const SS_TM: u64 = <u64>1 << 62;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/** Outputs of a successful (or permission-relevant) walk. */
export let ssOut: u64 = 0;
export let ssShift: u32 = 12;
export let ssPerm: u32 = 0; // bit 0 R, 1 W, 2 X accumulated over all levels
export let ssLevel: u32 = 0;

/** Bits reserved in a second-stage entry at `level` (ps: the entry's PS bit). */
// @ts-ignore: decorator
@inline function ssRsvd(e: u64, level: u32): u64 {
  let r = e & pteAddrRsvd;
  if (!has(CAP_DT)) r |= e & SS_TM;
  if ((e & SS_PS) != 0) {
    if (level >= 4) r |= SS_PS;
    else if (level == 3) r |= has(CAP_SSLPS_1G) ? e & 0x3fff_f000 : SS_PS;
    else if (level == 2) r |= has(CAP_SSLPS_2M) ? e & 0x1f_f000 : SS_PS;
  }
  return r;
}

/**
 * Walk from table `ptr` (guest-physical, 4 KiB aligned) with `aw` (levels = aw + 2).
 * On SS_OK: ssOut, ssShift, ssPerm. On a fault: ssLevel is the level where it stopped.
 */
export function ssWalk(ptr: u64, aw: u32, iova: u64): u32 {
  const levels = aw + 2;
  let width: u32 = 30 + 9 * aw;
  if (width > mgaw) width = mgaw;
  if ((iova >> width) != 0) {
    ssLevel = 0;
    return SS_RANGE;
  }
  let table = ptr;
  let perm: u64 = SS_R | SS_W | SS_X;
  for (let level = levels; level >= 1; level--) {
    const shift: u32 = 12 + 9 * (level - 1);
    const p = lin(table + (((iova >> shift) & 511) << 3));
    ssLevel = level;
    if (p == 0) return level == levels ? SS_TOP_ACCESS : SS_ACCESS;
    const e = load<u64>(p);
    if ((e & (SS_R | SS_W)) == 0) {
      ssPerm = 0;
      return SS_NOT_PRESENT;
    }
    if (ssRsvd(e, level) != 0) return SS_RSVD;
    perm &= e;
    if (level == 1 || (e & SS_PS) != 0) {
      const size: u64 = <u64>1 << shift;
      ssOut = (e & ADDR_MASK & ~(size - 1)) | (iova & (size - 1));
      ssShift = shift;
      ssPerm = <u32>(perm & 7);
      return SS_OK;
    }
    table = e & ADDR_MASK;
  }
  return SS_ACCESS; // unreachable: level 1 is always a leaf
}

// Root and context entries: scalable mode (256-bit context entries, root entry halves split at
// devfn 128) and legacy mode (128-bit). docs/semantics.md §1-§2 and §9.

import { ptrRsvd, rtaddr } from './caps';
import * as F from './faults';
import { lin } from './memory';
import { ccInsert, ccLookup } from './context-cache';
import { fault, setFpd } from './result';

/** The context entry found by the last successful lookup (linear address of its first qword). */
export let ctxLin: usize = 0;

/** Scalable-mode root + context entry lookup for source-id `sid` (context cache first). */
export function smContext(sid: u32): u32 {
  const cached = ccLookup(sid);
  if (cached != 0) {
    ctxLin = cached;
    setFpd((load<u64>(cached) & 2) != 0);
    return 0;
  }
  const devfn = sid & 0xff;
  const upper = devfn >= 128;
  const rp = lin(rtaddr + (<u64>(sid >> 8) << 4));
  if (rp == 0) return fault(F.FR_SM_ROOT_ENTRY_ACCESS, 0);
  const re = load<u64>(rp + (upper ? 8 : 0));
  if ((re & 1) == 0) return fault(F.FR_SM_ROOT_ENTRY_P, 0);
  if ((re & (0xffe | ptrRsvd)) != 0) return fault(F.FR_SM_ROOT_ENTRY_RSVD, 0);
  const cp = lin((re & ~<u64>0xfff) + (<u64>(devfn & 0x7f) << 5));
  if (cp == 0) return fault(F.FR_SM_CONTEXT_ENTRY_ACCESS, 0);
  const c0 = load<u64>(cp);
  if ((c0 & 1) == 0) return fault(F.FR_SM_CONTEXT_ENTRY_P, 0);
  // Reserved: bits 8:5, pointer bits 63:HAW, bits 127:85, bits 255:128.
  if ((c0 & (0x1e0 | ptrRsvd)) != 0 || (load<u64>(cp, 8) & 0xffff_ffff_ffe0_0000) != 0 ||
      (load<u64>(cp, 16) | load<u64>(cp, 24)) != 0) {
    return fault(F.FR_SM_CONTEXT_ENTRY_RSVD, 0);
  }
  setFpd((c0 & 2) != 0);
  ctxLin = ccInsert(sid, cp, 32);
  return 0;
}

/** Legacy root + context entry lookup for source-id `sid` (context cache first). */
export function legacyContext(sid: u32): u32 {
  const cached = ccLookup(sid);
  if (cached != 0) {
    ctxLin = cached;
    setFpd((load<u64>(cached) & 2) != 0);
    return 0;
  }
  const rp = lin(rtaddr + (<u64>(sid >> 8) << 4));
  if (rp == 0) return fault(F.FR_ROOT_TABLE_INV, 0);
  const re = load<u64>(rp);
  if ((re & 1) == 0) return fault(F.FR_ROOT_ENTRY_P, 0);
  if ((re & (0xffe | ptrRsvd)) != 0 || load<u64>(rp, 8) != 0) return fault(F.FR_ROOT_ENTRY_RSVD, 0);
  const cp = lin((re & ~<u64>0xfff) + (<u64>(sid & 0xff) << 4));
  if (cp == 0) return fault(F.FR_CONTEXT_TABLE_INV, 0);
  const c0 = load<u64>(cp);
  if ((c0 & 1) == 0) return fault(F.FR_CONTEXT_ENTRY_P, 0);
  // Reserved: q0 bits 11:4 and 63:HAW; q1 bit 7 and bits 63:24 (6:3 are AVAIL).
  if ((c0 & (0xff0 | ptrRsvd)) != 0 || (load<u64>(cp, 8) & 0xffff_ffff_ff00_0080) != 0) {
    return fault(F.FR_CONTEXT_ENTRY_RSVD, 0);
  }
  setFpd((c0 & 2) != 0);
  ctxLin = ccInsert(sid, cp, 16);
  return 0;
}

// One DMA request end to end: translation enable, root/context, PASID entry, then the walk the
// PGTT selects, then the interrupt-range output check. docs/semantics.md.

import { CAP_DT, CAP_PT, has, ptrRsvd, sagaw, scalable, te } from './caps';
import { ctxLin, legacyContext } from './context';
import * as F from './faults';
import { fsWalk, nestedWalk, W_EAFE, W_WPE } from './first-stage';
import { requestKey, tlbCount, tlbEnabled, tlbInsert, tlbLookup, hitAddr, hitPerm, hitShift } from './iotlb';
import { NO_PASID, PGTT_FS, PGTT_NESTED, PGTT_PT, PGTT_SS, REQ_EXEC, REQ_PRIV, REQ_WRITE, resolveFault, resolvePasid } from './pasid';
import {
  INFO_AW_SHIFT, INFO_EAFE, INFO_ERE_OK, INFO_FPD, INFO_L5, INFO_PGTT, INFO_RID_PRIV, INFO_SRE_OK, INFO_WPE,
  PC_DID, PC_FSROOT, PC_INFO, PC_PASID, PC_SSROOT, pcLookup,
} from './pasid-cache';
import {
  fault, ok, outAddr, outRaw, outShift, PERM_R, PERM_W, PERM_X, RAW_DIRTY, RAW_FS_RW, RAW_FS_US, setFpd, setHit,
} from './result';
import { ssWalk, ssOut, ssPerm, ssShift, ssLevel, SS_OK, SS_RANGE, SS_TOP_ACCESS, SS_ACCESS, SS_RSVD } from './second-stage';


const PTR_MASK: u64 = ~<u64>0xfff;

// @ts-ignore: decorator
@inline function inInterruptRange(addr: u64): bool {
  return (addr >> 20) == 0xfee;
}

/** Second-stage status -> fault code of a plain (scalable or legacy) second-stage translation. */
function ssFault(st: u32, legacy: bool, write: bool): u32 {
  if (st == SS_RANGE) return fault(legacy ? F.FR_ADDR_BEYOND_MGAW : F.FR_SM_ADDR_BEYOND_MAX, 0);
  if (st == SS_TOP_ACCESS) return fault(legacy ? F.FR_PAGING_ENTRY_INV : F.FR_SS_SSPTPTR_ACCESS, ssLevel);
  if (st == SS_ACCESS) return fault(legacy ? F.FR_PAGING_ENTRY_INV : F.FR_SS_ENTRY_ACCESS, ssLevel);
  if (st == SS_RSVD) return fault(legacy ? F.FR_PAGING_ENTRY_RSVD : F.FR_SS_ENTRY_RSVD, ssLevel);
  // not present (R = W = 0)
  if (write) return fault(legacy ? F.FR_WRITE : F.FR_SM_WRITE, ssLevel);
  return fault(legacy ? F.FR_READ : F.FR_SM_READ, ssLevel);
}

/** Second-stage translation with the request's permissions checked (§6). */
function ssTranslate(ptr: u64, aw: u32, iova: u64, req: u32, legacy: bool): u32 {
  const write = (req & REQ_WRITE) != 0;
  const st = ssWalk(ptr, aw, iova);
  if (st != SS_OK) return ssFault(st, legacy, write);
  if (!write && (ssPerm & PERM_R) == 0) return fault(legacy ? F.FR_READ : F.FR_SM_READ, ssLevel);
  if (write && (ssPerm & PERM_W) == 0) return fault(legacy ? F.FR_WRITE : F.FR_SM_WRITE, ssLevel);
  if ((req & REQ_EXEC) != 0 && (ssPerm & PERM_X) == 0) return fault(F.FR_SM_EXECUTE, ssLevel);
  return ok(ssOut, ssShift, ssPerm, RAW_FS_US | RAW_FS_RW | RAW_DIRTY | (ssPerm << 3));
}

// @ts-ignore: decorator
@inline function smTranslate(sid: u32, pasid: u32, iova: u64, flags: u32, key: u64, cache: bool): u32 {
  // Only a well-formed PASID has a cache key of its own (requestKey packs 20 bits); a wider
  // one resolves, and faults, every time.
  let pc = pasid == NO_PASID || pasid <= 0xfffff ? pcLookup(key) : 0;
  if (pc == 0) {
    pc = resolvePasid(sid, pasid, key);
    if (pc == 0) return resolveFault;
  }
  const info = load<u32>(pc, PC_INFO);
  setFpd((info & INFO_FPD) != 0);
  const pgtt = info & INFO_PGTT;
  // A request without PASID is a write or read, privileged only through RID_PRIV (§2).
  const req = pasid != NO_PASID ? flags & (REQ_WRITE | REQ_EXEC | REQ_PRIV)
    : (flags & REQ_WRITE) | ((info & INFO_RID_PRIV) != 0 ? REQ_PRIV : 0);
  const aw = (info >> INFO_AW_SHIFT) & 7;
  let r: u32;
  if (pgtt == PGTT_FS || pgtt == PGTT_NESTED) {
    if ((req & REQ_PRIV) != 0 && (info & INFO_SRE_OK) == 0) return fault(F.FR_SM_PASID_ENTRY_SRE, 0);
    if ((req & REQ_EXEC) != 0 && (info & INFO_ERE_OK) == 0) return fault(F.FR_SM_PASID_ENTRY_ERE, 0);
    // REQ_* bits are W_WRITE/W_EXEC/W_PRIV.
    const wreq = req | ((info & INFO_WPE) != 0 ? W_WPE : 0) | ((info & INFO_EAFE) != 0 ? W_EAFE : 0);
    const levels: u32 = (info & INFO_L5) != 0 ? 5 : 4;
    r = pgtt == PGTT_FS
      ? fsWalk(load<u64>(pc, PC_FSROOT), levels, iova, wreq)
      : nestedWalk(load<u64>(pc, PC_FSROOT), levels, iova, wreq, load<u64>(pc, PC_SSROOT), aw);
  } else if (pgtt == PGTT_PT) {
    if ((iova & ptrRsvd) != 0) return fault(F.FR_SM_ADDR_BEYOND_MAX, 0);
    r = ok(iova, 12, PERM_R | PERM_W | PERM_X);
  } else {
    r = ssTranslate(load<u64>(pc, PC_SSROOT), aw, iova, req, false);
  }
  if (r != 0) return r;
  if (inInterruptRange(outAddr)) return fault(F.FR_SM_INTERRUPT_ADDR, 0);
  if (cache && pgtt != PGTT_PT) {
    tlbInsert(key, iova, outAddr, outShift, outRaw, load<u32>(pc, PC_DID), pgtt, load<u32>(pc, PC_PASID),
      (info & INFO_WPE) != 0, (info & INFO_SRE_OK) != 0, (info & INFO_ERE_OK) != 0, (info & INFO_RID_PRIV) != 0);
  }
  return 0;
}

function legacyTranslate(sid: u32, pasid: u32, iova: u64, flags: u32, key: u64, cache: bool): u32 {
  if (pasid != NO_PASID) return fault(F.FR_SM_TTM_LEGACY_WITH_PASID, 0);
  let r = legacyContext(sid);
  if (r != 0) return r;
  const c0 = load<u64>(ctxLin);
  const c1 = load<u64>(ctxLin, 8);
  const tt = <u32>(c0 >> 2) & 3;
  const aw = <u32>c1 & 7;
  if (tt == 3 || (tt == 1 && !has(CAP_DT)) || (tt == 2 && !has(CAP_PT))) return fault(F.FR_CONTEXT_ENTRY_INV, 0);
  if (tt == 2) {
    if ((iova & ptrRsvd) != 0) return fault(F.FR_ADDR_BEYOND_MGAW, 0);
    r = ok(iova, 12, PERM_R | PERM_W);
  } else {
    if (((sagaw >> aw) & 1) == 0) return fault(F.FR_CONTEXT_ENTRY_INV, 0);
    r = ssTranslate(c0 & PTR_MASK, aw, iova, flags & REQ_WRITE, true);
  }
  if (r != 0) return r;
  if (inInterruptRange(outAddr)) return fault(F.FR_INTERRUPT_ADDR, 0);
  if (cache && tt != 2) {
    tlbInsert(key, iova, outAddr, outShift, outRaw, <u32>(c1 >> 8) & 0xffff, PGTT_SS, 0, false, true, true, false);
  }
  return 0;
}

/** Translate one request. Returns 0 (result in outAddr/outShift/outPerm) or a fault reason. */
// @ts-ignore: decorator
@inline export function translate(sid: u32, pasid: u32, iova: u64, flags: u32): u32 {
  setHit(false);
  setFpd(false);
  if (!te) return ok(iova, 12, PERM_R | PERM_W | PERM_X);
  // IOTLB first; only well-formed PASIDs are cached (a wider one faults in the walk anyway).
  const withPasid = pasid != NO_PASID;
  const cache = tlbEnabled() && (!withPasid || pasid <= 0xfffff);
  const key = requestKey(sid, pasid, withPasid);
  if (cache) {
    const hit = tlbLookup(key, iova, scalable ? flags : flags & REQ_WRITE);
    tlbCount(hit ? 1 : 0, hit ? 0 : 1);
    if (hit) {
      setHit(true);
      return ok(hitAddr, hitShift, hitPerm);
    }
  }
  return scalable ? smTranslate(sid, pasid, iova, flags, key, cache) : legacyTranslate(sid, pasid, iova, flags, key, cache);
}

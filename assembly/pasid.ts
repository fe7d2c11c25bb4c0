// PASID selection, PASID directory entry and the 512-bit PASID table entry with its checks,
// decoded into the translation context the walks need. docs/semantics.md §2 to §4.

import { CAP_ERS, CAP_FS5LP, CAP_FSTS, CAP_NEST, CAP_PT, CAP_RPS, CAP_SRS, CAP_SSTS, has, ptrRsvd, sagaw } from './caps';
import { ctxLin, smContext } from './context';
import * as F from './faults';
import { lin } from './memory';
import {
  INFO_AW_SHIFT, INFO_EAFE, INFO_ERE_OK, INFO_FPD, INFO_L5, INFO_RID_PRIV, INFO_SRE_OK, INFO_WPE, pcSlot, pcWrite,
} from './pasid-cache';
import { fault, outFpd, setFpd } from './result';

export const NO_PASID: u32 = 0xffff_ffff;

export const PGTT_FS: u32 = 1;
export const PGTT_SS: u32 = 2;
export const PGTT_NESTED: u32 = 3;
export const PGTT_PT: u32 = 4;

/** Request flags (batch `flags` byte and the single-call argument). */
export const REQ_WRITE: u32 = 1;
export const REQ_EXEC: u32 = 2;
export const REQ_PRIV: u32 = 4;

const PTR_MASK: u64 = ~<u64>0xfff;

/** The fault of the last failed `resolvePasid`. */
export let resolveFault: u32 = 0;

/**
 * A PASID-cache miss: context entry (context cache first), PASID selection for this kind of
 * request, PASID directory and table entries, their checks; the decoded record is written
 * to the PASID cache (or a scratch record). Returns the record, or 0 with resolveFault set.
 */
export function resolvePasid(sid: u32, pasid: u32, key: u64): usize {
  let r = smContext(sid);
  if (r != 0) {
    resolveFault = r;
    return 0;
  }
  const cp = ctxLin;
  const c0 = load<u64>(cp);
  const dirEntries: u32 = 1 << (<u32>((c0 >> 9) & 7) + 7);
  let ridPriv = false;
  if (pasid != NO_PASID) {
    if ((c0 & 8) == 0) r = F.FR_SM_CONTEXT_PASIDE;
    else if ((pasid >> 6) >= dirEntries) r = F.FR_SM_PASID_BEYOND_PDTS;
  } else if (has(CAP_RPS)) {
    const c1 = load<u64>(cp, 8);
    pasid = <u32>(c1 & 0xfffff);
    if ((pasid >> 6) >= dirEntries) r = F.FR_SM_RID_PASID_ERR;
    ridPriv = (c1 & 0x10_0000) != 0;
  } else {
    pasid = 0;
  }
  if (r == 0) r = readPasidEntry(c0, pasid);
  if (r != 0) {
    resolveFault = fault(r, 0);
    return 0;
  }
  const q0 = pdQ0, q2 = pdQ2;
  const pgtt = <u32>(q0 >> 6) & 7;
  let info: u32 = pgtt | ((<u32>(q0 >> 2) & 7) << INFO_AW_SHIFT);
  if (((q2 >> 2) & 3) == 1) info |= INFO_L5;
  if ((q2 & 0x10) != 0) info |= INFO_WPE;
  if ((q2 & 0x80) != 0) info |= INFO_EAFE;
  // SRE/ERE gate first-stage and nested translation only (§4).
  const fs = pgtt == PGTT_FS || pgtt == PGTT_NESTED;
  if (!fs || (has(CAP_SRS) && (q2 & 1) != 0)) info |= INFO_SRE_OK;
  if (!fs || (has(CAP_ERS) && (q2 & 2) != 0)) info |= INFO_ERE_OK;
  if (ridPriv) info |= INFO_RID_PRIV;
  if (outFpd) info |= INFO_FPD;
  const e = pcSlot(key);
  pcWrite(e, key, q2 & PTR_MASK, q0 & PTR_MASK, pasid, <u32>(pdQ1 & 0xffff), info);
  return e;
}

let pdQ0: u64 = 0;
let pdQ1: u64 = 0;
let pdQ2: u64 = 0;

/** Read and validate the PASID directory and table entries (into pdQ0..pdQ2). */
function readPasidEntry(c0: u64, pasid: u32): u32 {
  const dp = lin((c0 & PTR_MASK) + (<u64>(pasid >> 6) << 3));
  if (dp == 0) return F.FR_SM_PASID_DIR_ACCESS;
  const de = load<u64>(dp);
  setFpd(outFpd || (de & 2) != 0);
  if ((de & 1) == 0) return F.FR_SM_PASID_DIR_ENTRY_P;
  if ((de & (0xffc | ptrRsvd)) != 0) return F.FR_SM_PASID_DIR_ENTRY_RSVD;

  const pp = lin((de & PTR_MASK) + (<u64>(pasid & 63) << 6));
  if (pp == 0) return F.FR_SM_PASID_ENTRY_ACCESS;
  const q0 = load<u64>(pp);
  setFpd(outFpd || (q0 & 2) != 0);
  if ((q0 & 1) == 0) return F.FR_SM_PASID_ENTRY_P;
  const q1 = load<u64>(pp, 8);
  const q2 = load<u64>(pp, 16);
  const pgtt = <u32>(q0 >> 6) & 7;
  const usesSS = pgtt == PGTT_SS || pgtt == PGTT_NESTED;
  const usesFS = pgtt == PGTT_FS || pgtt == PGTT_NESTED;
  if ((q0 & 0xc00) != 0 || (q1 & 0x7f_0000) != 0 || (q2 & 0xf00) != 0 ||
      (usesSS && (q0 & ptrRsvd) != 0) || (usesFS && (q2 & ptrRsvd) != 0)) {
    return F.FR_SM_PASID_ENTRY_RSVD;
  }
  let supported = false;
  if (pgtt == PGTT_FS) supported = has(CAP_FSTS);
  else if (pgtt == PGTT_SS) supported = has(CAP_SSTS);
  else if (pgtt == PGTT_NESTED) supported = has(CAP_NEST) && has(CAP_FSTS) && has(CAP_SSTS);
  else if (pgtt == PGTT_PT) supported = has(CAP_PT);
  if (!supported) return F.FR_SM_PASID_ENTRY_INV;
  if (usesSS && ((sagaw >> (<u32>(q0 >> 2) & 7)) & 1) == 0) return F.FR_SM_PASID_ENTRY_INV;
  if (usesFS) {
    const fspm = <u32>(q2 >> 2) & 3;
    if (fspm > 1 || (fspm == 1 && !has(CAP_FS5LP))) return F.FR_SM_PASID_ENTRY_INV;
  }
  pdQ0 = q0;
  pdQ1 = q1;
  pdQ2 = q2;
  return 0;
}

// PASID selection, PASID directory entry and the 512-bit PASID table entry with its checks.
// docs/semantics.md §2 (PASID selection) to §4.

import { CAP_ERS, CAP_FS5LP, CAP_FSTS, CAP_NEST, CAP_PT, CAP_RPS, CAP_SRS, CAP_SSTS, has, ptrRsvd, sagaw } from './caps';
import * as F from './faults';
import { lin } from './memory';
import { pcInsert, pcLookup } from './pasid-cache';
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

/** The PASID entry found by the last successful lookup, and the request as it applies to it. */
export let pe0: u64 = 0;
export let pe1: u64 = 0;
export let pe2: u64 = 0;
export let peFlags: u32 = 0;
/** The PASID the entry was selected with (RID_PASID or 0 for a request without PASID). */
export let pePasid: u32 = 0;
/** RID_PRIV made a request without PASID privileged. */
export let peRidPriv: bool = false;

/**
 * From the context entry at `cp`: select the PASID, read the PASID directory and table entries,
 * check them, and check SRE/ERE against the request. Sets pe0, pe2, peFlags.
 */
export function pasidEntry(sid: u32, cp: usize, pasid: u32, flags: u32): u32 {
  const c0 = load<u64>(cp);
  const dirEntries: u32 = 1 << (<u32>((c0 >> 9) & 7) + 7);
  let req = flags & (REQ_WRITE | REQ_EXEC | REQ_PRIV);
  peRidPriv = false;
  if (pasid != NO_PASID) {
    if ((c0 & 8) == 0) return fault(F.FR_SM_CONTEXT_PASIDE, 0);
    if ((pasid >> 6) >= dirEntries) return fault(F.FR_SM_PASID_BEYOND_PDTS, 0);
  } else if (has(CAP_RPS)) {
    const c1 = load<u64>(cp, 8);
    pasid = <u32>(c1 & 0xfffff);
    if ((pasid >> 6) >= dirEntries) return fault(F.FR_SM_RID_PASID_ERR, 0);
    peRidPriv = (c1 & 0x10_0000) != 0;
    req = (req & REQ_WRITE) | (peRidPriv ? REQ_PRIV : 0);
  } else {
    pasid = 0;
    req &= REQ_WRITE;
  }

  let q0: u64, q1: u64, q2: u64;
  const pc = pcLookup(sid, pasid);
  if (pc != 0) {
    q0 = load<u64>(pc, 8);
    q1 = load<u64>(pc, 16);
    q2 = load<u64>(pc, 24);
    setFpd(outFpd || load<u32>(pc, 32) != 0 || (q0 & 2) != 0);
  } else {
    const r = readPasidEntry(sid, c0, pasid);
    if (r != 0) return r;
    q0 = pe0;
    q1 = pe1;
    q2 = pe2;
  }
  const pgtt = <u32>(q0 >> 6) & 7;
  const usesFS = pgtt == PGTT_FS || pgtt == PGTT_NESTED;
  if (usesFS) {
    if ((req & REQ_PRIV) != 0 && (!has(CAP_SRS) || (q2 & 1) == 0)) return fault(F.FR_SM_PASID_ENTRY_SRE, 0);
    if ((req & REQ_EXEC) != 0 && (!has(CAP_ERS) || (q2 & 2) == 0)) return fault(F.FR_SM_PASID_ENTRY_ERE, 0);
  }
  pe0 = q0;
  pe1 = q1;
  pe2 = q2;
  pePasid = pasid;
  peFlags = req;
  return 0;
}

/** Read and validate the PASID directory and table entries (a PASID-cache miss). */
function readPasidEntry(sid: u32, c0: u64, pasid: u32): u32 {
  const dp = lin((c0 & ~<u64>0xfff) + (<u64>(pasid >> 6) << 3));
  if (dp == 0) return fault(F.FR_SM_PASID_DIR_ACCESS, 0);
  const de = load<u64>(dp);
  const dirFpd = (de & 2) != 0;
  setFpd(outFpd || dirFpd);
  if ((de & 1) == 0) return fault(F.FR_SM_PASID_DIR_ENTRY_P, 0);
  if ((de & (0xffc | ptrRsvd)) != 0) return fault(F.FR_SM_PASID_DIR_ENTRY_RSVD, 0);

  const pp = lin((de & ~<u64>0xfff) + (<u64>(pasid & 63) << 6));
  if (pp == 0) return fault(F.FR_SM_PASID_ENTRY_ACCESS, 0);
  const q0 = load<u64>(pp);
  setFpd(outFpd || (q0 & 2) != 0);
  if ((q0 & 1) == 0) return fault(F.FR_SM_PASID_ENTRY_P, 0);
  const q1 = load<u64>(pp, 8);
  const q2 = load<u64>(pp, 16);
  const pgtt = <u32>(q0 >> 6) & 7;
  const usesSS = pgtt == PGTT_SS || pgtt == PGTT_NESTED;
  const usesFS = pgtt == PGTT_FS || pgtt == PGTT_NESTED;
  if ((q0 & 0xc00) != 0 || (q1 & 0x7f_0000) != 0 || (q2 & 0xf00) != 0 ||
      (usesSS && (q0 & ptrRsvd) != 0) || (usesFS && (q2 & ptrRsvd) != 0)) {
    return fault(F.FR_SM_PASID_ENTRY_RSVD, 0);
  }
  let supported = false;
  if (pgtt == PGTT_FS) supported = has(CAP_FSTS);
  else if (pgtt == PGTT_SS) supported = has(CAP_SSTS);
  else if (pgtt == PGTT_NESTED) supported = has(CAP_NEST) && has(CAP_FSTS) && has(CAP_SSTS);
  else if (pgtt == PGTT_PT) supported = has(CAP_PT);
  if (!supported) return fault(F.FR_SM_PASID_ENTRY_INV, 0);
  if (usesSS && ((sagaw >> (<u32>(q0 >> 2) & 7)) & 1) == 0) return fault(F.FR_SM_PASID_ENTRY_INV, 0);
  if (usesFS) {
    const fspm = <u32>(q2 >> 2) & 3;
    if (fspm > 1 || (fspm == 1 && !has(CAP_FS5LP))) return fault(F.FR_SM_PASID_ENTRY_INV, 0);
  }
  pcInsert(sid, pasid, q0, q1, q2, dirFpd);
  pe0 = q0;
  pe1 = q1;
  pe2 = q2;
  return 0;
}

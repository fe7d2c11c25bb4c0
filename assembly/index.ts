// The WASM core's exports: the only module the host sees. Every export takes and returns
// 32-bit numbers (64-bit values are split in two halves) so no call boxes a BigInt.

import { CAP_ERS, CAP_SRS, has, setCaps, setRoot } from './caps';
import { FR_SM_INTERRUPT_ADDR, FR_SM_PASID_ENTRY_ERE, FR_SM_PASID_ENTRY_SRE } from './faults';
import { fsWalk, W_ERE, W_EXEC, W_PRIV, W_SRE } from './first-stage';
import { fault, outAddr, publish, RESULT } from './result';
import { translate as translateOne } from './translate';
import { MAX_REGIONS } from './memory';
import { ccFlush } from './context-cache';
import { pcFlush } from './pasid-cache';
import { hits, misses, tlbFlush, tlbInvalidate, tlbInvalidatePasid } from './iotlb';

export { setRegion, setRegionCount } from './memory';
export { translateBatch } from './batch';
export { ccConfigure, ccInvalidate } from './context-cache';
export { pcBytes, pcConfigure, pcInvalidate } from './pasid-cache';
export { tlbConfigure, resetCounters } from './iotlb';

// @ts-ignore: decorator
@inline function u64of(lo: u32, hi: u32): u64 {
  return (<u64>hi << 32) | <u64>lo;
}

export function heapBase(): usize {
  return __heap_base;
}

export function resultPtr(): usize {
  return RESULT;
}

export function maxRegions(): i32 {
  return MAX_REGIONS;
}

export function configure(flags: u32, sagaw: u32, mgaw: u32, haw: u32): void {
  setCaps(flags, sagaw, mgaw, haw);
  // What the caches hold was decoded under the old capabilities (the batch's record decoding too).
  ccFlush();
  pcFlush();
  tlbFlush();
}

export function setRootTable(lo: u32, hi: u32, scalable: bool, enable: bool): void {
  setRoot(u64of(lo, hi), scalable, enable);
}

/** Drop every cached context, PASID and IOTLB entry (SRTP, TE changes, reset). */
export function flushCaches(): void {
  ccFlush();
  pcFlush();
  tlbFlush();
}

/** IOTLB invalidation (descriptor / register form). */
export function iotlbInvalidate(gran: u32, did: u32, addrLo: u32, addrHi: u32, am: u32): void {
  tlbInvalidate(gran, did, u64of(addrLo, addrHi), am);
}

/** PASID-based IOTLB invalidation. */
export function piotlbInvalidate(gran: u32, did: u32, pasid: u32, addrLo: u32, addrHi: u32, am: u32): void {
  tlbInvalidatePasid(gran, did, pasid, u64of(addrLo, addrHi), am);
}

export function iotlbHits(): f64 {
  return hits;
}

export function iotlbMisses(): f64 {
  return misses;
}

/** Translate one request; the result is published at resultPtr(). Returns the fault reason or 0. */
export function translate(sid: u32, pasid: u32, iovaLo: u32, iovaHi: u32, flags: u32): u32 {
  const r = translateOne(sid & 0xffff, pasid, u64of(iovaLo, iovaHi), flags);
  publish(r);
  return r;
}

/** The bare first-stage walk (walk flags as W_* in first-stage.ts). */
export function firstStageWalk(rootLo: u32, rootHi: u32, levels: u32, iovaLo: u32, iovaHi: u32, walkFlags: u32): u32 {
  let r: u32;
  // The PASID-entry request checks (§4) come first, as in a full translation.
  if ((walkFlags & W_PRIV) != 0 && (!has(CAP_SRS) || (walkFlags & W_SRE) == 0)) r = fault(FR_SM_PASID_ENTRY_SRE, 0);
  else if ((walkFlags & W_EXEC) != 0 && (!has(CAP_ERS) || (walkFlags & W_ERE) == 0)) r = fault(FR_SM_PASID_ENTRY_ERE, 0);
  else {
    r = fsWalk(u64of(rootLo, rootHi) & ~<u64>0xfff, levels == 5 ? 5 : 4, u64of(iovaLo, iovaHi), walkFlags);
    if (r == 0 && (outAddr >> 20) == 0xfee) r = fault(FR_SM_INTERRUPT_ADDR, 0);
  }
  publish(r);
  return r;
}

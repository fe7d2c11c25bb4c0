// IOTLB: translations tagged as the spec tags them — source-id, PASID (of the request, with
// the effective PASID kept for invalidation), DID, page size and PGTT. Set-associative, one
// set per hash of (request key, page number) for each page size in use.
//
// A hit answers the request without touching the tables, but only when the cached access
// bits allow it for *this* request (user/supervisor, WPE, SRE/ERE, a write needing D, the
// interrupt range inside a large page); otherwise the request walks (and refills), so a hit
// never makes a request succeed that the walk would fault, nor fault one the walk would
// translate with the same cached tables. Stale translations stay visible until invalidated.
//
// Entry (32 bytes):
//   +0  u64 tag: page base | size code << 1 (0 4K, 1 2M, 2 1G) | VALID
//   +8  u64 key: sid | reqPasid << 16 | withPasid << 36 | DID << 37 | PGTT << 53 |
//               WPE << 56 | SRE ok << 57 | ERE ok << 58 | RID_PRIV << 59
//   +16 u64 output page base
//   +24 u32 effective PASID   +28 u32 raw access bits (RAW_* in result.ts)

import { PGTT_FS, PGTT_NESTED, REQ_EXEC, REQ_PRIV, REQ_WRITE } from './pasid';
import {
  RAW_DIRTY, RAW_FS_NX, RAW_FS_RW, RAW_FS_US, RAW_SS_R, RAW_SS_W, RAW_SS_X, PERM_R, PERM_W, PERM_X,
} from './result';

const ENTRY: usize = 32;
const VALID: u64 = 1;
export const KEY_MASK: u64 = (<u64>1 << 37) - 1;
const WITH_PASID: u64 = <u64>1 << 36;
const K_WPE: u64 = <u64>1 << 56;
const K_SRE: u64 = <u64>1 << 57;
const K_ERE: u64 = <u64>1 << 58;
export const K_RIDPRIV: u64 = <u64>1 << 59;

let base: usize = 0;
let sets: u32 = 0;
let ways: u32 = 0;
/** Round-robin victim among valid ways (after free ones), shared by every fill: the batch too. */
let victim: u32 = 0;

/** The next victim way of a full set of `n` ways. */
// @ts-ignore: decorator
@inline export function nextVictim(n: u32): u32 {
  return victim++ & (n - 1);
}
/** Bit per size code that has entries (since the last full flush): skips needless probes. */
let sizesPresent: u32 = 0;

export let hits: f64 = 0;
export let misses: f64 = 0;

/** Outputs of a hit. */
export let hitAddr: u64 = 0;
export let hitShift: u32 = 12;
export let hitPerm: u32 = 0;

export function tlbConfigure(ptr: usize, nsets: u32, nways: u32): void {
  base = ptr;
  sets = nsets;
  ways = nways;
  tlbFlush();
}

export function tlbEnabled(): bool {
  return sets != 0;
}

export function tlbFlush(): void {
  if (sets != 0) memory.fill(base, 0, <usize>(sets * ways) * ENTRY);
  sizesPresent = 0;
}

export function resetCounters(): void {
  hits = 0;
  misses = 0;
}

/** The request part of the key: source-id and, for a request with PASID, its PASID. */
// @ts-ignore: decorator
@inline export function requestKey(sid: u32, pasid: u32, withPasid: bool): u64 {
  return withPasid ? <u64>sid | (<u64>pasid << 16) | WITH_PASID : <u64>sid;
}

/** The key's share of the set index (computed once per kind of request by the batch), mixed into its low bits. */
// @ts-ignore: decorator
@inline export function keyHash(key: u64): u32 {
  const h = (<u32>key ^ <u32>(key >> 16) * 0x85eb_ca6b) * 0x9e37_79b1;
  return h ^ (h >> 15);
}

/** The set for page number `vpn` of a key with hash `kh`: consecutive pages in consecutive sets. */
// @ts-ignore: decorator
@inline export function setAt(kh: u32, vpn: u64): usize {
  return base + <usize>(((<u32>vpn ^ <u32>(vpn >> 10) ^ kh) & (sets - 1)) * ways) * ENTRY;
}

// @ts-ignore: decorator
@inline function setOf(key: u64, vpn: u64): usize {
  return setAt(keyHash(key), vpn);
}

/**
 * Grants, computed when an entry is filled (bits 15:8 of its raw word): what kinds of request
 * it may answer. A request needs the grants `needsOf` gives; one mask test decides a hit.
 */
export const G_US: u32 = 1 << 8; // user request: U/S at every first-stage level
export const G_R: u32 = 1 << 9; // read: second-stage R
export const G_WU: u32 = 1 << 10; // user write: R/W, second-stage W, D set
export const G_WS: u32 = 1 << 11; // supervisor write: R/W or WPE clear, second-stage W, D set
export const G_X: u32 = 1 << 12; // execute: ERE, no XD, second-stage X
export const G_S: u32 = 1 << 13; // supervisor request: SRE

// @ts-ignore: decorator
@inline export function needsOf(req: u32): u32 {
  const user = (req & REQ_PRIV) == 0;
  let n: u32 = user ? G_US : G_S;
  if ((req & REQ_WRITE) != 0) n |= user ? G_WU : G_WS;
  else n |= G_R;
  if ((req & REQ_EXEC) != 0) n |= G_X;
  return n;
}

export function tlbSizesPresent(): u32 {
  return sizesPresent;
}

/** The key word of an entry (+8) for what the PASID entry said. */
// @ts-ignore: decorator
@inline export function keyWord(key: u64, did: u32, pgtt: u32, wpe: bool, sreOk: bool, ereOk: bool, ridPriv: bool): u64 {
  return key | (<u64>did << 37) | (<u64>pgtt << 53) | (wpe ? K_WPE : 0) | (sreOk ? K_SRE : 0) |
    (ereOk ? K_ERE : 0) | (ridPriv ? K_RIDPRIV : 0);
}

/** The raw word of an entry (+28): the raw access bits and the grants they give. */
// @ts-ignore: decorator
@inline export function grantsOf(raw: u32, wpe: bool, sreOk: bool, ereOk: bool): u32 {
  const wOk = (raw & RAW_SS_W) != 0 && (raw & RAW_DIRTY) != 0;
  const fsRw = (raw & RAW_FS_RW) != 0;
  let g = raw & 0xff;
  if ((raw & RAW_FS_US) != 0) g |= G_US;
  if ((raw & RAW_SS_R) != 0) g |= G_R;
  if (wOk && fsRw) g |= G_WU;
  if (wOk && (fsRw || !wpe)) g |= G_WS;
  if ((raw & (RAW_FS_NX | RAW_SS_X)) == RAW_SS_X && ereOk) g |= G_X;
  if (sreOk) g |= G_S;
  return g;
}

/** Fill the 4 KiB entry at `e` (the batch found the set while probing). */
// @ts-ignore: decorator
@inline export function tlbFill4k(e: usize, iova: u64, out: u64, kw: u64, effPasid: u32, grants: u32): void {
  store<u64>(e, (iova & ~<u64>0xfff) | VALID);
  store<u64>(e, kw, 8);
  store<u64>(e, out & ~<u64>0xfff, 16);
  store<u32>(e, effPasid, 24);
  store<u32>(e, grants, 28);
  sizesPresent |= 1;
}

export function tlbWays(): u32 {
  return ways;
}

/** Where the entries start, and the number of sets (the batch's one-size loop computes sets itself). */
export function tlbBase(): usize {
  return base;
}

export function tlbSets(): u32 {
  return sets;
}

/**
 * Fill entry `e` with a page of size code `code` (0 4 KiB, 1 2 MiB, 2 1 GiB) at `pageBase`
 * mapping to `outBase`; `raw` is the entry's raw word with its grants.
 */
// @ts-ignore: decorator
@inline export function tlbFillAt(e: usize, code: u32, pageBase: u64, outBase: u64, kw: u64, effPasid: u32, raw: u32): void {
  store<u64>(e, pageBase | (<u64>code << 1) | VALID);
  store<u64>(e, kw, 8);
  store<u64>(e, outBase, 16);
  store<u32>(e, effPasid, 24);
  store<u32>(e, raw, 28);
  if ((sizesPresent & (<u32>1 << code)) == 0) sizesPresent |= <u32>1 << code;
}

/** Count lookups in bulk (the batch keeps its own counts in locals). */
export function tlbCount(h: f64, m: f64): void {
  hits += h;
  misses += m;
}

/**
 * Look up `iova` for a request (flags: REQ_*). Returns true on a usable hit (hitAddr,
 * hitShift, hitPerm set); false means walk. The caller counts hits and misses.
 */
// @ts-ignore: decorator
@inline export function tlbLookup(key: u64, iova: u64, flags: u32): bool {
  let present = sizesPresent;
  for (let code: u32 = 0; present != 0; code++, present >>= 1) {
    if ((present & 1) == 0) continue;
    const shift: u64 = 12 + 9 * <u64>code;
    const pageBase = iova & ~((<u64>1 << shift) - 1);
    const s = setOf(key, iova >> shift);
    const tag = pageBase | (<u64>code << 1) | VALID;
    for (let w: u32 = 0; w < ways; w++) {
      const e = s + <usize>w * ENTRY;
      if (load<u64>(e) != tag) continue;
      const k = load<u64>(e, 8);
      if ((k & KEY_MASK) != key) continue;
      // Found: is it usable for this request as the walk would judge it?
      let req = flags;
      if ((key & WITH_PASID) == 0) req = (req & REQ_WRITE) | ((k & K_RIDPRIV) != 0 ? REQ_PRIV : 0);
      const raw = load<u32>(e, 28);
      const needs = needsOf(req);
      if ((raw & needs) != needs) break;
      const out = load<u64>(e, 16) | (iova & ((<u64>1 << shift) - 1));
      if ((out >> 20) == 0xfee) break; // the interrupt range inside a large page: let the walk fault
      const fsW = (raw & RAW_FS_RW) != 0 || ((req & REQ_PRIV) != 0 && (k & K_WPE) == 0);
      hitAddr = out;
      hitShift = <u32>shift;
      hitPerm = ((raw & RAW_SS_R) != 0 ? PERM_R : 0) | (fsW && (raw & RAW_SS_W) != 0 ? PERM_W : 0) |
        ((raw & RAW_FS_NX) == 0 && (raw & RAW_SS_X) != 0 ? PERM_X : 0);
      return true;
    }
  }
  return false;
}

/** Cache a successful walk. */
export function tlbInsert(key: u64, iova: u64, out: u64, shift: u32, raw: u32, did: u32, pgtt: u32, effPasid: u32,
                          wpe: bool, sreOk: bool, ereOk: bool, ridPriv: bool): void {
  const code: u32 = shift == 12 ? 0 : shift == 21 ? 1 : 2;
  const size: u64 = <u64>1 << shift;
  const s = setOf(key, iova >> shift);
  const tag = (iova & ~(size - 1)) | (<u64>code << 1) | VALID;
  let e: usize = 0;
  for (let w: u32 = 0; w < ways; w++) {
    const c = s + <usize>w * ENTRY;
    const t = load<u64>(c);
    // The same page of the same key is replaced, never duplicated; else the first free way.
    if (t == tag && (load<u64>(c, 8) & KEY_MASK) == key) {
      e = c;
      break;
    }
    if (e == 0 && (t & VALID) == 0) e = c;
  }
  if (e == 0) e = s + <usize>nextVictim(ways) * ENTRY;
  store<u64>(e, tag);
  store<u64>(e, keyWord(key, did, pgtt, wpe, sreOk, ereOk, ridPriv), 8);
  store<u64>(e, out & ~(size - 1), 16);
  store<u32>(e, effPasid, 24);
  store<u32>(e, grantsOf(raw, wpe, sreOk, ereOk), 28);
  sizesPresent |= <u32>1 << code;
}

/** Does the entry's page overlap [addr, addr + 2^(12+am))? */
// @ts-ignore: decorator
@inline function inRange(tag: u64, addr: u64, am: u32): bool {
  if (am >= 52) return true; // 2^(12+am) bytes cover the whole 64-bit space
  const shift: u64 = 12 + 9 * ((tag >> 1) & 3);
  const pageBase = tag & ~<u64>0xfff;
  const lo = addr & ~((<u64>1 << (12 + <u64>am)) - 1);
  const hi = lo + (<u64>1 << (12 + <u64>am)) - 1;
  return pageBase <= hi && lo <= pageBase + (<u64>1 << shift) - 1;
}

/**
 * IOTLB invalidation, the IOTLB descriptor (and register) form: gran 1 global, 2 domain
 * (DID), 3 page-selective: second-stage entries of DID in the range and, as the spec says for
 * this descriptor, every first-stage and nested entry of the DID.
 */
export function tlbInvalidate(gran: u32, did: u32, addr: u64, am: u32): void {
  if (gran == 1) tlbFlush();
  else dropEntries(gran == 2 ? DROP_ALL : DROP_FS_ALL | DROP_SS_RANGE, did, NO_PASID_MATCH, addr, am);
}

/**
 * PASID-based IOTLB invalidation: gran 2 all entries of DID + PASID (any PGTT); 3
 * page-selective-within-PASID: first-stage and nested entries of DID + PASID in the range
 * (second-stage and pass-through ones stay, as the spec says).
 */
export function tlbInvalidatePasid(gran: u32, did: u32, pasid: u32, addr: u64, am: u32): void {
  dropEntries(gran == 2 ? DROP_ALL : DROP_FS_RANGE, did, pasid, addr, am);
}

// What an invalidation drops among the entries of its DID (and PASID): everything; first-stage
// and nested entries whatever their address, or only those in the range; second-stage entries
// in the range.
const DROP_ALL: u32 = 1;
const DROP_FS_ALL: u32 = 2;
const DROP_FS_RANGE: u32 = 4;
const DROP_SS_RANGE: u32 = 8;
const NO_PASID_MATCH: u32 = 0xffff_ffff; // IOTLB descriptors do not select by PASID

function dropEntries(what: u32, did: u32, pasid: u32, addr: u64, am: u32): void {
  const n = sets * ways;
  for (let i: u32 = 0; i < n; i++) {
    const e = base + <usize>i * ENTRY;
    const tag = load<u64>(e);
    if ((tag & VALID) == 0) continue;
    const k = load<u64>(e, 8);
    if (<u32>((k >> 37) & 0xffff) != did || (pasid != NO_PASID_MATCH && load<u32>(e, 24) != pasid)) continue;
    const pgtt = <u32>(k >> 53) & 7;
    const fs = pgtt == PGTT_FS || pgtt == PGTT_NESTED;
    if ((what & DROP_ALL) != 0 || (fs && (what & DROP_FS_ALL) != 0) ||
        (what & (fs ? DROP_FS_RANGE : DROP_SS_RANGE)) != 0 && inRange(tag, addr, am)) {
      store<u64>(e, 0);
    }
  }
}

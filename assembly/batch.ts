// Struct-of-arrays batch: requests and results live in linear memory (views on the TS side),
// one call translates `count` of them. No allocation, no BigInt, no host call in the loop.
//
// Runs: consecutive requests of one kind (source-id, PASID, flags) whose PASID record is in the
// PASID cache and says first stage go through a tight loop (with or without the IOTLB). Its
// walk has no side effects: it finishes a request only when every entry is present, free of
// reserved bits and already accessed (and dirty, for a write) and the permissions allow it;
// on anything else the run stops and that request takes the full path (translate.ts), which
// writes the A/D bits or raises the fault. Both give the same results; the property tests
// hold a batch equal to the same requests one by one, results and memory.
// The run loops are separate functions on purpose: small loops with few live values are what
// the engine compiles well (the same walk inside the general loop ran ~1.5x slower).

import { CAP_FS1GP, has, pteAddrRsvd, scalable, te } from './caps';
import { FS_A, FS_D, FS_EA, FS_P, FS_PS, FS_RW, FS_US } from './first-stage';
import {
  grantsOf, K_RIDPRIV, KEY_MASK, keyHash, keyWord, needsOf, requestKey, setAt, tlbCount, tlbEnabled, tlbFill4k,
  tlbInsert, tlbSizesPresent, tlbWays,
} from './iotlb';
import { base0, lin0, size0 } from './memory';
import { NO_PASID, PGTT_FS, REQ_EXEC, REQ_PRIV, REQ_WRITE } from './pasid';
import {
  INFO_EAFE, INFO_ERE_OK, INFO_L5, INFO_PGTT, INFO_RID_PRIV, INFO_SRE_OK, INFO_WPE,
  PC_DID, PC_FSROOT, PC_INFO, PC_PASID, PC_VALID, pcEnabled, pcLookup,
} from './pasid-cache';
import { outAddr, outFpd, outLevel, RAW_DIRTY, RAW_FS_NX, RAW_FS_RW, RAW_FS_US, RAW_SS_ALL } from './result';
import { translate } from './translate';

const BAIL: u64 = ~<u64>0;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/** Bit 63 of an entry is XD; the walk ANDs entries with it flipped, so bit 63 ends as "no XD anywhere". */
const NXINV: u64 = <u64>1 << 63;

// ---- the kind of request a run serves, decoded once (decodeKind) ----
let kKind: u64 = BAIL; // pasid << 32 | flags << 16 | sid; BAIL = none
let kPc: usize = 0; // its PASID record, 0 when not cached
let kKey: u64 = 0; // its IOTLB / PASID-cache key
let kUsable = false; // first stage, and SRE/ERE allow the request
let kRoot: u64 = 0;
let kTopShift: u64 = 0;
let kCanonShift: u64 = 0;
let kNeed: u64 = 0; // P, A (and EA) every entry must have
let kAccNeed: u64 = 0; // U/S, R/W, no-XD the ANDed entries must grant
let kWrite = false;
let kKh: u32 = 0; // IOTLB: the key's hash
let kNeedsA: u32 = 0; // IOTLB: grants needed (entry without / with RID_PRIV)
let kNeedsB: u32 = 0;
let kKw: u64 = 0; // IOTLB: the key word a fill writes
let kPasid: u32 = 0; // the effective PASID a fill records
let kWpe = false;
let kSre = false;
let kEre = false;

function decodeKind(sid: u32, pasid: u32, flags: u32): void {
  kKind = (<u64>pasid << 32) | (<u64>flags << 16) | <u64>sid;
  kKey = requestKey(sid, pasid, pasid != NO_PASID);
  kKh = keyHash(kKey);
  kNeedsA = needsOf(pasid != NO_PASID ? flags : flags & REQ_WRITE);
  kNeedsB = needsOf(pasid != NO_PASID ? flags : (flags & REQ_WRITE) | REQ_PRIV);
  kPc = pcLookup(kKey);
  kUsable = false;
  if (kPc == 0) return;
  const info = load<u32>(kPc, PC_INFO);
  // A request without PASID is a read or write, privileged only through RID_PRIV (§2).
  const req = pasid != NO_PASID ? flags & (REQ_WRITE | REQ_EXEC | REQ_PRIV)
    : (flags & REQ_WRITE) | ((info & INFO_RID_PRIV) != 0 ? REQ_PRIV : 0);
  const user = (req & REQ_PRIV) == 0;
  kWrite = (req & REQ_WRITE) != 0;
  kUsable = (info & INFO_PGTT) == PGTT_FS && (user || (info & INFO_SRE_OK) != 0) &&
    ((req & REQ_EXEC) == 0 || (info & INFO_ERE_OK) != 0);
  const l5 = (info & INFO_L5) != 0;
  kRoot = load<u64>(kPc, PC_FSROOT);
  kTopShift = l5 ? 48 : 39;
  kCanonShift = l5 ? 56 : 47;
  kNeed = (info & INFO_EAFE) != 0 ? FS_P | FS_A | FS_EA : FS_P | FS_A;
  // U/S for a user, R/W for a write the walk would refuse without it (user, or WPE), no XD
  // for an execute.
  kAccNeed = (user ? FS_US : 0) | (kWrite && (user || (info & INFO_WPE) != 0) ? FS_RW : 0) |
    ((req & REQ_EXEC) != 0 ? NXINV : 0);
  kWpe = (info & INFO_WPE) != 0;
  kSre = (info & INFO_SRE_OK) != 0;
  kEre = (info & INFO_ERE_OK) != 0;
  kPasid = load<u32>(kPc, PC_PASID);
  kKw = keyWord(kKey, load<u32>(kPc, PC_DID), PGTT_FS, kWpe, kSre, kEre, (info & INFO_RID_PRIV) != 0);
}

// The last fast walk's leaf, for an IOTLB fill.
let walkAcc: u64 = 0;
let walkEntry: u64 = 0;
let walkShift: u64 = 12;

/**
 * The side-effect-free first-stage walk: the output address, or BAIL. With `leaf`, the leaf
 * entry, the ANDed access bits and the page shift are kept for an IOTLB fill.
 */
// @ts-ignore: decorator
@inline function fastWalk(leaf: bool, iova: u64, root: u64, topShift: u64, canonShift: u64, need: u64, rsvd: u64,
                          accNeed: u64, write: bool, fs1gp: bool, b0: u64, s0: u64, l0: u64): u64 {
  const top = <i64>iova >> canonShift;
  if (top != 0 && top != -1) return BAIL;
  // Present, accessed and no reserved address bits: one test per level.
  const m = need | rsvd;
  let table = root;
  let shift = topShift;
  let acc: u64 = FS_US | FS_RW | NXINV;
  let e: u64;
  while (true) {
    const off = table + (((iova >> shift) & 511) << 3) - b0;
    if (off >= s0) return BAIL;
    e = load<u64>(<usize>(l0 + off));
    if ((e & m) != need) return BAIL;
    acc &= e ^ NXINV;
    if (shift == 12) break; // bit 7 of a 4 KiB leaf is PAT
    if ((e & FS_PS) != 0) {
      // A large leaf: 2 MiB (bits 20:13 reserved) or 1 GiB with FS1GP (bits 29:13); PS above is reserved.
      if (shift == 21 ? (e & 0x1f_e000) != 0 : shift != 30 || !fs1gp || (e & 0x3fff_e000) != 0) return BAIL;
      break;
    }
    table = e & ADDR_MASK;
    shift -= 9;
  }
  if ((acc & accNeed) != accNeed || (write && (e & FS_D) == 0)) return BAIL;
  const mask = (<u64>1 << shift) - 1;
  const out = (e & ADDR_MASK & ~mask) | (iova & mask);
  if ((out >> 20) == 0xfee) return BAIL; // the interrupt range: the full path faults it
  if (leaf) {
    walkAcc = acc;
    walkEntry = e;
    walkShift = shift;
  }
  return out;
}

// @ts-ignore: decorator
@inline function kindAt(i: usize, sidPtr: usize, pasidPtr: usize, flagsPtr: usize): u64 {
  return (<u64>load<u32>(pasidPtr + (i << 2)) << 32) | (<u64>load<u8>(flagsPtr + i) << 16) | <u64>load<u16>(sidPtr + (i << 1));
}

/** A run without IOTLB from request `i`; returns the first request it did not finish. */
function runWalk(i: usize, count: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                 addrPtr: usize, faultPtr: usize): usize {
  const kind = kKind, root = kRoot, topShift = kTopShift, canonShift = kCanonShift, need = kNeed, accNeed = kAccNeed;
  const write = kWrite, rsvd = pteAddrRsvd, fs1gp = has(CAP_FS1GP);
  const b0 = base0, s0 = size0, l0 = lin0;
  for (; i < count; i++) {
    if (kindAt(i, sidPtr, pasidPtr, flagsPtr) != kind) break;
    const out = fastWalk(false, load<u64>(iovaPtr + (i << 3)), root, topShift, canonShift, need, rsvd, accNeed, write, fs1gp,
      b0, s0, l0);
    if (out == BAIL) break;
    store<u64>(addrPtr + (i << 3), out);
    store<u8>(faultPtr + i, 0);
  }
  return i;
}

let runHits: u32 = 0;
let runMisses: u32 = 0;

/** The way of `set` holding `tag` for `key`, or 0. */
// @ts-ignore: decorator
@inline function findWay(set: usize, tag: u64, key: u64, ways: u32): usize {
  for (let w: u32 = 0; w < ways; w++) {
    const e = set + <usize>w * 32;
    if (load<u64>(e) == tag && (load<u64>(e, 8) & KEY_MASK) == key) return e;
  }
  return 0;
}

/** The output of a cached entry if its grants allow the request (and it is not the interrupt range), else BAIL. */
// @ts-ignore: decorator
@inline function hitOut(e: usize, needsA: u32, needsB: u32, iova: u64, mask: u64): u64 {
  const needs = (load<u64>(e, 8) & K_RIDPRIV) != 0 ? needsB : needsA;
  if ((load<u32>(e, 28) & needs) != needs) return BAIL;
  const o = load<u64>(e, 16) | (iova & mask);
  return (o >> 20) == 0xfee ? BAIL : o;
}

/** A free way of `set`, or the next victim. */
// @ts-ignore: decorator
@inline function wayToFill(set: usize, ways: u32, victim: u32): usize {
  for (let w: u32 = 0; w < ways; w++) {
    const e = set + <usize>w * 32;
    if ((load<u64>(e) & 1) == 0) return e;
  }
  return set + <usize>((victim & (ways - 1)) * 32);
}

/**
 * A run with the IOTLB, from request `i`: a probe of the set of each page size the IOTLB
 * holds (one set when it holds only 4 KiB pages), the grants tested with one mask; a miss
 * walks and fills (a 4 KiB page replaces the same page's entry if it was there). Returns the
 * first request it did not finish.
 */
function runIotlb(i: usize, count: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                  addrPtr: usize, faultPtr: usize): usize {
  const kind = kKind, key = kKey, kh = kKh, needsA = kNeedsA, needsB = kNeedsB;
  const root = kRoot, topShift = kTopShift, canonShift = kCanonShift, need = kNeed, accNeed = kAccNeed;
  const write = kWrite, rsvd = pteAddrRsvd, fs1gp = has(CAP_FS1GP);
  const b0 = base0, s0 = size0, l0 = lin0;
  const ways = tlbWays();
  const sizes = tlbSizesPresent(); // a fill of another size ends the run
  let victim: u32 = 0;
  let hits: u32 = 0, misses: u32 = 0;
  for (; i < count; i++) {
    if (kindAt(i, sidPtr, pasidPtr, flagsPtr) != kind) break;
    const iova = load<u64>(iovaPtr + (i << 3));
    const set4k = setAt(kh, iova >> 12);
    let e4k: usize = 0; // this page's 4 KiB entry, if any
    let out = BAIL;
    if (sizes <= 1) {
      e4k = findWay(set4k, (iova & ~<u64>0xfff) | 1, key, ways);
      if (e4k != 0) out = hitOut(e4k, needsA, needsB, iova, 0xfff);
    } else {
      for (let code: u32 = 0; code < 3; code++) {
        if ((sizes & (1 << code)) == 0) continue;
        const shift: u64 = 12 + 9 * <u64>code;
        const mask = (<u64>1 << shift) - 1;
        const e = findWay(code == 0 ? set4k : setAt(kh, iova >> shift), (iova & ~mask) | (<u64>code << 1) | 1, key, ways);
        if (e == 0) continue;
        if (code == 0) e4k = e;
        out = hitOut(e, needsA, needsB, iova, mask);
        break; // one page of one size holds this address
      }
    }
    if (out != BAIL) {
      hits++;
    } else {
      out = fastWalk(true, iova, root, topShift, canonShift, need, rsvd, accNeed, write, fs1gp, b0, s0, l0);
      if (out == BAIL) break; // the full path looks the IOTLB up (and counts) itself
      misses++;
      const e = walkEntry, acc = walkAcc;
      const raw: u32 = ((acc & FS_US) != 0 ? RAW_FS_US : 0) | ((acc & FS_RW) != 0 ? RAW_FS_RW : 0) |
        ((acc & NXINV) == 0 ? RAW_FS_NX : 0) | ((e & FS_D) != 0 ? RAW_DIRTY : 0) | RAW_SS_ALL;
      if (walkShift == 12) {
        const fill = e4k != 0 ? e4k : wayToFill(set4k, ways, victim++);
        tlbFill4k(fill, iova, out, kKw, kPasid, grantsOf(raw, kWpe, kSre, kEre));
      } else {
        tlbInsert(key, iova, out, <u32>walkShift, raw, <u32>(kKw >> 37) & 0xffff, PGTT_FS, kPasid, kWpe, kSre, kEre,
          (kKw & K_RIDPRIV) != 0);
      }
      if (tlbSizesPresent() != sizes) {
        // A page size this run does not probe yet: finish this request, then start over.
        store<u64>(addrPtr + (i << 3), out);
        store<u8>(faultPtr + i, 0);
        i++;
        break;
      }
    }
    store<u64>(addrPtr + (i << 3), out);
    store<u8>(faultPtr + i, 0);
  }
  runHits += hits;
  runMisses += misses;
  return i;
}

/** The full path, kept out of line so the loops stay small. */
function slowPath(sid: u32, pasid: u32, iova: u64, flags: u32): u32 {
  return translate(sid, pasid, iova, flags);
}

/**
 * Translate `count` requests. `infoPtr` (optional, 0 = none) receives per request the fault
 * level in bits 2:0 and FPD in bit 7, which fault recording needs.
 */
export function translateBatch(count: u32, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                               addrPtr: usize, faultPtr: usize, infoPtr: usize): u32 {
  const n = <usize>count;
  const fast = te && scalable && pcEnabled();
  const tlbOn = tlbEnabled();
  let faults: u32 = 0;
  kKind = BAIL;
  kPc = 0;
  kUsable = false;
  runHits = 0;
  runMisses = 0;
  let recheck = false; // the full path ran: it may have evicted or refilled the PASID record
  let i: usize = 0;
  while (i < n) {
    if (recheck) {
      if (kPc == 0 || load<u64>(kPc) != (kKey | PC_VALID)) {
        kKind = BAIL;
        kUsable = false;
      }
      recheck = false;
    }
    if (fast && kUsable) {
      const j = tlbOn ? runIotlb(i, n, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr)
        : runWalk(i, n, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
      if (j != i) {
        i = j;
        continue;
      }
    }
    const sid = <u32>load<u16>(sidPtr + (i << 1));
    const pasid = load<u32>(pasidPtr + (i << 2));
    const flags = <u32>load<u8>(flagsPtr + i);
    if (fast && (pasid == NO_PASID || pasid <= 0xfffff) && kindAt(i, sidPtr, pasidPtr, flagsPtr) != kKind) {
      // A new kind of request: decode it, and if it can run, start a run right here.
      decodeKind(sid, pasid, flags);
      if (kUsable) continue;
    }
    const r = slowPath(sid, pasid, load<u64>(iovaPtr + (i << 3)), flags);
    recheck = true;
    store<u64>(addrPtr + (i << 3), r == 0 ? outAddr : 0);
    store<u8>(faultPtr + i, <u8>r);
    if (r != 0) {
      faults++;
      if (infoPtr != 0) store<u8>(infoPtr + i, <u8>(outLevel | (outFpd ? 0x80 : 0)));
    }
    i++;
  }
  if (tlbOn) tlbCount(<f64>runHits, <f64>runMisses);
  return faults;
}

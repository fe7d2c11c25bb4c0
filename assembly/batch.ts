// Struct-of-arrays batch: requests and results live in linear memory (views on the TS side),
// one call translates `count` of them. No allocation, no BigInt, no host call in the loop.
//
// Runs: consecutive requests of one kind (source-id and PASID) whose PASID record is in the
// PASID cache and says first stage go through a tight loop (with or without the IOTLB). Its
// walk has no side effects: it finishes a request only when every entry is present, free of
// reserved bits and already accessed (and dirty, for a write) and the permissions allow it;
// on anything else the run stops and that request takes the full path (translate.ts), which
// writes the A/D bits or raises the fault. Both give the same results; the property tests
// hold a batch equal to the same requests one by one, results and memory.
// The run loops are separate functions on purpose: small loops with few live values are what
// the engine compiles well (the same walk inside the general loop ran ~1.5x slower).

import { CAP_FS1GP, has, pteAddrRsvd, scalable, te } from './caps';
import {
  FR_FS_ENTRY_P, FR_FS_ENTRY_RSVD, FR_FS_NON_CANONICAL, FR_FS_US, FR_SM_EXECUTE, FR_SM_INTERRUPT_ADDR, FR_SM_WRITE,
} from './faults';
import { FS_A, FS_D, FS_EA, FS_P, FS_PS, FS_RW, FS_US } from './first-stage';
import {
  grantsOf, K_RIDPRIV, KEY_MASK, keyHash, keyWord, needsOf, nextVictim, requestKey, setAt, tlbBase, tlbCount, tlbEnabled, tlbFill4k,
  tlbFillAt, tlbInsert, tlbSets, tlbSizesPresent, tlbWays,
} from './iotlb';
import { base0, lin0, size0 } from './memory';
import { NO_PASID, PGTT_FS, REQ_EXEC, REQ_PRIV, REQ_WRITE } from './pasid';
import {
  INFO_EAFE, INFO_ERE_OK, INFO_FPD, INFO_L5, INFO_PGTT, INFO_RID_PRIV, INFO_SRE_OK, INFO_WPE,
  PC_BATCH, PC_DID, PC_FSROOT, PC_INFO, PC_PASID, PC_VALID, pcEnabled, pcLookup, pcLookupHinted,
} from './pasid-cache';
import { outAddr, outFpd, outLevel, RAW_DIRTY, RAW_FS_NX, RAW_FS_RW, RAW_FS_US, RAW_SS_ALL } from './result';
import { translate } from './translate';

const BAIL: u64 = ~<u64>0;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/** Bit 63 of an entry is XD; the walk ANDs entries with it flipped, so bit 63 ends as "no XD anywhere". */
const NXINV: u64 = <u64>1 << 63;

// ---- the batch's decoding of a PASID-cache record ----
// A run needs, per (source-id, PASID), what the record's PASID entry allows and how to walk.
// That is decoded once into the record's spare bytes (pasid-cache.ts clears them whenever the
// record is written), so a change of (source-id, PASID) between requests costs one PASID-cache
// lookup, a line of tags and the record's line, as the PASID directory and entry would on
// hardware. What varies per request (write, execute, supervisor) comes from small tables
// indexed by the record's class and the request flags.
const RB_FAST = PC_BATCH; // u32: 0 until decoded; bits 7:0 usable per flags, RB_* below
const RB_KH = PC_BATCH + 4; // u32 IOTLB key hash
const RB_ROW = PC_BATCH + 8; // u32 the record's row of ROWS
const RB_ROOT = PC_BATCH + 12; // u32 linear address of the first-stage root table (offset 48)
const RB_CANON = PC_BATCH + 16; // u32 the canonical shift: 47 (4-level) or 56 (5-level)
const RB_M = PC_BATCH + 20; // u64 P, A (and EA), which every entry must have, and the reserved address bits (offset 56)
const RB_DECODED: u32 = 1 << 31;
const RB_L5: u32 = 1 << 8;
const RB_FPD: u32 = 1 << 15; // fault processing disabled: batch faultInfo bit 7
const NEED_BITS: u64 = FS_P | FS_A | FS_EA; // the part of RB_M that must be set

// What a request needs and what a fill caches depend on the record's class (with PASID,
// RID_PRIV, WPE, SRE ok, ERE ok) and the request flags: one 192-byte row per class.
//   +0   u64[8] per flags: the U/S, R/W and no-XD bits the ANDed entries must grant. A request
//        without PASID is a read or write, privileged only through RID_PRIV (§2); R/W is
//        needed for a write by a user, or with WPE.
//   +64  u32[16] per 4 KiB-or-larger leaf (R/W, U/S, no XD, D): an IOTLB entry's raw word and grants.
//   +128 u64[8] per flags: the IOTLB grants a hit needs, bits 31:0 for an entry without RID_PRIV, 63:32 with it.
//   +192 u64 the class's part of an IOTLB entry's key word (PGTT first-stage, WPE, SRE/ERE ok, RID_PRIV).
const ROW = 256;
const ROWS: usize = memory.data(32 * ROW, 8);
const ROW_FILL = 64;
const ROW_HIT = 128;
const ROW_KW = 192;

function initTables(): void {
  for (let c: u32 = 0; c < 32; c++) {
    const withPasid = (c & 1) != 0, ridPriv = (c & 2) != 0, wpe = (c & 4) != 0, sre = (c & 8) != 0, ere = (c & 16) != 0;
    const row = ROWS + <usize>c * ROW;
    for (let f: u32 = 0; f < 8; f++) {
      const req = withPasid ? f : (f & REQ_WRITE) | (ridPriv ? REQ_PRIV : 0);
      const user = (req & REQ_PRIV) == 0;
      const write = (req & REQ_WRITE) != 0;
      store<u64>(row + (<usize>f << 3), (user ? FS_US : 0) | (write && (user || wpe) ? FS_RW : 0) |
        ((req & REQ_EXEC) != 0 ? NXINV : 0));
      const hit = row + ROW_HIT + (<usize>f << 3);
      store<u32>(hit, needsOf(withPasid ? f : f & REQ_WRITE));
      store<u32>(hit, needsOf(withPasid ? f : (f & REQ_WRITE) | REQ_PRIV), 4);
    }
    store<u64>(row + ROW_KW, keyWord(0, 0, PGTT_FS, wpe, sre, ere, ridPriv));
    for (let b: u32 = 0; b < 16; b++) {
      const raw: u32 = ((b & 1) != 0 ? RAW_FS_RW : 0) | ((b & 2) != 0 ? RAW_FS_US : 0) | ((b & 4) == 0 ? RAW_FS_NX : 0) |
        ((b & 8) != 0 ? RAW_DIRTY : 0) | RAW_SS_ALL;
      store<u32>(row + ROW_FILL + (<usize>b << 2), grantsOf(raw, wpe, sre, ere));
    }
  }
}
initTables();

// @ts-ignore: decorator
@inline function kindOf(sid: u32, pasid: u32): u64 {
  return (<u64>pasid << 16) | <u64>sid;
}

/** The PASID-cache record of a kind of request (source-id, PASID), if cached and decoded; else 0. */
// @ts-ignore: decorator
@inline function recordOf(kind: u64): usize {
  const sid = <u32>kind & 0xffff, pasid = <u32>(kind >> 16);
  const withPasid = pasid != NO_PASID;
  if (withPasid && pasid > 0xfffff) return 0; // never cached: the full path faults it
  const pc = pcLookupHinted(requestKey(sid, pasid, withPasid));
  return pc != 0 && load<u32>(pc, RB_FAST) != 0 ? pc : 0;
}

// The records a run has switched to, by kind: within one run nothing writes the PASID cache
// (only the full path does, and it ends the run), so a record found once stays good until the
// run ends. Entries: u64 kind, u32 record, u32 run generation.
const RUN_KINDS: u32 = 64;
const runKinds: usize = memory.data(RUN_KINDS * 16, 64);
let runGen: u32 = 0;

/** Start a run: the kinds remembered by earlier runs are forgotten. */
// @ts-ignore: decorator
@inline function newRun(): void {
  if (++runGen == 0) {
    memory.fill(runKinds, 0, RUN_KINDS * 16);
    runGen = 1;
  }
}

/** The record of `kind` for a switch inside a run: remembered, or looked up (and remembered). */
// @ts-ignore: decorator
@inline function runRecord(kind: u64): usize {
  const slot = runKinds + (<usize>((<u32>kind ^ <u32>(kind >> 16) ^ <u32>(kind >> 26)) & (RUN_KINDS - 1)) << 4);
  if (load<u64>(slot) == kind && load<u32>(slot, 12) == runGen) return <usize>load<u32>(slot, 8);
  const pc = recordOf(kind);
  if (pc != 0) {
    store<u64>(slot, kind);
    store<u32>(slot, <u32>pc, 8);
    store<u32>(slot, runGen, 12);
  }
  return pc;
}

/** Decode record `pc` of a kind of request for the runs. */
function decodeRecord(pc: usize, withPasid: bool): void {
  const info = load<u32>(pc, PC_INFO);
  const key = load<u64>(pc) & ~PC_VALID;
  const wpe = (info & INFO_WPE) != 0, sre = (info & INFO_SRE_OK) != 0, ere = (info & INFO_ERE_OK) != 0;
  const ridPriv = (info & INFO_RID_PRIV) != 0;
  store<u32>(pc, keyHash(key), RB_KH);
  store<u32>(pc, <u32>ROWS + ((withPasid ? 1 : 0) | (ridPriv ? 2 : 0) | (wpe ? 4 : 0) | (sre ? 8 : 0) | (ere ? 16 : 0)) * ROW,
    RB_ROW);
  store<u64>(pc, ((info & INFO_EAFE) != 0 ? FS_P | FS_A | FS_EA : FS_P | FS_A) | pteAddrRsvd, RB_M);
  store<u32>(pc, (info & INFO_L5) != 0 ? 56 : 47, RB_CANON);
  let fast: u32 = RB_DECODED;
  if ((info & INFO_L5) != 0) fast |= RB_L5;
  if ((info & INFO_FPD) != 0) fast |= RB_FPD;
  // A root table outside the first RAM region is the full path's (the runs read region 0 only).
  const root = load<u64>(pc, PC_FSROOT) - base0;
  store<u32>(pc, <u32>lin0 + <u32>root, RB_ROOT);
  if (root >= size0) {
    store<u32>(pc, fast, RB_FAST);
    return;
  }
  if ((info & INFO_PGTT) == PGTT_FS) {
    for (let f: u32 = 0; f < 8; f++) {
      const req = withPasid ? f : (f & REQ_WRITE) | (ridPriv ? REQ_PRIV : 0);
      if (((req & REQ_PRIV) == 0 || sre) && ((req & REQ_EXEC) == 0 || ere)) fast |= 1 << f;
    }
  }
  store<u32>(pc, fast, RB_FAST);
}

// The last fast walk's leaf, for an IOTLB fill.
// The last fast walk's leaf, for an IOTLB fill, at a fixed address (cheaper than globals):
// bits 3:0 its R/W, U/S, no-XD and D (the index into a row's fill words), 15:8 the page shift.
const WALK_LEAF: usize = memory.data(8, 8);

/**
 * A fault the fast walk can report itself: the full walk would raise it without writing
 * anything (the entries above already accessed, the leaf untouched on a permission fault).
 */
const FAULT: u64 = 0xfff0_0000_0000_0000; // | level << 8 | reason; outputs never have bits 63:52

/**
 * A table entry the fast walk cannot pass: its fault, if the full walk would raise it without
 * writing; else BAIL (an A or EA bit to set, or a table outside region 0). `more` is what else
 * is reserved at its level (PS at the top levels).
 */
function entryMiss(e: u64, more: u64, level: u64): u64 {
  if ((e & FS_P) == 0) return FAULT | (level << 8) | FR_FS_ENTRY_P;
  if ((e & (pteAddrRsvd | more)) != 0) return FAULT | (level << 8) | FR_FS_ENTRY_RSVD;
  return BAIL;
}

/** The permission fault of a leaf at `level`: U/S first, then write, then execute, as the full walk checks them. */
function permFault(acc: u64, accNeed: u64, level: u64): u64 {
  if ((accNeed & FS_US) != 0 && (acc & FS_US) == 0) return FAULT | (level << 8) | FR_FS_US;
  if ((accNeed & FS_RW) != 0 && (acc & FS_RW) == 0) return FAULT | (level << 8) | FR_SM_WRITE;
  return FAULT | (level << 8) | FR_SM_EXECUTE;
}

/** The leaf of a fast walk (`shift` a constant at each use): permissions, D, the output. */
// @ts-ignore: decorator
@inline function leafOut(leaf: bool, e: u64, and: u64, or: u64, accNeed: u64, dNeed: u64, iova: u64, shift: u64): u64 {
  // U/S and R/W must be set at every level, XD clear at every level: bit 63 of acc is "no XD".
  const acc = (and & (FS_US | FS_RW)) | (~or & NXINV);
  if ((acc & accNeed) != accNeed) return permFault(acc, accNeed, (shift - 3) / 9);
  if ((e & dNeed) != dNeed) return BAIL; // D to set
  const mask = (<u64>1 << shift) - 1;
  const out = (e & ADDR_MASK & ~mask) | (iova & mask);
  if ((out >> 20) == 0xfee) return FAULT | FR_SM_INTERRUPT_ADDR;
  if (leaf) {
    store<u32>(WALK_LEAF, <u32>((acc >> 1) & 3) | (<u32>(acc >> 61) & 4) | (<u32>(e >> 3) & 8) | (<u32>shift << 8));
  }
  return out;
}

const NO_TABLE: u64 = ~<u64>0;

/**
 * The linear address of the table entry `e` points to, or NO_TABLE when it lies outside region 0.
 * With `exact`, `masked` says the level's mask test already held the region's bounds (the top
 * levels, never leaves); otherwise the entry's address bits from log2(size) up must be clear.
 */
// @ts-ignore: decorator
@inline function tableOf(exact: bool, masked: bool, e: u64, rm: u64, b0: u64, s0: u64, l0: u64): u64 {
  if (exact) return masked || (e & rm) == 0 ? l0 + (e & ADDR_MASK) : NO_TABLE;
  const t = (e & ADDR_MASK) - b0;
  return t < s0 ? l0 + t : NO_TABLE;
}

/**
 * The side-effect-free first-stage walk, unrolled: the output address, a FAULT value, or BAIL
 * (the full path must take it: an A/D/EA bit to set, a table outside the first RAM region). Each
 * level is one bounds test on its table (regions are 4 KiB-granular, so a table that starts in
 * the region lies in it) and one mask test of P, A (EA) and the reserved address bits (`m` is
 * their union, `need` what must be set); PS is reserved at the top levels, so it joins their mask.
 * With `leaf`, the leaf's access bits and page shift are kept for an IOTLB fill.
 *
 * `exact` (a constant at each use): region 0 starts at guest-physical 0 and its size is a power
 * of two, so a table lies in it exactly when the address bits from log2(size) up are clear:
 * `rm` holds them, and the top levels (never leaves) test them with the same mask as P and A;
 * levels 3 and 2 test them once they know the entry is not a leaf.
 */
// @ts-ignore: decorator
@inline function fastWalk(exact: bool, leaf: bool, iova: u64, rootLin: u32, l5: bool, canonShift: u64, need: u64,
                          m: u64, rm: u64, accNeed: u64, dNeed: u64, fs1gp: bool, b0: u64, s0: u64, l0: u64): u64 {
  const top = <i64>iova >> canonShift;
  if (<u64>(top + 1) > 1) return FAULT | FR_FS_NON_CANONICAL;
  // The top levels' mask: PS is reserved there; with `exact`, the region's bounds too.
  const mTop = exact ? m | FS_PS | rm : m | FS_PS;
  // The current table's linear address; the root's was checked to lie in region 0 when the record was decoded.
  let a = <u64>rootLin;
  let e: u64;
  let and: u64 = ~<u64>0;
  let or: u64 = 0;
  if (l5) {
    e = load<u64>(<usize>(a + ((iova >> 45) & 0xff8)));
    if ((e & mTop) != need) return entryMiss(e, FS_PS, 5);
    and = e;
    or = e;
    a = tableOf(exact, true, e, rm, b0, s0, l0);
    if (a == NO_TABLE) return BAIL;
  }
  e = load<u64>(<usize>(a + ((iova >> 36) & 0xff8)));
  if ((e & mTop) != need) return entryMiss(e, FS_PS, 4);
  and &= e;
  or |= e;
  a = tableOf(exact, true, e, rm, b0, s0, l0);
  if (a == NO_TABLE) return BAIL;
  e = load<u64>(<usize>(a + ((iova >> 27) & 0xff8)));
  if ((e & m) != need) return entryMiss(e, 0, 3);
  and &= e;
  or |= e;
  if ((e & FS_PS) != 0) {
    // A 1 GiB leaf needs FS1GP; bits 29:13 are reserved.
    if (!fs1gp || (e & 0x3fff_e000) != 0) return FAULT | (3 << 8) | FR_FS_ENTRY_RSVD;
    return leafOut(leaf, e, and, or, accNeed, dNeed, iova, 30);
  }
  a = tableOf(exact, false, e, rm, b0, s0, l0);
  if (a == NO_TABLE) return BAIL;
  e = load<u64>(<usize>(a + ((iova >> 18) & 0xff8)));
  if ((e & m) != need) return entryMiss(e, 0, 2);
  and &= e;
  or |= e;
  if ((e & FS_PS) != 0) {
    // A 2 MiB leaf: bits 20:13 are reserved.
    if ((e & 0x1f_e000) != 0) return FAULT | (2 << 8) | FR_FS_ENTRY_RSVD;
    return leafOut(leaf, e, and, or, accNeed, dNeed, iova, 21);
  }
  a = tableOf(exact, false, e, rm, b0, s0, l0);
  if (a == NO_TABLE) return BAIL;
  e = load<u64>(<usize>(a + ((iova >> 9) & 0xff8)));
  if ((e & m) != need) return entryMiss(e, 0, 1); // bit 7 of a 4 KiB leaf is PAT
  return leafOut(leaf, e, and & e, or | e, accNeed, dNeed, iova, 12);
}

const LEAN_MISS: u64 = 0xffff_ffff_ffff_fffe; // never an output (bits 63:52 set), never FAULT | reason
const OUT_MASK: u64 = (<u64>1 << 52) - 1; // an output address; the lean walk's fill index sits above it

/**
 * A lean walk's entry at level 3 or 2 that failed the non-leaf mask: a 1 GiB (with FS1GP) or
 * 2 MiB leaf that grants the request, or LEAN_MISS. Only reached off the 4 KiB path.
 */
// @ts-ignore: decorator
@inline function leanLarge(e: u64, iova: u64, shift: u64, m: u64, acc: u64, need: u64, d: u64): u64 {
  // Bits 29:13 (1 GiB) or 20:13 (2 MiB) are reserved in a large leaf.
  const rsvd: u64 = shift == 30 ? 0x3fff_e000 : 0x1f_e000;
  if ((e & (m | acc | d | FS_PS | rsvd)) != (need | d | FS_PS)) return LEAN_MISS;
  if (shift == 30 && !has(CAP_FS1GP)) return LEAN_MISS;
  const mask = (<u64>1 << shift) - 1;
  const out = (e & ADDR_MASK & ~mask) | (iova & mask);
  return (out >> 20) == 0xfee ? LEAN_MISS : out;
}

/**
 * The common case in few instructions, for `exact` region 0: every level of a 4 KiB walk tested
 * with one mask that holds, besides P, A (EA) and the reserved bits, what this request needs at
 * every level (U/S, R/W, XD clear) and, at the top levels, PS clear and the region's bounds; a
 * write needs D at the leaf. It returns the output, or LEAN_MISS for anything else (a large
 * page, a fault, a bit to set), which the full fast walk then decides: whatever passes here
 * passes there with the same output.
 */
// @ts-ignore: decorator
@inline function leanWalk(leaf: bool, iova: u64, rootLin: u32, l5: bool, canonShift: u64, m: u64, acc: u64, write: u32,
                          l0: u64): u64 {
  const top = <i64>iova >> canonShift;
  if (<u64>(top + 1) > 1) return LEAN_MISS;
  const need = (m & NEED_BITS) | (acc & (FS_US | FS_RW));
  const mt = m | acc | load<u64>(REGION_MASK, 8); // PS and the region's bounds (set per batch)
  let a = <u64>rootLin;
  let e: u64;
  // With `leaf` (an IOTLB fill), what every level grants, not only what this request needs.
  let and: u64 = ~<u64>0;
  let or: u64 = 0;
  if (l5) {
    e = load<u64>(<usize>(a + ((iova >> 45) & 0xff8)));
    if ((e & mt) != need) return LEAN_MISS;
    if (leaf) { and = e; or = e; }
    a = l0 + (e & ADDR_MASK);
  }
  e = load<u64>(<usize>(a + ((iova >> 36) & 0xff8)));
  if ((e & mt) != need) return LEAN_MISS;
  if (leaf) { and &= e; or |= e; }
  const d = <u64>write << 6; // FS_D
  e = load<u64>(<usize>(l0 + (e & ADDR_MASK) + ((iova >> 27) & 0xff8)));
  if ((e & mt) != need) return leaf ? LEAN_MISS : leanLarge(e, iova, 30, m, acc, need, d);
  if (leaf) { and &= e; or |= e; }
  e = load<u64>(<usize>(l0 + (e & ADDR_MASK) + ((iova >> 18) & 0xff8)));
  if ((e & mt) != need) return leaf ? LEAN_MISS : leanLarge(e, iova, 21, m, acc, need, d);
  if (leaf) { and &= e; or |= e; }
  e = load<u64>(<usize>(l0 + (e & ADDR_MASK) + ((iova >> 9) & 0xff8)));
  if ((e & (m | acc | d)) != (need | d)) return LEAN_MISS;
  const out = (e & ADDR_MASK) | (iova & 0xfff);
  if ((out >> 20) == 0xfee) return LEAN_MISS;
  if (leaf) {
    // The fill's index into the row's fill words (R/W, U/S, no XD, D) in bits 55:52.
    and &= e;
    or |= e;
    return out | ((((and >> 1) & 3) | ((~or >> 61) & 4) | ((e >> 3) & 8)) << 52);
  }
  return out;
}

// What a faulted request also gets, outside the loops' parameters (faults are the rare case):
// its fault info byte, and its index appended to the batch's fault list.
let infoPtr: usize = 0;
let listPtr: usize = 0;
let faults: u32 = 0;

/** Record a fault for request `i`: `v` holds the reason in bits 7:0, the level in 10:8, FPD in bit 15. */
function noteFault(v: u32, i: usize, addrPtr: usize, faultPtr: usize): void {
  store<u64>(addrPtr + (i << 3), 0);
  store<u8>(faultPtr + i, <u8>v);
  if (infoPtr != 0) store<u8>(infoPtr + i, <u8>(((v >> 8) & 7) | ((v >> 8) & 0x80)));
  if (listPtr != 0) store<u32>(listPtr + (<usize>faults << 2), <u32>i);
  faults++;
}

/** Record a fast-path fault (a FAULT value) of a request of a record whose decoding is `fast`. */
// @ts-ignore: decorator
@inline function storeFault(v: u64, i: usize, addrPtr: usize, faultPtr: usize, fast: u32): void {
  noteFault((<u32>v & 0x7ff) | (fast & RB_FPD), i, addrPtr, faultPtr);
}

// @ts-ignore: decorator
@inline function kindAt(i: usize, sidPtr: usize, pasidPtr: usize): u64 {
  return kindOf(<u32>load<u16>(sidPtr + (i << 1)), load<u32>(pasidPtr + (i << 2)));
}

/** The key word of an IOTLB entry filled for record `pc`. */
// @ts-ignore: decorator
@inline function kwOf(pc: usize): u64 {
  return (load<u64>(pc) & KEY_MASK) | (<u64>load<u32>(pc, PC_DID) << 37) | load<u64>(<usize>load<u32>(pc, RB_ROW), ROW_KW);
}

/** What request flags `f` must find granted by the ANDed entries, in row `row`. */
// @ts-ignore: decorator
@inline function accNeedOf(row: usize, f: u32): u64 {
  return load<u64>(row + (<usize>f << 3));
}

/**
 * A run without IOTLB from request `i` (of the kind whose decoded record is `pc`); a request of
 * another kind switches to its record. Returns the first request it did not finish.
 */
// @ts-ignore: decorator
@inline function walkRun(exact: bool, i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize,
                         flagsPtr: usize, addrPtr: usize, faultPtr: usize): usize {
  const fs1gp = has(CAP_FS1GP);
  const b0 = base0, s0 = size0, l0 = lin0;
  let kind = kindAt(i, sidPtr, pasidPtr);
  newRun();
  for (; i < count; i++) {
    const k = kindAt(i, sidPtr, pasidPtr);
    if (k != kind) {
      pc = runRecord(k);
      if (pc == 0) break;
      kind = k;
    }
    const f = <u32>load<u8>(flagsPtr + i) & 7;
    const fast = load<u32>(pc, RB_FAST);
    if (((fast >> f) & 1) == 0) break;
    const l5 = (fast & RB_L5) != 0;
    const m = load<u64>(pc, RB_M);
    const iova = load<u64>(iovaPtr + (i << 3));
    const acc = accNeedOf(<usize>load<u32>(pc, RB_ROW), f);
    let out = exact ? leanWalk(false, iova, load<u32>(pc, RB_ROOT), l5, <u64>load<u32>(pc, RB_CANON), m, acc, f & REQ_WRITE, l0)
      : LEAN_MISS;
    if (out == LEAN_MISS) {
      out = fastWalk(exact, false, iova, load<u32>(pc, RB_ROOT), l5, <u64>load<u32>(pc, RB_CANON), m & NEED_BITS, m,
        load<u64>(REGION_MASK), acc, <u64>(f & REQ_WRITE) << 6, fs1gp, b0, s0, l0);
    }
    if (out >= FAULT) {
      if (out == BAIL) break;
      storeFault(out, i, addrPtr, faultPtr, fast);
      continue;
    }
    store<u64>(addrPtr + (i << 3), out);
    store<u8>(faultPtr + i, 0);
  }
  return i;
}

function runWalk(i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                 addrPtr: usize, faultPtr: usize): usize {
  return walkRun(false, i, count, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
}

/** The run when region 0 starts at guest-physical 0 and its size is a power of two (fastWalk's `exact`). */
function runWalkExact(i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                      addrPtr: usize, faultPtr: usize): usize {
  return walkRun(true, i, count, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
}

let runHits: u32 = 0;
let runMisses: u32 = 0;

/** The way of `set` holding `tag` for `key`, or 0. */
// @ts-ignore: decorator
@inline function findWay(set: usize, tag: u64, key: u64, ways: u32): usize {
  if (ways == 4) {
    // The usual geometry: the four tags loaded together, the way chosen without branches,
    // then one way to confirm.
    let w: usize = select<usize>(96, 128, load<u64>(set, 96) == tag);
    w = select<usize>(64, w, load<u64>(set, 64) == tag);
    w = select<usize>(32, w, load<u64>(set, 32) == tag);
    w = select<usize>(0, w, load<u64>(set) == tag);
    if (w == 128) return 0;
    if ((load<u64>(set + w, 8) & KEY_MASK) == key) return set + w;
    // else another key has this page in an earlier way: scan them all
  }
  for (let w: u32 = 0; w < ways; w++) {
    const e = set + <usize>w * 32;
    if (load<u64>(e) == tag && (load<u64>(e, 8) & KEY_MASK) == key) return e;
  }
  return 0;
}

/** The output of a cached entry if its grants allow the request (and it is not the interrupt range), else BAIL. */
// @ts-ignore: decorator
@inline function hitOut(e: usize, needs: u64, iova: u64, mask: u64): u64 {
  // needs: bits 31:0 for an entry without RID_PRIV, 63:32 with it.
  const n = <u32>(needs >> ((load<u64>(e, 8) & K_RIDPRIV) != 0 ? 32 : 0));
  if ((load<u32>(e, 28) & n) != n) return BAIL;
  const o = load<u64>(e, 16) | (iova & mask);
  return (o >> 20) == 0xfee ? BAIL : o;
}

/** A free way of `set`, or the next victim (the same choice as tlbInsert). */
// @ts-ignore: decorator
@inline function wayToFill(set: usize, ways: u32): usize {
  for (let w: u32 = 0; w < ways; w++) {
    const e = set + <usize>w * 32;
    if ((load<u64>(e) & 1) == 0) return e;
  }
  return set + <usize>nextVictim(ways) * 32;
}

/**
 * A run with the IOTLB, from request `i`: a probe of the set of each page size the IOTLB
 * holds (one set when it holds only 4 KiB pages), the grants tested with one mask; a miss
 * walks and fills (a 4 KiB page replaces the same page's entry if it was there). Returns the
 * first request it did not finish.
 */
function runIotlb(i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                  addrPtr: usize, faultPtr: usize): usize {
  const fs1gp = has(CAP_FS1GP);
  const b0 = base0, s0 = size0, l0 = lin0;
  const ways = tlbWays();
  const sizes = tlbSizesPresent(); // a fill of another size ends the run
  let kind = kindAt(i, sidPtr, pasidPtr);
  let hits: u32 = 0, misses: u32 = 0;
  newRun();
  for (; i < count; i++) {
    const k = kindAt(i, sidPtr, pasidPtr);
    if (k != kind) {
      pc = runRecord(k);
      if (pc == 0) break;
      kind = k;
    }
    const f = <u32>load<u8>(flagsPtr + i) & 7;
    const fast = load<u32>(pc, RB_FAST);
    if (((fast >> f) & 1) == 0) break;
    const key = load<u64>(pc) & ~PC_VALID;
    const kh = load<u32>(pc, RB_KH);
    const needs = load<u64>(<usize>load<u32>(pc, RB_ROW) + ROW_HIT + (<usize>f << 3));
    const iova = load<u64>(iovaPtr + (i << 3));
    const set4k = setAt(kh, iova >> 12);
    let e4k: usize = 0; // this page's 4 KiB entry, if any
    let out = BAIL;
    if (sizes <= 1) {
      e4k = findWay(set4k, (iova & ~<u64>0xfff) | 1, key, ways);
      if (e4k != 0) out = hitOut(e4k, needs, iova, 0xfff);
    } else {
      for (let code: u32 = 0; code < 3; code++) {
        if ((sizes & (1 << code)) == 0) continue;
        const shift: u64 = 12 + 9 * <u64>code;
        const mask = (<u64>1 << shift) - 1;
        const e = findWay(code == 0 ? set4k : setAt(kh, iova >> shift), (iova & ~mask) | (<u64>code << 1) | 1, key, ways);
        if (e == 0) continue;
        if (code == 0) e4k = e;
        out = hitOut(e, needs, iova, mask);
        break; // one page of one size holds this address
      }
    }
    if (out != BAIL) {
      hits++;
    } else {
      const l5 = (fast & RB_L5) != 0;
      const m = load<u64>(pc, RB_M);
      out = fastWalk(false, true, iova, load<u32>(pc, RB_ROOT), l5, <u64>load<u32>(pc, RB_CANON), m & NEED_BITS, m, 0,
        accNeedOf(<usize>load<u32>(pc, RB_ROW), f), <u64>(f & REQ_WRITE) << 6, fs1gp, b0, s0, l0);
      if (out == BAIL) break; // the full path looks the IOTLB up (and counts) itself
      misses++;
      if (out >= FAULT) {
        storeFault(out, i, addrPtr, faultPtr, fast);
        continue;
      }
      const leaf = load<u32>(WALK_LEAF);
      const raw = load<u32>(<usize>load<u32>(pc, RB_ROW) + ROW_FILL + ((leaf & 15) << 2));
      if ((leaf >> 8) == 12) {
        const fill = e4k != 0 ? e4k : wayToFill(set4k, ways);
        tlbFill4k(fill, iova, out, kwOf(pc), load<u32>(pc, PC_PASID), raw);
      } else {
        insertOther(pc, iova, out, leaf >> 8, raw);
        if (tlbSizesPresent() != sizes) {
          // A page size this run does not probe yet: finish this request, then start over.
          store<u64>(addrPtr + (i << 3), out);
          store<u8>(faultPtr + i, 0);
          i++;
          break;
        }
      }
    }
    store<u64>(addrPtr + (i << 3), out);
    store<u8>(faultPtr + i, 0);
  }
  runHits += hits;
  runMisses += misses;
  return i;
}

/** The address bits a table in region 0 has clear, when fastWalk's `exact` holds (set at each batch). */
const REGION_MASK: usize = memory.data(16, 8); // +8: PS | the bounds, the lean walk's top-level extra mask

// The IOTLB's geometry for the one-size loops, copied here at each batch: loads at fixed
// addresses hold no registers in the loops.
const TLB_CONST: usize = memory.data(8, 8);
const TC_BASE = 0; // u32 first entry
const TC_SMASK = 4; // u32 sets - 1

/** Cache a fast walk's translation of a page of shift `shift` through the general insert (any size, any geometry). */
function insertOther(pc: usize, iova: u64, out: u64, shift: u32, raw: u32): void {
  const kw = kwOf(pc);
  const info = load<u32>(pc, PC_INFO);
  tlbInsert(load<u64>(pc) & ~PC_VALID, iova, out, shift, raw & 0xff, <u32>(kw >> 37) & 0xffff, PGTT_FS,
    load<u32>(pc, PC_PASID), (info & INFO_WPE) != 0, (info & INFO_SRE_OK) != 0, (info & INFO_ERE_OK) != 0,
    (kw & K_RIDPRIV) != 0);
}

/** The way of a 4-way `set` to fill: the first free one, else the next victim (the same choice as tlbInsert). */
// @ts-ignore: decorator
@inline function victimWay(set: usize): usize {
  let w: usize = 128;
  w = select<usize>(96, w, (load<u64>(set, 96) & 1) == 0);
  w = select<usize>(64, w, (load<u64>(set, 64) & 1) == 0);
  w = select<usize>(32, w, (load<u64>(set, 32) & 1) == 0);
  w = select<usize>(0, w, (load<u64>(set) & 1) == 0);
  return set + (w != 128 ? w : <usize>nextVictim(4) << 5);
}

/**
 * The run with the IOTLB when it holds pages of one size (`code` a constant at each use) or
 * none yet, and is 4-way (the usual case): one set probed per request, its four tags at once,
 * a miss handled out of line. A walk that ends in a page of another size fills it and ends
 * the run (the general loop then probes both sizes).
 */
// @ts-ignore: decorator
@inline function iotlbRun(exact: bool, code: u32, i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize,
                          flagsPtr: usize, addrPtr: usize, faultPtr: usize): usize {
  const shift: u64 = 12 + 9 * <u64>code;
  const mask = (<u64>1 << shift) - 1;
  const start = i;
  let kind = kindAt(i, sidPtr, pasidPtr);
  newRun();
  let misses: u32 = 0;
  // The entry the last request of this kind used, and its tag: the next request of the same
  // page goes straight to it (nothing but this loop's own fills, which update these, writes
  // the IOTLB during a run).
  let lastTag: u64 = 0;
  let lastE: usize = 0;
  for (; i < count; i++) {
    const k = kindAt(i, sidPtr, pasidPtr);
    if (k != kind) {
      pc = runRecord(k);
      if (pc == 0) break;
      kind = k;
      lastTag = 0;
    }
    const f = <u32>load<u8>(flagsPtr + i) & 7;
    const fast = load<u32>(pc, RB_FAST);
    if (((fast >> f) & 1) == 0) break;
    const iova = load<u64>(iovaPtr + (i << 3));
    const tag = (iova & ~mask) | (<u64>code << 1) | 1;
    let e = lastE;
    let set: usize = 0;
    if (tag != lastTag) {
      const vpn = iova >> shift;
      set = <usize>load<u32>(TLB_CONST, TC_BASE) +
        (<usize>((<u32>vpn ^ <u32>(vpn >> 10) ^ load<u32>(pc, RB_KH)) & load<u32>(TLB_CONST, TC_SMASK)) << 7);
      e = findWay(set, tag, load<u64>(pc) & ~PC_VALID, 4);
      lastTag = e != 0 ? tag : 0;
      lastE = e;
    }
    let out = BAIL;
    if (e != 0) {
      // Grants for this request (bits 31:0 for an entry without RID_PRIV, 63:32 with it).
      const needs = load<u64>(<usize>load<u32>(pc, RB_ROW) + ROW_HIT + (<usize>f << 3));
      const n = <u32>(needs >> ((load<u64>(e, 8) & K_RIDPRIV) != 0 ? 32 : 0));
      if ((load<u32>(e, 28) & n) == n) {
        out = load<u64>(e, 16) | (iova & mask);
        // A 4 KiB entry never maps the interrupt range (the walk faults it); a large page may contain it.
        if (code != 0 && (out >> 20) == 0xfee) out = BAIL;
      }
    }
    if (out == BAIL) {
      const l5 = (fast & RB_L5) != 0;
      const m = load<u64>(pc, RB_M);
      const acc = accNeedOf(<usize>load<u32>(pc, RB_ROW), f);
      let leaf: u32;
      out = exact && code == 0
        ? leanWalk(true, iova, load<u32>(pc, RB_ROOT), l5, <u64>load<u32>(pc, RB_CANON), m, acc, f & REQ_WRITE, lin0)
        : LEAN_MISS;
      if (out != LEAN_MISS) {
        leaf = <u32>(out >> 52) | (12 << 8);
        out &= OUT_MASK;
      } else {
        out = fastWalk(exact, true, iova, load<u32>(pc, RB_ROOT), l5, <u64>load<u32>(pc, RB_CANON), m & NEED_BITS, m,
          load<u64>(REGION_MASK), acc, <u64>(f & REQ_WRITE) << 6, has(CAP_FS1GP), base0, size0, lin0);
        if (out == BAIL) break; // the full path looks the IOTLB up (and counts) itself
        if (out >= FAULT) {
          misses++;
          lastTag = 0;
          storeFault(out, i, addrPtr, faultPtr, fast);
          continue;
        }
        leaf = load<u32>(WALK_LEAF);
      }
      misses++;
      // The leaf's R/W, U/S, no-XD and D select the entry's raw word and grants.
      const raw = load<u32>(<usize>load<u32>(pc, RB_ROW) + ROW_FILL + ((leaf & 15) << 2));
      if ((leaf >> 8) != <u32>shift) {
        // A page of a size this run does not probe: cache it, finish this request, start over.
        insertOther(pc, iova, out, leaf >> 8, raw);
        store<u64>(addrPtr + (i << 3), out);
        store<u8>(faultPtr + i, 0);
        i++;
        break;
      }
      // The same page's entry is replaced (its grants did not allow this request), else a
      // free way or the next victim; the next request of this page goes straight to it.
      const fill = e != 0 ? e : victimWay(set);
      tlbFillAt(fill, code, iova & ~mask, out & ~mask, kwOf(pc), load<u32>(pc, PC_PASID), raw);
      lastTag = tag;
      lastE = fill;
    }
    store<u64>(addrPtr + (i << 3), out);
    store<u8>(faultPtr + i, 0);
  }
  runHits += <u32>(i - start) - misses;
  runMisses += misses;
  return i;
}

function runIotlb4k(i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                    addrPtr: usize, faultPtr: usize): usize {
  return iotlbRun(false, 0, i, count, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
}

function runIotlb4kExact(i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize,
                         flagsPtr: usize, addrPtr: usize, faultPtr: usize): usize {
  return iotlbRun(true, 0, i, count, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
}

function runIotlb2m(i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                    addrPtr: usize, faultPtr: usize): usize {
  return iotlbRun(false, 1, i, count, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
}

function runIotlb1g(i: usize, count: usize, pc: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                    addrPtr: usize, faultPtr: usize): usize {
  return iotlbRun(false, 2, i, count, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
}

/** The full path, kept out of line so the loops stay small. */
function slowPath(sid: u32, pasid: u32, iova: u64, flags: u32): u32 {
  return translate(sid, pasid, iova, flags);
}

/**
 * Translate `count` requests. Optional outputs (0 = none): `info` receives per faulted request
 * the fault level in bits 2:0 and FPD in bit 7, which fault recording needs; `list` the indices
 * of the faulted requests, in order (so fault recording reads the faults, not every request).
 * Returns how many faulted.
 */
export function translateBatch(count: u32, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                               addrPtr: usize, faultPtr: usize, info: usize, list: usize): u32 {
  const n = <usize>count;
  const fast = te && scalable && pcEnabled();
  const tlbOn = tlbEnabled();
  infoPtr = info;
  listPtr = list;
  // Region 0 at guest-physical 0 with a power-of-two size: table bounds are a mask (fastWalk's `exact`).
  const exact = base0 == 0 && size0 != 0 && (size0 & (size0 - 1)) == 0;
  store<u64>(REGION_MASK, exact ? ADDR_MASK & ~(size0 - 1) : 0);
  store<u64>(REGION_MASK, FS_PS | (exact ? ADDR_MASK & ~(size0 - 1) : 0), 8);
  store<u32>(TLB_CONST, <u32>tlbBase(), TC_BASE);
  store<u32>(TLB_CONST, tlbSets() - 1, TC_SMASK);
  faults = 0;
  runHits = 0;
  runMisses = 0;
  let i: usize = 0;
  while (i < n) {
    const sid = <u32>load<u16>(sidPtr + (i << 1));
    const pasid = load<u32>(pasidPtr + (i << 2));
    const flags = <u32>load<u8>(flagsPtr + i);
    const withPasid = pasid != NO_PASID;
    if (fast && (!withPasid || pasid <= 0xfffff)) {
      const pc = pcLookup(requestKey(sid, pasid, withPasid));
      if (pc != 0) {
        if (load<u32>(pc, RB_FAST) == 0) decodeRecord(pc, withPasid);
        if (((load<u32>(pc, RB_FAST) >> (flags & 7)) & 1) != 0) {
          let j: usize;
          if (!tlbOn) {
            j = exact ? runWalkExact(i, n, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr)
              : runWalk(i, n, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
          } else {
            // One page size held (or none yet) and four ways: a one-probe loop.
            const sizes = tlbSizesPresent();
            if (tlbWays() != 4 || (sizes & (sizes - 1)) != 0) {
              j = runIotlb(i, n, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
            } else if (sizes <= 1) {
              j = exact ? runIotlb4kExact(i, n, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr)
                : runIotlb4k(i, n, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
            } else {
              j = sizes == 2 ? runIotlb2m(i, n, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr)
                : runIotlb1g(i, n, pc, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr);
            }
          }
          if (j != i) {
            i = j;
            continue;
          }
        }
      }
    }
    const r = slowPath(sid, pasid, load<u64>(iovaPtr + (i << 3)), flags);
    if (r == 0) {
      store<u64>(addrPtr + (i << 3), outAddr);
      store<u8>(faultPtr + i, 0);
    } else {
      noteFault(r | (outLevel << 8) | (outFpd ? 0x8000 : 0), i, addrPtr, faultPtr);
    }
    i++;
  }
  if (tlbOn) tlbCount(<f64>runHits, <f64>runMisses);
  return faults;
}

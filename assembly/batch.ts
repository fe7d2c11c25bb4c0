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
  grantsOf, K_RIDPRIV, KEY_MASK, keyHash, keyWord, needsOf, requestKey, setAt, tlbCount, tlbEnabled, tlbFill4k,
  tlbInsert, tlbSizesPresent, tlbWays,
} from './iotlb';
import { base0, lin0, size0 } from './memory';
import { NO_PASID, PGTT_FS, REQ_EXEC, REQ_PRIV, REQ_WRITE } from './pasid';
import {
  INFO_EAFE, INFO_ERE_OK, INFO_FPD, INFO_L5, INFO_PGTT, INFO_RID_PRIV, INFO_SRE_OK, INFO_WPE,
  PC_DID, PC_FSROOT, PC_INFO, PC_PASID, PC_VALID, pcEnabled, pcLookup,
} from './pasid-cache';
import { outAddr, outFpd, outLevel, RAW_DIRTY, RAW_FS_NX, RAW_FS_RW, RAW_FS_US, RAW_SS_ALL } from './result';
import { translate } from './translate';

const BAIL: u64 = ~<u64>0;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/** Bit 63 of an entry is XD; the walk ANDs entries with it flipped, so bit 63 ends as "no XD anywhere". */
const NXINV: u64 = <u64>1 << 63;

// ---- kinds of request (source-id and PASID), decoded once per batch into a small cache ----
// The request flags (write, execute, supervisor) vary within a kind: what each of the eight
// combinations needs is decoded into the entry too. An entry is good while its batch
// generation is current and its PASID record is still in the PASID cache with the content it
// was decoded from (the full path may evict records or resolve them again).
const KC_ENTRIES: u32 = 2048;
const KC_ENTRY: usize = 256;
const KC: usize = memory.data(<i32>(KC_ENTRIES * <u32>KC_ENTRY), 64);
const KE_KIND = 0; // u64 pasid << 16 | sid
const KE_PC = 8; // u32 the PASID record
const KE_GEN = 12; // u32 generation
const KE_KEY = 16; // u64 IOTLB / PASID-cache key
const KE_ROOT = 24; // u64 FSPTPTR
const KE_TOP = 32; // u32 shift of the top level
const KE_CANON = 36; // u32 canonical shift
const KE_NEED = 40; // u64 P, A (and EA) every entry must have
const KE_USABLE = 48; // u32 bit per flags value: first stage, SRE/ERE allow it
const KE_FPD = 52; // u32 0x80 when fault processing is disabled (batch faultInfo bit 7)
const KE_KW = 56; // u64 IOTLB key word of a fill
const KE_KH = 64; // u32 IOTLB key hash
const KE_PASID = 68; // u32 effective PASID of a fill
const KE_BITS = 72; // u32 bit 0 WPE, 1 SRE ok, 2 ERE ok
const KE_INFO = 76; // u32 the record's info word, as decoded
const KE_DID = 80; // u32 the record's DID, as decoded
const KE_ACC = 128; // u64[8] per flags: U/S, R/W, no-XD the ANDed entries must grant
const KE_NEEDS = 192; // u32[8][2] per flags: IOTLB grants needed (entry without / with RID_PRIV)

let kcGen: u32 = 0;

// @ts-ignore: decorator
@inline function kindOf(sid: u32, pasid: u32): u64 {
  return (<u64>pasid << 16) | <u64>sid;
}

// @ts-ignore: decorator
@inline function kcSlot(kind: u64): usize {
  const h = (<u32>kind * 0x9e37_79b1) ^ (<u32>(kind >> 16) * 0x85eb_ca6b);
  return KC + <usize>((h >> 16) & (KC_ENTRIES - 1)) * KC_ENTRY;
}

/** The decoded kind, if cached and still good; else 0. */
// @ts-ignore: decorator
@inline function kcGet(kind: u64): usize {
  const e = kcSlot(kind);
  if (load<u64>(e, KE_KIND) != kind || load<u32>(e, KE_GEN) != kcGen) return 0;
  const pc = <usize>load<u32>(e, KE_PC);
  if (pc == 0 || load<u64>(pc) != (load<u64>(e, KE_KEY) | PC_VALID)) return 0;
  // The same record, or the same key resolved again with other content?
  return load<u64>(pc, PC_FSROOT) == load<u64>(e, KE_ROOT) && load<u32>(pc, PC_INFO) == load<u32>(e, KE_INFO) &&
    load<u32>(pc, PC_DID) == load<u32>(e, KE_DID) && load<u32>(pc, PC_PASID) == load<u32>(e, KE_PASID) ? e : 0;
}

/** Decode a kind into its cache entry (returned); its usable mask is 0 when it cannot run. */
function decodeKind(sid: u32, pasid: u32): usize {
  const withPasid = pasid != NO_PASID;
  const kind = kindOf(sid, pasid);
  const e = kcSlot(kind);
  const key = requestKey(sid, pasid, withPasid);
  store<u64>(e, kind, KE_KIND);
  store<u32>(e, kcGen, KE_GEN);
  store<u64>(e, key, KE_KEY);
  store<u32>(e, keyHash(key), KE_KH);
  store<u32>(e, 0, KE_USABLE);
  for (let f: u32 = 0; f < 8; f++) {
    store<u32>(e + KE_NEEDS + (<usize>f << 3), needsOf(withPasid ? f : f & REQ_WRITE));
    store<u32>(e + KE_NEEDS + (<usize>f << 3), needsOf(withPasid ? f : (f & REQ_WRITE) | REQ_PRIV), 4);
  }
  const pc = pcLookup(key);
  store<u32>(e, <u32>pc, KE_PC);
  if (pc == 0) return e;
  const info = load<u32>(pc, PC_INFO);
  store<u32>(e, info, KE_INFO);
  store<u32>(e, load<u32>(pc, PC_DID), KE_DID);
  const l5 = (info & INFO_L5) != 0;
  const wpe = (info & INFO_WPE) != 0, sre = (info & INFO_SRE_OK) != 0, ere = (info & INFO_ERE_OK) != 0;
  store<u64>(e, load<u64>(pc, PC_FSROOT), KE_ROOT);
  store<u32>(e, l5 ? 48 : 39, KE_TOP);
  store<u32>(e, l5 ? 56 : 47, KE_CANON);
  store<u64>(e, (info & INFO_EAFE) != 0 ? FS_P | FS_A | FS_EA : FS_P | FS_A, KE_NEED);
  store<u32>(e, (info & INFO_FPD) != 0 ? 0x80 : 0, KE_FPD);
  store<u32>(e, load<u32>(pc, PC_PASID), KE_PASID);
  store<u32>(e, (wpe ? 1 : 0) | (sre ? 2 : 0) | (ere ? 4 : 0), KE_BITS);
  store<u64>(e, keyWord(key, load<u32>(pc, PC_DID), PGTT_FS, wpe, sre, ere, (info & INFO_RID_PRIV) != 0), KE_KW);
  if ((info & INFO_PGTT) != PGTT_FS) return e;
  let usable: u32 = 0;
  for (let f: u32 = 0; f < 8; f++) {
    // A request without PASID is a read or write, privileged only through RID_PRIV (§2).
    const req = withPasid ? f : (f & REQ_WRITE) | ((info & INFO_RID_PRIV) != 0 ? REQ_PRIV : 0);
    const user = (req & REQ_PRIV) == 0;
    const write = (req & REQ_WRITE) != 0;
    if ((user || sre) && ((req & REQ_EXEC) == 0 || ere)) usable |= 1 << f;
    // U/S for a user, R/W for a write the walk would refuse without it (user, or WPE), no XD
    // for an execute.
    store<u64>(e + KE_ACC + (<usize>f << 3), (user ? FS_US : 0) | (write && (user || wpe) ? FS_RW : 0) |
      ((req & REQ_EXEC) != 0 ? NXINV : 0));
  }
  store<u32>(e, usable, KE_USABLE);
  return e;
}

// The last fast walk's leaf, for an IOTLB fill.
let walkAcc: u64 = 0;
let walkEntry: u64 = 0;
let walkShift: u64 = 12;

/**
 * A fault the fast walk can report itself: the full walk would raise it without writing
 * anything (the entries above already accessed, the leaf untouched on a permission fault).
 */
const FAULT: u64 = 0xfff0_0000_0000_0000; // | level << 8 | reason; outputs never have bits 63:52

/** A table entry the fast walk cannot pass: its fault, if the full walk would raise it without writing; else BAIL. */
function entryMiss(e: u64, rsvd: u64, level: u64): u64 {
  if ((e & FS_P) == 0) return FAULT | (level << 8) | FR_FS_ENTRY_P;
  if ((e & rsvd) != 0) return FAULT | (level << 8) | FR_FS_ENTRY_RSVD;
  return BAIL; // A (or EA) to set
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
    walkAcc = acc;
    walkEntry = e;
    walkShift = shift;
  }
  return out;
}

/**
 * The side-effect-free first-stage walk, unrolled: the output address, a FAULT value, or BAIL
 * (the full path must take it: an A/D/EA bit to set, a table outside the first RAM region). Each
 * level is one bounds test on its table (regions are 4 KiB-granular, so a table that starts in
 * the region lies in it) and one mask test of P, A (EA) and the reserved address bits (`m` is
 * their union, `need` what must be set); PS is reserved at the top levels, so it joins their mask.
 * With `leaf`, the leaf entry, the access bits and the page shift are kept for an IOTLB fill.
 */
// @ts-ignore: decorator
@inline function fastWalk(leaf: bool, iova: u64, root: u64, l5: bool, canonShift: u64, need: u64, m: u64,
                          accNeed: u64, dNeed: u64, fs1gp: bool, b0: u64, s0: u64, l0: u64): u64 {
  const top = <i64>iova >> canonShift;
  if (<u64>(top + 1) > 1) return FAULT | FR_FS_NON_CANONICAL;
  const rsvd = m & ~need;
  let t = root - b0;
  if (t >= s0) return BAIL;
  let e: u64;
  let and: u64 = ~<u64>0;
  let or: u64 = 0;
  if (l5) {
    e = load<u64>(<usize>(l0 + t + ((iova >> 45) & 0xff8)));
    if ((e & (m | FS_PS)) != need) return entryMiss(e, rsvd | FS_PS, 5);
    and = e;
    or = e;
    t = (e & ADDR_MASK) - b0;
    if (t >= s0) return BAIL;
  }
  e = load<u64>(<usize>(l0 + t + ((iova >> 36) & 0xff8)));
  if ((e & (m | FS_PS)) != need) return entryMiss(e, rsvd | FS_PS, 4);
  and &= e;
  or |= e;
  t = (e & ADDR_MASK) - b0;
  if (t >= s0) return BAIL;
  e = load<u64>(<usize>(l0 + t + ((iova >> 27) & 0xff8)));
  if ((e & m) != need) return entryMiss(e, rsvd, 3);
  and &= e;
  or |= e;
  if ((e & FS_PS) != 0) {
    // A 1 GiB leaf needs FS1GP; bits 29:13 are reserved.
    if (!fs1gp || (e & 0x3fff_e000) != 0) return FAULT | (3 << 8) | FR_FS_ENTRY_RSVD;
    return leafOut(leaf, e, and, or, accNeed, dNeed, iova, 30);
  }
  t = (e & ADDR_MASK) - b0;
  if (t >= s0) return BAIL;
  e = load<u64>(<usize>(l0 + t + ((iova >> 18) & 0xff8)));
  if ((e & m) != need) return entryMiss(e, rsvd, 2);
  and &= e;
  or |= e;
  if ((e & FS_PS) != 0) {
    // A 2 MiB leaf: bits 20:13 are reserved.
    if ((e & 0x1f_e000) != 0) return FAULT | (2 << 8) | FR_FS_ENTRY_RSVD;
    return leafOut(leaf, e, and, or, accNeed, dNeed, iova, 21);
  }
  t = (e & ADDR_MASK) - b0;
  if (t >= s0) return BAIL;
  e = load<u64>(<usize>(l0 + t + ((iova >> 9) & 0xff8)));
  if ((e & m) != need) return entryMiss(e, rsvd, 1); // bit 7 of a 4 KiB leaf is PAT
  return leafOut(leaf, e, and & e, or | e, accNeed, dNeed, iova, 12);
}

let runFaults: u32 = 0;

/** Record a fast-path fault for request `i`. */
// @ts-ignore: decorator
@inline function storeFault(v: u64, i: usize, addrPtr: usize, faultPtr: usize, infoPtr: usize, fpd: u32): void {
  store<u64>(addrPtr + (i << 3), 0);
  store<u8>(faultPtr + i, <u8>v);
  if (infoPtr != 0) store<u8>(infoPtr + i, <u8>(((v >> 8) & 7) | fpd));
  runFaults++;
}

// @ts-ignore: decorator
@inline function kindAt(i: usize, sidPtr: usize, pasidPtr: usize): u64 {
  return kindOf(<u32>load<u16>(sidPtr + (i << 1)), load<u32>(pasidPtr + (i << 2)));
}

/**
 * A run without IOTLB from request `i` (of the kind decoded at `ke`); a request of another
 * cached kind switches to it. Returns the first request it did not finish.
 */
function runWalk(i: usize, count: usize, ke: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                 addrPtr: usize, faultPtr: usize, infoPtr: usize): usize {
  const rsvd = pteAddrRsvd, fs1gp = has(CAP_FS1GP);
  const b0 = base0, s0 = size0, l0 = lin0;
  let kind = load<u64>(ke, KE_KIND);
  for (; i < count; i++) {
    const k = kindAt(i, sidPtr, pasidPtr);
    if (k != kind) {
      ke = kcGet(k);
      if (ke == 0) break;
      kind = k;
    }
    // The kind's fields are read from its entry each time (L1-resident): fewer live values.
    const f = <u32>load<u8>(flagsPtr + i) & 7;
    if (((load<u32>(ke, KE_USABLE) >> f) & 1) == 0) break;
    const out = fastWalk(false, load<u64>(iovaPtr + (i << 3)), load<u64>(ke, KE_ROOT), load<u32>(ke, KE_TOP) == 48,
      <u64>load<u32>(ke, KE_CANON), load<u64>(ke, KE_NEED), load<u64>(ke, KE_NEED) | rsvd,
      load<u64>(ke + KE_ACC + (<usize>f << 3)), <u64>(f & REQ_WRITE) << 6, fs1gp, b0, s0, l0);
    if (out >= FAULT) {
      if (out == BAIL) break;
      storeFault(out, i, addrPtr, faultPtr, infoPtr, load<u32>(ke, KE_FPD));
      continue;
    }
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
  if (ways == 4) {
    // The usual geometry: the four tags loaded together, then one way to confirm.
    const t0 = load<u64>(set), t1 = load<u64>(set, 32), t2 = load<u64>(set, 64), t3 = load<u64>(set, 96);
    const e = t0 == tag ? set : t1 == tag ? set + 32 : t2 == tag ? set + 64 : t3 == tag ? set + 96 : 0;
    if (e != 0 && (load<u64>(e, 8) & KEY_MASK) == key) return e;
    if (e == 0) return 0; // else another key has this page in an earlier way: scan them all
  }
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
function runIotlb(i: usize, count: usize, ke: usize, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                  addrPtr: usize, faultPtr: usize, infoPtr: usize): usize {
  let kind = load<u64>(ke, KE_KIND), usable = load<u32>(ke, KE_USABLE), key = load<u64>(ke, KE_KEY);
  let kh = load<u32>(ke, KE_KH), fpd = load<u32>(ke, KE_FPD), root = load<u64>(ke, KE_ROOT);
  let topShift = <u64>load<u32>(ke, KE_TOP), canonShift = <u64>load<u32>(ke, KE_CANON), need = load<u64>(ke, KE_NEED);
  const rsvd = pteAddrRsvd, fs1gp = has(CAP_FS1GP);
  const b0 = base0, s0 = size0, l0 = lin0;
  const ways = tlbWays();
  const sizes = tlbSizesPresent(); // a fill of another size ends the run
  let victim: u32 = 0;
  let hits: u32 = 0, misses: u32 = 0;
  for (; i < count; i++) {
    const k = kindAt(i, sidPtr, pasidPtr);
    if (k != kind) {
      const ne = kcGet(k);
      if (ne == 0) break;
      ke = ne;
      kind = k;
      usable = load<u32>(ke, KE_USABLE);
      key = load<u64>(ke, KE_KEY);
      kh = load<u32>(ke, KE_KH);
      fpd = load<u32>(ke, KE_FPD);
      root = load<u64>(ke, KE_ROOT);
      topShift = <u64>load<u32>(ke, KE_TOP);
      canonShift = <u64>load<u32>(ke, KE_CANON);
      need = load<u64>(ke, KE_NEED);
    }
    const f = <u32>load<u8>(flagsPtr + i) & 7;
    if (((usable >> f) & 1) == 0) break;
    const needsA = load<u32>(ke + KE_NEEDS + (<usize>f << 3)), needsB = load<u32>(ke + KE_NEEDS + (<usize>f << 3), 4);
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
      out = fastWalk(true, iova, root, topShift == 48, canonShift, need, need | rsvd,
        load<u64>(ke + KE_ACC + (<usize>f << 3)), <u64>(f & REQ_WRITE) << 6, fs1gp, b0, s0, l0);
      if (out == BAIL) break; // the full path looks the IOTLB up (and counts) itself
      misses++;
      if (out >= FAULT) {
        storeFault(out, i, addrPtr, faultPtr, infoPtr, fpd);
        continue;
      }
      const e = walkEntry, acc = walkAcc;
      const raw: u32 = ((acc & FS_US) != 0 ? RAW_FS_US : 0) | ((acc & FS_RW) != 0 ? RAW_FS_RW : 0) |
        ((acc & NXINV) == 0 ? RAW_FS_NX : 0) | ((e & FS_D) != 0 ? RAW_DIRTY : 0) | RAW_SS_ALL;
      const bits = load<u32>(ke, KE_BITS), kw = load<u64>(ke, KE_KW), effPasid = load<u32>(ke, KE_PASID);
      const wpe = (bits & 1) != 0, sre = (bits & 2) != 0, ere = (bits & 4) != 0;
      if (walkShift == 12) {
        const fill = e4k != 0 ? e4k : wayToFill(set4k, ways, victim++);
        tlbFill4k(fill, iova, out, kw, effPasid, grantsOf(raw, wpe, sre, ere));
      } else {
        tlbInsert(key, iova, out, <u32>walkShift, raw, <u32>(kw >> 37) & 0xffff, PGTT_FS, effPasid, wpe, sre, ere,
          (kw & K_RIDPRIV) != 0);
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
  kcGen++; // decoded kinds of earlier batches are stale
  runHits = 0;
  runMisses = 0;
  runFaults = 0;
  let i: usize = 0;
  while (i < n) {
    const sid = <u32>load<u16>(sidPtr + (i << 1));
    const pasid = load<u32>(pasidPtr + (i << 2));
    const flags = <u32>load<u8>(flagsPtr + i);
    if (fast && (pasid == NO_PASID || pasid <= 0xfffff)) {
      let ke = kcGet(kindOf(sid, pasid));
      if (ke == 0) ke = decodeKind(sid, pasid);
      if (((load<u32>(ke, KE_USABLE) >> (flags & 7)) & 1) != 0) {
        const j = tlbOn ? runIotlb(i, n, ke, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr, infoPtr)
          : runWalk(i, n, ke, sidPtr, pasidPtr, iovaPtr, flagsPtr, addrPtr, faultPtr, infoPtr);
        if (j != i) {
          i = j;
          continue;
        }
      }
    }
    const r = slowPath(sid, pasid, load<u64>(iovaPtr + (i << 3)), flags);
    store<u64>(addrPtr + (i << 3), r == 0 ? outAddr : 0);
    store<u8>(faultPtr + i, <u8>r);
    if (r != 0) {
      faults++;
      if (infoPtr != 0) store<u8>(infoPtr + i, <u8>(outLevel | (outFpd ? 0x80 : 0)));
    }
    i++;
  }
  if (tlbOn) tlbCount(<f64>runHits, <f64>runMisses);
  return faults + runFaults;
}

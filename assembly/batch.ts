// Struct-of-arrays batch: requests and results live in linear memory (views on the TS side),
// one call translates `count` of them. No allocation, no BigInt, no host call in the loop.
//
// The loop has a fast path for the common case of a first-stage translation: the request's
// PASID record is in the PASID cache, every entry on the walk is present, free of reserved
// bits and already accessed (and dirty, for a write), and the permissions allow the request.
// It has no side effects, so on anything else it gives up and the request takes the full path
// (translate.ts), which writes the A/D bits or raises the fault: both give the same results.
// The fast path is written for throughput: requests of the same kind as the one before reuse
// its decoded PASID record, and each level folds present, accessed and reserved into one test.

import { CAP_FS1GP, has, pteAddrRsvd, scalable, te } from './caps';
import { FS_A, FS_D, FS_EA, FS_P, FS_PS, FS_RW, FS_US } from './first-stage';
import {
  grantsOf, hitAddr, K_RIDPRIV, KEY_MASK, keyHash, keyWord, needsOf, requestKey, setAt, tlbCount, tlbEnabled, tlbFill4k,
  tlbInsert, tlbLookup, tlbSizesPresent, tlbWays,
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

/** The full path, kept out of line so the fast loop stays small. */
function slowPath(sid: u32, pasid: u32, iova: u64, flags: u32, looked: bool): u32 {
  return translate(sid, pasid, iova, flags, looked);
}

/**
 * Translate `count` requests. `infoPtr` (optional, 0 = none) receives per request the fault
 * level in bits 2:0 and FPD in bit 7, which fault recording needs.
 */
export function translateBatch(count: u32, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                               addrPtr: usize, faultPtr: usize, infoPtr: usize): u32 {
  let faults: u32 = 0;
  const fast = te && scalable && pcEnabled();
  const tlbOn = tlbEnabled();
  const b0 = base0, s0 = size0, l0 = lin0;
  const rsvd = pteAddrRsvd;
  const fs1gp = has(CAP_FS1GP);
  // The decoded kind of the previous request (sid, PASID, flags) and what it needs.
  let lastKind: u64 = BAIL;
  let pc: usize = 0;
  let key: u64 = 0;
  let usable = false; // a first-stage record the fast walk can serve
  let root: u64 = 0, topShift: u64 = 0, canonShift: u64 = 0, need: u64 = 0, accNeed: u64 = 0;
  let write = false;
  let kh: u32 = 0, needsA: u32 = 0, needsB: u32 = 0; // IOTLB: key hash, grants needed (without / with RID_PRIV)
  let kw: u64 = 0, effPasid: u32 = 0, wpe = false, sreOk = false, ereOk = false; // what a fill writes
  let victim: u32 = 0;
  let recheck = false; // the full path ran since the record was found
  const ways = tlbWays();
  let hits = 0, misses = 0; // IOTLB lookups made here, counted once at the end
  for (let i: usize = 0; i < <usize>count; i++) {
    const sid = <u32>load<u16>(sidPtr + (i << 1));
    const pasid = load<u32>(pasidPtr + (i << 2));
    const iova = load<u64>(iovaPtr + (i << 3));
    const flags = <u32>load<u8>(flagsPtr + i);
    let addr = BAIL;
    let looked = false;
    if (fast && (pasid == NO_PASID || pasid <= 0xfffff)) {
      const kind = (<u64>pasid << 32) | (<u64>flags << 16) | <u64>sid;
      // Only the full path changes the PASID cache, so the record is re-checked only after it ran.
      if (kind != lastKind || (recheck && load<u64>(pc) != (key | PC_VALID))) {
        // A new kind of request, or its record left the PASID cache: decode again.
        lastKind = kind;
        key = requestKey(sid, pasid, pasid != NO_PASID);
        kh = keyHash(key);
        needsA = needsOf(pasid != NO_PASID ? flags : flags & REQ_WRITE);
        needsB = needsOf(pasid != NO_PASID ? flags : (flags & REQ_WRITE) | REQ_PRIV);
        pc = pcLookup(key);
        recheck = false;
        usable = false;
        if (pc != 0) {
          const info = load<u32>(pc, PC_INFO);
          const req = pasid != NO_PASID ? flags & (REQ_WRITE | REQ_EXEC | REQ_PRIV)
            : (flags & REQ_WRITE) | ((info & INFO_RID_PRIV) != 0 ? REQ_PRIV : 0);
          const user = (req & REQ_PRIV) == 0;
          write = (req & REQ_WRITE) != 0;
          usable = (info & INFO_PGTT) == PGTT_FS && (user || (info & INFO_SRE_OK) != 0) &&
            ((req & REQ_EXEC) == 0 || (info & INFO_ERE_OK) != 0);
          const l5 = (info & INFO_L5) != 0;
          root = load<u64>(pc, PC_FSROOT);
          topShift = l5 ? 48 : 39;
          canonShift = l5 ? 56 : 47;
          need = (info & INFO_EAFE) != 0 ? FS_P | FS_A | FS_EA : FS_P | FS_A;
          // What the ANDed entries must grant: U/S for a user, R/W for a write the walk would
          // refuse without it (user, or WPE), no XD for an execute.
          accNeed = (user ? FS_US : 0) | (write && (user || (info & INFO_WPE) != 0) ? FS_RW : 0) |
            ((req & REQ_EXEC) != 0 ? NXINV : 0);
          wpe = (info & INFO_WPE) != 0;
          sreOk = (info & INFO_SRE_OK) != 0;
          ereOk = (info & INFO_ERE_OK) != 0;
          effPasid = load<u32>(pc, PC_PASID);
          kw = keyWord(key, load<u32>(pc, PC_DID), PGTT_FS, wpe, sreOk, ereOk, (info & INFO_RID_PRIV) != 0);
        }
      }
      let hit = false;
      let fill: usize = 0; // where a 4 KiB fill goes, when the probe saw the set
      if (tlbOn) {
        const sizes = tlbSizesPresent();
        if (sizes <= 1) {
          // Only 4 KiB entries cached: one set to probe, grants tested with one mask.
          const tag = (iova & ~<u64>0xfff) | 1;
          const set = setAt(kh, iova >> 12);
          fill = set + <usize>((victim++ & (ways - 1)) * 32);
          for (let w: u32 = 0; w < ways; w++) {
            const e = set + <usize>w * 32;
            const t = load<u64>(e);
            if ((t & 1) == 0) fill = e;
            if (t != tag) continue;
            const k = load<u64>(e, 8);
            if ((k & KEY_MASK) != key) continue;
            fill = e; // the same page: a refill replaces it rather than duplicating it
            const needs = (k & K_RIDPRIV) != 0 ? needsB : needsA;
            if ((load<u32>(e, 28) & needs) == needs) {
              const out = load<u64>(e, 16) | (iova & 0xfff);
              if ((out >> 20) != 0xfee) {
                addr = out;
                hit = true;
              }
            }
            break;
          }
        } else if (tlbLookup(key, iova, flags)) {
          addr = hitAddr;
          hit = true;
        }
      }
      if (hit) {
        hits++;
      } else if (usable) {
        looked = tlbOn;
        if (tlbOn) misses++;
        addr = BAIL;
        const top = <i64>iova >> canonShift;
        if (top == 0 || top == -1) {
          // The walk: present, accessed and no reserved address bits in one test per level.
          const m = need | rsvd;
          let table = root;
          let shift = topShift;
          let acc: u64 = FS_US | FS_RW | NXINV;
          let e: u64 = 0;
          let ok = true;
          while (true) {
            const off = table + (((iova >> shift) & 511) << 3) - b0;
            if (off >= s0) { ok = false; break; }
            e = load<u64>(<usize>(l0 + off));
            if ((e & m) != need) { ok = false; break; }
            acc &= e ^ NXINV;
            if (shift == 12) break; // bit 7 of a 4 KiB leaf is PAT
            if ((e & FS_PS) != 0) {
              // A large leaf: 2 MiB (bits 20:13 reserved) or 1 GiB with FS1GP (bits 29:13); PS above is reserved.
              if (shift == 21) ok = (e & 0x1f_e000) == 0;
              else ok = shift == 30 && fs1gp && (e & 0x3fff_e000) == 0;
              break;
            }
            table = e & ADDR_MASK;
            shift -= 9;
          }
          if (ok && (acc & accNeed) == accNeed && (!write || (e & FS_D) != 0)) {
            const mask = (<u64>1 << shift) - 1;
            const out = (e & ADDR_MASK & ~mask) | (iova & mask);
            if ((out >> 20) != 0xfee) {
              addr = out;
              if (tlbOn) {
                const raw: u32 = ((acc & FS_US) != 0 ? RAW_FS_US : 0) | ((acc & FS_RW) != 0 ? RAW_FS_RW : 0) |
                  ((acc & NXINV) == 0 ? RAW_FS_NX : 0) | ((e & FS_D) != 0 ? RAW_DIRTY : 0) | RAW_SS_ALL;
                if (fill != 0 && shift == 12) tlbFill4k(fill, iova, out, kw, effPasid, grantsOf(raw, wpe, sreOk, ereOk));
                else tlbInsert(key, iova, out, <u32>shift, raw, <u32>(kw >> 37) & 0xffff, PGTT_FS, effPasid, wpe, sreOk, ereOk,
                  (kw & K_RIDPRIV) != 0);
              }
            }
          }
        }
      } else {
        looked = tlbOn;
        if (tlbOn) misses++;
      }
    }
    if (addr != BAIL) {
      store<u64>(addrPtr + (i << 3), addr);
      store<u8>(faultPtr + i, 0);
      continue;
    }
    const r = slowPath(sid, pasid, iova, flags, looked);
    recheck = true;
    store<u64>(addrPtr + (i << 3), r == 0 ? outAddr : 0);
    store<u8>(faultPtr + i, <u8>r);
    if (r != 0) {
      faults++;
      if (infoPtr != 0) store<u8>(infoPtr + i, <u8>(outLevel | (outFpd ? 0x80 : 0)));
    }
  }
  if (tlbOn) tlbCount(<f64>hits, <f64>misses);
  return faults;
}

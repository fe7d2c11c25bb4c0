// Context cache: validated context entries (root and context checks passed) by source-id.
// Set-associative; sizes come from the host (a tiny cache forces misses in tests).
// Entry (64 bytes): +0 u32 sid | VALID, +8 the context entry (32 bytes scalable, 16 legacy).

import { pcFlush, pcInvalidateSid } from './pasid-cache';

const VALID: u32 = 0x1_0000;
const ENTRY: usize = 64;

let base: usize = 0;
let sets: u32 = 0;
let ways: u32 = 0;
let victim: u32 = 0;

export function ccConfigure(ptr: usize, nsets: u32, nways: u32): void {
  base = ptr;
  sets = nsets;
  ways = nways;
  ccFlush();
}

export function ccFlush(): void {
  if (sets != 0) memory.fill(base, 0, <usize>(sets * ways) * ENTRY);
}

// @ts-ignore: decorator
@inline function setOf(sid: u32): usize {
  return base + <usize>((((sid * 0x9e37_79b1) >> 16) & (sets - 1)) * ways) * ENTRY;
}

/** Linear address of the cached context entry of `sid`, or 0. */
export function ccLookup(sid: u32): usize {
  if (sets == 0) return 0;
  const s = setOf(sid);
  for (let w: u32 = 0; w < ways; w++) {
    const e = s + <usize>w * ENTRY;
    if (load<u32>(e) == (sid | VALID)) return e + 8;
  }
  return 0;
}

/** Cache the `bytes`-byte context entry at `src` for `sid`; returns where the copy lives. */
export function ccInsert(sid: u32, src: usize, bytes: usize): usize {
  if (sets == 0) return src;
  const s = setOf(sid);
  let e: usize = 0;
  for (let w: u32 = 0; w < ways; w++) {
    const c = s + <usize>w * ENTRY;
    if ((load<u32>(c) & VALID) == 0) {
      e = c;
      break;
    }
  }
  if (e == 0) e = s + <usize>((victim++ & (ways - 1))) * ENTRY;
  store<u32>(e, sid | VALID);
  memory.fill(e + 8, 0, 32);
  memory.copy(e + 8, src, bytes);
  return e + 8;
}

/**
 * Context-cache invalidation. gran 1: global; 2: domain-selective (legacy entries whose DID
 * matches; scalable-mode context entries carry no DID, so every scalable entry goes); 3:
 * device-selective, source-ids equal to `sid` but for the function bits FM masks
 * (FM 1: bit 2, 2: bits 2:1, 3: bits 2:0).
 */
export function ccInvalidate(gran: u32, did: u32, sid: u32, fm: u32, scalableMode: bool): void {
  const n = sets * ways;
  const fmMask: u32 = fm == 0 ? 0 : ((<u32>1 << fm) - 1) << (3 - fm);
  // The PASID cache holds what the context entry decided (pasid-cache.ts): drop it alike.
  if (gran == 1 || (gran == 2 && scalableMode)) pcFlush();
  else if (gran == 3) pcInvalidateSid(sid, fmMask);
  for (let i: u32 = 0; i < n; i++) {
    const e = base + <usize>i * ENTRY;
    const tag = load<u32>(e);
    if ((tag & VALID) == 0) continue;
    let hit = gran == 1;
    if (gran == 2) hit = scalableMode || <u32>((load<u64>(e, 16) >> 8) & 0xffff) == did;
    else if (gran == 3) hit = ((tag ^ sid) & 0xffff & ~fmMask) == 0;
    if (hit) store<u32>(e, 0);
  }
}

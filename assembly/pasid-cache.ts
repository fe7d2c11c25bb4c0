// PASID cache: validated PASID-table entries (present, reserved and PGTT checks passed) by
// (source-id, PASID), with the PASID-directory entry's FPD.
// Entry (64 bytes): +0 u64 VALID | pasid << 16 | sid, +8 q0, +16 q1, +24 q2, +32 u32 dir FPD.

const VALID: u64 = <u64>1 << 63;
const ENTRY: usize = 64;

let base: usize = 0;
let sets: u32 = 0;
let ways: u32 = 0;
let victim: u32 = 0;

export function pcConfigure(ptr: usize, nsets: u32, nways: u32): void {
  base = ptr;
  sets = nsets;
  ways = nways;
  pcFlush();
}

export function pcFlush(): void {
  if (sets != 0) memory.fill(base, 0, <usize>(sets * ways) * ENTRY);
}

// @ts-ignore: decorator
@inline function keyOf(sid: u32, pasid: u32): u64 {
  return VALID | (<u64>pasid << 16) | <u64>sid;
}

// @ts-ignore: decorator
@inline function setOf(sid: u32, pasid: u32): usize {
  const h = (sid * 0x9e37_79b1) ^ (pasid * 0x85eb_ca6b);
  return base + <usize>(((h >> 15) & (sets - 1)) * ways) * ENTRY;
}

/** Linear address of the cached entry (q0 at +8), or 0. */
export function pcLookup(sid: u32, pasid: u32): usize {
  if (sets == 0) return 0;
  const s = setOf(sid, pasid);
  const k = keyOf(sid, pasid);
  for (let w: u32 = 0; w < ways; w++) {
    const e = s + <usize>w * ENTRY;
    if (load<u64>(e) == k) return e;
  }
  return 0;
}

export function pcInsert(sid: u32, pasid: u32, q0: u64, q1: u64, q2: u64, dirFpd: bool): void {
  if (sets == 0) return;
  const s = setOf(sid, pasid);
  let e: usize = 0;
  for (let w: u32 = 0; w < ways; w++) {
    const c = s + <usize>w * ENTRY;
    if ((load<u64>(c) & VALID) == 0) {
      e = c;
      break;
    }
  }
  if (e == 0) e = s + <usize>(victim++ % ways) * ENTRY;
  store<u64>(e, keyOf(sid, pasid));
  store<u64>(e, q0, 8);
  store<u64>(e, q1, 16);
  store<u64>(e, q2, 24);
  store<u32>(e, dirFpd ? 1 : 0, 32);
}

/**
 * PASID-cache invalidation (descriptor granularities): 0 domain-selective (DID), 1
 * PASID-selective (DID and PASID), 3 global.
 */
export function pcInvalidate(gran: u32, did: u32, pasid: u32): void {
  const n = sets * ways;
  for (let i: u32 = 0; i < n; i++) {
    const e = base + <usize>i * ENTRY;
    const k = load<u64>(e);
    if ((k & VALID) == 0) continue;
    const entryDid = <u32>(load<u64>(e, 16) & 0xffff);
    let hit = gran == 3;
    if (gran == 0) hit = entryDid == did;
    else if (gran == 1) hit = entryDid == did && <u32>((k >> 16) & 0xfffff) == pasid;
    if (hit) store<u64>(e, 0);
  }
}

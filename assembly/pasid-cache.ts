// PASID cache: the decoded translation context of a (source-id, request PASID): the validated
// PASID-table entry (present, reserved, PGTT/AW/FSPM checks passed) together with what the
// context entry decided for this kind of request (PASIDE, PDTS, RID_PASID/RID_PRIV). Folding
// the context's part in means a context-cache invalidation must drop the source-id's entries
// here too, which it does (dropping more than required is always allowed).
//
// Set-associative. The tags (key | VALID) of a set sit together in a tag array, so a lookup
// reads one line of tags and then the one record it found: the batch looks a record up for
// every change of (source-id, PASID) between requests.
//
// Record (64 bytes, also used as the scratch record when the cache is off):
//   +0  u64 key (VALID | request key: sid | pasid << 16 | withPasid << 36)
//   +8  u64 FSPTPTR   +16 u64 SSPTPTR   +24 u32 effective PASID   +28 u32 DID
//   +32 u32 info (PC_* bits below)
//   +36..+63 the batch's decoding of the record (batch.ts), cleared whenever the record is written

export const PC_FSROOT: usize = 8;
export const PC_SSROOT: usize = 16;
export const PC_PASID: usize = 24;
export const PC_DID: usize = 28;
export const PC_INFO: usize = 32;
/** First byte of the batch's part; a u32 there is 0 until the batch decodes the record. */
export const PC_BATCH: usize = 36;

export const INFO_PGTT: u32 = 7; // bits 2:0
export const INFO_AW_SHIFT: u32 = 3; // bits 5:3
export const INFO_L5: u32 = 1 << 6;
export const INFO_WPE: u32 = 1 << 7;
export const INFO_EAFE: u32 = 1 << 8;
export const INFO_SRE_OK: u32 = 1 << 9;
export const INFO_ERE_OK: u32 = 1 << 10;
export const INFO_RID_PRIV: u32 = 1 << 11;
export const INFO_FPD: u32 = 1 << 12;

export const PC_VALID: u64 = <u64>1 << 63;
const VALID = PC_VALID;
const ENTRY: usize = 64;

let base: usize = 0;
let tags: usize = 0; // u64 per record, after the records
let sets: u32 = 0;
let ways: u32 = 0;
let victim: u32 = 0;
const scratch: usize = memory.data(64, 64);

export function pcEnabled(): bool {
  return sets != 0;
}

/** `ptr` holds nsets * nways records of 64 bytes, then as many u64 tags. */
export function pcConfigure(ptr: usize, nsets: u32, nways: u32): void {
  base = ptr;
  tags = ptr + <usize>(nsets * nways) * ENTRY;
  sets = nsets;
  ways = nways;
  pcFlush();
}

/** Bytes a cache of `n` entries needs (the TS side allocates them). */
export function pcBytes(n: u32): u32 {
  return n * (<u32>ENTRY + 8);
}

export function pcFlush(): void {
  if (sets != 0) memory.fill(base, 0, <usize>(sets * ways) * (ENTRY + 8));
  memory.fill(hints, 0, <usize>HINTS * 4);
}

// A direct-mapped hint in front of the set lookup, for the batch, which looks a record up at
// every change of (source-id, PASID): the record a key's slot found last time, trusted only
// if that record still holds the key (records change only by being written or dropped).
const HINTS: u32 = 4096;
const hints: usize = memory.data(HINTS * 4, 64);

/** pcLookup through the hint table. */
// @ts-ignore: decorator
@inline export function pcLookupHinted(key: u64): usize {
  const h = hints + (<usize>(((<u32>key * 0x9e37_79b1) ^ (<u32>(key >> 16) * 0x85eb_ca6b)) >> 20) << 2);
  const e = <usize>load<u32>(h);
  if (e != 0 && load<u64>(e) == (key | VALID)) return e;
  const f = pcLookup(key);
  if (f != 0) store<u32>(h, <u32>f);
  return f;
}

/** Index of the first record of `key`'s set. */
// @ts-ignore: decorator
@inline function setOf(key: u64): u32 {
  const h = (<u32>key * 0x9e37_79b1) ^ (<u32>(key >> 16) * 0x85eb_ca6b);
  return ((h ^ (h >> 15)) & (sets - 1)) * ways;
}

// @ts-ignore: decorator
@inline function record(i: u32): usize {
  return base + <usize>i * ENTRY;
}

/** The cached record for a request key, or 0. */
// @ts-ignore: decorator
@inline export function pcLookup(key: u64): usize {
  if (sets == 0) return 0;
  const i = setOf(key);
  const t = tags + (<usize>i << 3);
  const k = key | VALID;
  if (ways == 4) {
    // The usual geometry: the set's four tags loaded together, the way chosen without
    // branches (which way holds a key is as random as the keys).
    let w: u32 = select<u32>(3, 4, load<u64>(t, 24) == k);
    w = select<u32>(2, w, load<u64>(t, 16) == k);
    w = select<u32>(1, w, load<u64>(t, 8) == k);
    w = select<u32>(0, w, load<u64>(t) == k);
    return w < 4 ? record(i + w) : 0;
  }
  for (let w: u32 = 0; w < ways; w++) {
    if (load<u64>(t + (<usize>w << 3)) == k) return record(i + w);
  }
  return 0;
}

/** Where to write the record for `key`: a cache way (evicting round-robin), or the scratch record. */
export function pcSlot(key: u64): usize {
  if (sets == 0) return scratch;
  const i = setOf(key);
  for (let w: u32 = 0; w < ways; w++) {
    if ((load<u64>(tags + (<usize>(i + w) << 3)) & VALID) == 0) return record(i + w);
  }
  return record(i + (victim++ & (ways - 1)));
}

/** Remove record `e` (its tag too). */
// @ts-ignore: decorator
@inline function drop(e: usize): void {
  store<u64>(e, 0);
  store<u64>(tags + ((e - base) >> 3), 0);
}

export function pcWrite(e: usize, key: u64, fsRoot: u64, ssRoot: u64, pasid: u32, did: u32, info: u32): void {
  if (sets != 0 && e != scratch) store<u64>(tags + ((e - base) >> 3), key | VALID);
  store<u64>(e, sets == 0 ? key : key | VALID);
  store<u64>(e, fsRoot, PC_FSROOT);
  store<u64>(e, ssRoot, PC_SSROOT);
  store<u32>(e, pasid, PC_PASID);
  store<u32>(e, did, PC_DID);
  store<u32>(e, info, PC_INFO);
  store<u32>(e, 0, PC_BATCH);
}

/**
 * PASID-cache invalidation (descriptor granularities): 0 domain-selective (DID), 1
 * PASID-selective (DID and PASID), 3 global.
 */
export function pcInvalidate(gran: u32, did: u32, pasid: u32): void {
  if (gran == 3) {
    pcFlush();
    return;
  }
  const n = sets * ways;
  for (let i: u32 = 0; i < n; i++) {
    const e = base + <usize>i * ENTRY;
    if ((load<u64>(e) & VALID) == 0) continue;
    if (load<u32>(e, PC_DID) != did) continue;
    if (gran == 0 || load<u32>(e, PC_PASID) == pasid) drop(e);
  }
}

/** Drop the records of source-ids matching `sid` outside `fnMask` (context-cache device invalidation). */
export function pcInvalidateSid(sid: u32, fnMask: u32): void {
  const n = sets * ways;
  for (let i: u32 = 0; i < n; i++) {
    const e = base + <usize>i * ENTRY;
    const k = load<u64>(e);
    if ((k & VALID) != 0 && ((<u32>k ^ sid) & 0xffff & ~fnMask) == 0) drop(e);
  }
}

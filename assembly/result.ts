// The outcome of the last single translation, in linear memory so the host reads it with one
// typed-array view and no BigInt crosses the call boundary.
//   +0  u64 output address      +8  u32 page shift (12, 21, 30)
//   +12 u32 permissions (bit 0 read, 1 write, 2 execute)
//   +16 u32 level of a page-walk fault (0 = none)   +20 u32 fault reason (0 = ok)
//   +24 u32 bit 0: fault processing disabled (FPD) on some structure walked; bit 1: IOTLB hit

export const RESULT: usize = memory.data(32, 8);

export const PERM_R: u32 = 1;
export const PERM_W: u32 = 2;
export const PERM_X: u32 = 4;

export let outAddr: u64 = 0;
export let outShift: u32 = 12;
export let outPerm: u32 = 0;
export let outLevel: u32 = 0;
/** FPD seen in the context, PASID-directory or PASID entry of this request. */
export let outFpd: bool = false;
/** The request was answered from the IOTLB. */
export let outHit: bool = false;

/**
 * The raw access bits of the translation, for an IOTLB fill: hits re-evaluate permissions
 * per request (user/supervisor, WPE) exactly as the walk does.
 */
export const RAW_FS_US: u32 = 1;
export const RAW_FS_RW: u32 = 2;
export const RAW_FS_NX: u32 = 4;
export const RAW_SS_R: u32 = 8;
export const RAW_SS_W: u32 = 16;
export const RAW_SS_X: u32 = 32;
/** The first-stage leaf has D set: a write may use the entry without a walk. */
export const RAW_DIRTY: u32 = 64;
export const RAW_SS_ALL: u32 = RAW_SS_R | RAW_SS_W | RAW_SS_X;
export let outRaw: u32 = 0;

export function setFpd(v: bool): void {
  outFpd = v;
}
export function setHit(v: bool): void {
  outHit = v;
}

// @ts-ignore: decorator
@inline export function ok(addr: u64, shift: u32, perm: u32, raw: u32 = 0): u32 {
  outAddr = addr;
  outRaw = raw;
  outShift = shift;
  outPerm = perm;
  outLevel = 0;
  return 0;
}

// @ts-ignore: decorator
@inline export function fault(reason: u32, level: u32): u32 {
  outLevel = level;
  return reason;
}

export function publish(reason: u32): void {
  store<u64>(RESULT, reason == 0 ? outAddr : 0);
  store<u32>(RESULT, outShift, 8);
  store<u32>(RESULT, outPerm, 12);
  store<u32>(RESULT, reason == 0 ? 0 : outLevel, 16);
  store<u32>(RESULT, reason, 20);
  store<u32>(RESULT, (outFpd ? 1 : 0) | (outHit ? 2 : 0), 24);
}

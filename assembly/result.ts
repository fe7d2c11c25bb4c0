// The outcome of the last single translation, in linear memory so the host reads it with one
// typed-array view and no BigInt crosses the call boundary.
//   +0  u64 output address      +8  u32 page shift (12, 21, 30)
//   +12 u32 permissions (bit 0 read, 1 write, 2 execute)
//   +16 u32 level of a page-walk fault (0 = none)   +20 u32 fault reason (0 = ok)

export const RESULT: usize = memory.data(32, 8);

export const PERM_R: u32 = 1;
export const PERM_W: u32 = 2;
export const PERM_X: u32 = 4;

export let outAddr: u64 = 0;
export let outShift: u32 = 12;
export let outPerm: u32 = 0;
export let outLevel: u32 = 0;

// @ts-ignore: decorator
@inline export function ok(addr: u64, shift: u32, perm: u32): u32 {
  outAddr = addr;
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
}

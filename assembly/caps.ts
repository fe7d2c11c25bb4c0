// The unit's configuration, set once by `configure` (src/wasm/core.ts), read by every walk.
// Feature bits: same values as CapFlag in src/spec/caps.ts (checked by test/spec-sync.test.ts).

export const CAP_FSTS: u32 = 1 << 0;
export const CAP_SSTS: u32 = 1 << 1;
export const CAP_PT: u32 = 1 << 2;
export const CAP_NEST: u32 = 1 << 3;
export const CAP_FS5LP: u32 = 1 << 4;
export const CAP_FS1GP: u32 = 1 << 5;
export const CAP_SSLPS_2M: u32 = 1 << 6;
export const CAP_SSLPS_1G: u32 = 1 << 7;
export const CAP_RPS: u32 = 1 << 8;
export const CAP_ERS: u32 = 1 << 9;
export const CAP_SRS: u32 = 1 << 10;
export const CAP_DT: u32 = 1 << 11;
export const CAP_SMTS: u32 = 1 << 12;

export let capFlags: u32 = 0;
export let sagaw: u32 = 0;
export let mgaw: u32 = 48;
/** Bits 63:HAW: reserved in the pointers of root/context/PASID structures. */
export let ptrRsvd: u64 = 0;
/** Bits 51:HAW: reserved in the address field of first- and second-stage entries. */
export let pteAddrRsvd: u64 = 0;

/** Translation enable (GSTS.TES) and the root table (RTADDR with its TTM). */
export let te: bool = false;
export let scalable: bool = true;
export let rtaddr: u64 = 0;

export function setCaps(flags: u32, sagawBits: u32, mgawBits: u32, haw: u32): void {
  capFlags = flags;
  sagaw = sagawBits;
  mgaw = mgawBits;
  ptrRsvd = ~((<u64>1 << haw) - 1);
  pteAddrRsvd = ((<u64>1 << 52) - 1) & ptrRsvd;
}

export function setRoot(addr: u64, isScalable: bool, enable: bool): void {
  rtaddr = addr & ~<u64>0xfff;
  scalable = isScalable;
  te = enable;
}

// @ts-ignore: decorator
@inline export function has(flag: u32): bool {
  return (capFlags & flag) != 0;
}

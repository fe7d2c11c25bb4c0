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

/**
 * Reserved bits of a first-stage entry, indexed by (level << 1 | PS): one load per level
 * instead of a chain of tests. At level 1 bit 7 is PAT, never reserved.
 */
export const FS_RSVD: usize = memory.data(12 * 8, 8);

export function setCaps(flags: u32, sagawBits: u32, mgawBits: u32, haw: u32): void {
  capFlags = flags;
  sagaw = sagawBits;
  mgaw = mgawBits;
  ptrRsvd = ~((<u64>1 << haw) - 1);
  pteAddrRsvd = ((<u64>1 << 52) - 1) & ptrRsvd;
  const a = pteAddrRsvd;
  const PS: u64 = 0x80;
  for (let level = 0; level <= 5; level++) {
    store<u64>(FS_RSVD + (<usize>(level << 1) << 3), a);
    let big: u64 = a | PS; // PS at levels 4 and 5
    if (level == 1) big = a;
    else if (level == 2) big = a | 0x1f_e000; // 2 MiB leaf: bits 20:13
    else if (level == 3) big = (flags & CAP_FS1GP) != 0 ? a | 0x3fff_e000 : a | PS; // 1 GiB leaf: bits 29:13
    store<u64>(FS_RSVD + (<usize>((level << 1) | 1) << 3), big);
  }
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

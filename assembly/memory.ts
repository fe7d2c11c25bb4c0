// Guest RAM: up to MAX_REGIONS regions (guest-physical base, size), each backed by a span of
// this module's linear memory. Every table read goes through `lin`, so a guest-physical address
// outside every region becomes a VT-d "error accessing ..." fault, never a trap or a stray read.
// Regions and the tables in them are 4 KiB-granular (checked on the TS side), so an aligned
// entry whose first byte is in a region lies wholly inside it.

export const MAX_REGIONS: i32 = 8;

const regBase = memory.data(MAX_REGIONS * 8, 8);
const regSize = memory.data(MAX_REGIONS * 8, 8);
const regLin = memory.data(MAX_REGIONS * 8, 8);
let regCount: i32 = 0;
// Region 0 in globals: the common single-region case costs one compare.
export let base0: u64 = 0;
export let size0: u64 = 0;
export let lin0: u64 = 0;

export function setRegion(i: i32, gpa: u64, size: u64, linear: usize): void {
  if (i < 0 || i >= MAX_REGIONS) return;
  store<u64>(regBase + (<usize>i << 3), gpa);
  store<u64>(regSize + (<usize>i << 3), size);
  store<u64>(regLin + (<usize>i << 3), <u64>linear);
  if (i == 0) {
    base0 = gpa;
    size0 = size;
    lin0 = <u64>linear;
  }
}

export function setRegionCount(n: i32): void {
  regCount = n < 0 ? 0 : n > MAX_REGIONS ? MAX_REGIONS : n;
  if (regCount == 0) size0 = 0;
}

/** Linear address of guest-physical `gpa`, or 0 when it is outside guest RAM. */
// @ts-ignore: decorator
@inline export function lin(gpa: u64): usize {
  const off = gpa - base0;
  if (off < size0) return <usize>(lin0 + off);
  return linSlow(gpa);
}

export function linSlow(gpa: u64): usize {
  for (let i = 1; i < regCount; i++) {
    const k = <usize>i << 3;
    const off = gpa - load<u64>(regBase + k);
    if (off < load<u64>(regSize + k)) return <usize>(load<u64>(regLin + k) + off);
  }
  return 0;
}

// Struct-of-arrays batch: requests and results live in linear memory (views on the TS side),
// one call translates `count` of them. No allocation, no BigInt, no host call in the loop.

import { translate } from './translate';
import { outAddr, outFpd, outLevel } from './result';

/**
 * Translate `count` requests. `infoPtr` (optional, 0 = none) receives per request the fault
 * level in bits 2:0 and FPD in bit 7, which fault recording needs.
 */
export function translateBatch(count: u32, sidPtr: usize, pasidPtr: usize, iovaPtr: usize, flagsPtr: usize,
                               addrPtr: usize, faultPtr: usize, infoPtr: usize): u32 {
  let faults: u32 = 0;
  for (let i: usize = 0; i < <usize>count; i++) {
    const r = translate(<u32>load<u16>(sidPtr + (i << 1)), load<u32>(pasidPtr + (i << 2)),
                        load<u64>(iovaPtr + (i << 3)), <u32>load<u8>(flagsPtr + i));
    store<u64>(addrPtr + (i << 3), r == 0 ? outAddr : 0);
    store<u8>(faultPtr + i, <u8>r);
    if (r != 0) {
      faults++;
      if (infoPtr != 0) store<u8>(infoPtr + i, <u8>(outLevel | (outFpd ? 0x80 : 0)));
    }
  }
  return faults;
}

import type { Caps } from '../spec/caps.js';
import type { RefMemory } from './memory.js';

/** The unit's state the reference walker reads: memory, capabilities and the root registers. */
export interface RefEnv {
  mem: RefMemory;
  caps: Caps;
  /** GSTS.TES: translation enabled (§0). */
  te: boolean;
  /** RTADDR.TTM = 01b (scalable mode) rather than 00b (legacy, §9). */
  scalable: boolean;
  /** Root table address (RTADDR bits 63:12; low bits are ignored). */
  rtaddr: bigint;
}

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
  /** Called for every structure the walk reads (and every A/D update): explains a walk. */
  trace?: (step: WalkStep) => void;
}

export type WalkStructure =
  | 'root-entry' | 'context-entry' | 'pasid-dir-entry' | 'pasid-entry' | 'fs-entry' | 'ss-entry' | 'ad-update';

/** One structure read by the walk; `qwords` is undefined when the read was outside RAM. */
export interface WalkStep {
  structure: WalkStructure;
  gpa: bigint;
  qwords: bigint[] | undefined;
  /** Paging level of a first- or second-stage entry. */
  level?: number;
  /** Legacy (128-bit) root/context formats. */
  legacy?: boolean;
}

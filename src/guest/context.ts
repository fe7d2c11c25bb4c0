import { checkPtr, checkUint, GuestEncodeError, orRaw } from './errors.js';
import { writeEntry, type GuestMemoryLike } from './memory.js';

/** Scalable-mode context entry (256 bits), VT-d 9.4. Absent fields encode as 0. */
export interface ScalableContextFields {
  /** P, bit 0 (default true). */
  present?: boolean;
  /** FPD, bit 1: fault processing disable. */
  fpd?: boolean;
  /** DTE, bit 2: device-TLB enable. */
  dte?: boolean;
  /** PASIDE, bit 3: requests with PASID allowed. */
  paside?: boolean;
  /** PRE, bit 4: page requests enable. */
  pre?: boolean;
  /** PDTS, bits 11:9: the PASID directory has 2^(PDTS+7) entries. */
  pdts?: number;
  /** PASIDDIRPTR, bits 63:12. */
  pasidDirPtr: bigint;
  /** RID_PASID, bits 83:64: the PASID of requests without PASID (with ECAP.RPS). */
  ridPasid?: number;
  /** RID_PRIV, bit 84: requests without PASID are privileged (with ECAP.RPS). */
  ridPriv?: boolean;
  /** Qwords OR'd into the encoding, for tests that set reserved bits. */
  raw?: readonly bigint[];
}

const b = (on: boolean | undefined, bit: number): bigint => (on ? 1n << BigInt(bit) : 0n);

export function encodeScalableContextEntry(f: ScalableContextFields): bigint[] {
  const q0 =
    b(f.present ?? true, 0) | b(f.fpd, 1) | b(f.dte, 2) | b(f.paside, 3) | b(f.pre, 4) |
    (BigInt(checkUint('pdts', f.pdts ?? 0, 7)) << 9n) |
    checkPtr('pasidDirPtr', f.pasidDirPtr);
  const q1 = BigInt(checkUint('ridPasid', f.ridPasid ?? 0, 0xfffff)) | b(f.ridPriv, 20);
  return orRaw('scalable context entry', [q0, q1, 0n, 0n], f.raw);
}

/** Translation type of a legacy context entry (TT, bits 3:2). */
export const TT = {
  /** 00b: untranslated requests go through the second-stage table. */
  SECOND_STAGE: 0,
  /** 01b: as 00b, and translated / translation requests allowed (device-TLB). */
  DEVICE_TLB: 1,
  /** 10b: untranslated requests pass through. */
  PASS_THROUGH: 2,
} as const;

const TT_NAMES = new Map<string, number>([
  ['second-stage', TT.SECOND_STAGE],
  ['device-tlb', TT.DEVICE_TLB],
  ['pass-through', TT.PASS_THROUGH],
]);

/** Legacy-mode context entry (128 bits), VT-d 9.3. Absent fields encode as 0. */
export interface LegacyContextFields {
  /** P, bit 0 (default true). */
  present?: boolean;
  /** FPD, bit 1. */
  fpd?: boolean;
  /** TT, bits 3:2: a name or the raw 2-bit value (11b is reserved; tests may encode it). */
  tt?: 'second-stage' | 'device-tlb' | 'pass-through' | number;
  /** SSPTPTR, bits 63:12: second-stage table root. */
  ssptptr?: bigint;
  /** AW, bits 66:64: 1 = 3-level (39-bit), 2 = 4-level (48-bit), 3 = 5-level (57-bit). */
  aw?: number;
  /** DID, bits 87:72: domain id. */
  did?: number;
  raw?: readonly bigint[];
}

export function encodeLegacyContextEntry(f: LegacyContextFields): bigint[] {
  const tt = typeof f.tt === 'string' ? TT_NAMES.get(f.tt) : checkUint('tt', f.tt ?? 0, 3);
  if (tt === undefined) {
    throw new GuestEncodeError(`tt must be 'second-stage', 'device-tlb', 'pass-through' or 0..3, got '${String(f.tt)}'`);
  }
  const q0 = b(f.present ?? true, 0) | b(f.fpd, 1) | (BigInt(tt) << 2n) | checkPtr('ssptptr', f.ssptptr ?? 0n);
  const q1 = BigInt(checkUint('aw', f.aw ?? 0, 7)) | (BigInt(checkUint('did', f.did ?? 0, 0xffff)) << 8n);
  return orRaw('legacy context entry', [q0, q1], f.raw);
}

/** Scalable mode: each context table covers one half of a bus (devfn 0-127 or 128-255). */
export function scalableContextEntryAddress(ctp: bigint, devfn: number): bigint {
  checkPtr('ctp', ctp);
  return ctp + BigInt((checkUint('devfn', devfn, 255) & 0x7f) * 32);
}

export function legacyContextEntryAddress(ctp: bigint, devfn: number): bigint {
  checkPtr('ctp', ctp);
  return ctp + BigInt(checkUint('devfn', devfn, 255) * 16);
}

/** Write the context entry for `devfn` into the (lower or upper) context table at `ctp`. */
export function writeScalableContextEntry(
  mem: GuestMemoryLike, ctp: bigint, devfn: number, f: ScalableContextFields,
): bigint {
  const at = scalableContextEntryAddress(ctp, devfn);
  writeEntry(mem, at, encodeScalableContextEntry(f));
  return at;
}

export function writeLegacyContextEntry(
  mem: GuestMemoryLike, ctp: bigint, devfn: number, f: LegacyContextFields,
): bigint {
  const at = legacyContextEntryAddress(ctp, devfn);
  writeEntry(mem, at, encodeLegacyContextEntry(f));
  return at;
}

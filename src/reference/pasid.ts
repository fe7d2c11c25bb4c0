/** Contract §3-§4: PASID directory entry and PASID table entry. */
import { FaultReason as F } from '../spec/faults.js';
import type { TranslateFault } from '../types.js';
import { bit, fault, field, mask, PTR_MASK, readEntry } from './bits.js';
import type { RefEnv } from './env.js';

export const PGTT = { FIRST: 1, SECOND: 2, NESTED: 3, PASS_THROUGH: 4 } as const;

export interface PasidEntry {
  ok: true;
  pgtt: number;
  aw: number;
  ssptptr: bigint;
  fsptptr: bigint;
  levels: 4 | 5;
  sre: boolean;
  ere: boolean;
  wpe: boolean;
  eafe: boolean;
}

export function lookupPasidEntry(env: RefEnv, pasidDirPtr: bigint, pasid: number): PasidEntry | TranslateFault {
  const { caps } = env;

  // §3: 64-bit PASID directory entry.
  const dirGpa = pasidDirPtr + BigInt(pasid >> 6) * 8n;
  const dir = readEntry(env.mem, dirGpa, 1);
  env.trace?.({ structure: 'pasid-dir-entry', gpa: dirGpa, qwords: dir });
  if (!dir) return fault(F.SM_PASID_DIR_ACCESS);
  const de = dir[0]!;
  if (!bit(de, 0)) return fault(F.SM_PASID_DIR_ENTRY_P);
  if ((de & (mask(11, 2) | mask(63, caps.haw))) !== 0n) return fault(F.SM_PASID_DIR_ENTRY_RSVD);

  // §4: 512-bit PASID table entry; present is checked before anything else.
  const peGpa = (de & PTR_MASK) + BigInt(pasid & 63) * 64n;
  const pe = readEntry(env.mem, peGpa, 8);
  env.trace?.({ structure: 'pasid-entry', gpa: peGpa, qwords: pe });
  if (!pe) return fault(F.SM_PASID_ENTRY_ACCESS);
  const [q0, q1, q2] = pe as [bigint, bigint, bigint];
  if (!bit(q0, 0)) return fault(F.SM_PASID_ENTRY_P);

  const pgtt = Number(field(q0, 8, 6));
  const aw = Number(field(q0, 4, 2));
  const fspm = Number(field(q2, 3, 2));
  const usesSs = pgtt === PGTT.SECOND || pgtt === PGTT.NESTED;
  const usesFs = pgtt === PGTT.FIRST || pgtt === PGTT.NESTED;

  // Reserved; the pointer HAW bits only for the pointers this PGTT value uses.
  const hi = mask(63, caps.haw);
  if (
    (q0 & mask(11, 10)) !== 0n ||
    (q1 & mask(22, 16)) !== 0n ||
    (q2 & mask(11, 8)) !== 0n ||
    (usesSs && (q0 & hi) !== 0n) ||
    (usesFs && (q2 & hi) !== 0n)
  ) {
    return fault(F.SM_PASID_ENTRY_RSVD);
  }

  // Invalid (0x5B), in the contract's order: PGTT support, AW vs SAGAW, FSPM.
  const supported =
    (pgtt === PGTT.FIRST && caps.fsts) ||
    (pgtt === PGTT.SECOND && caps.ssts) ||
    (pgtt === PGTT.NESTED && caps.nest && caps.fsts && caps.ssts) ||
    (pgtt === PGTT.PASS_THROUGH && caps.pt);
  if (!supported) return fault(F.SM_PASID_ENTRY_INV);
  // AW 1..3 (3/4/5 levels) and advertised in SAGAW bit AW; AW 0 and 4..7 name no level count.
  if (usesSs && !(aw >= 1 && aw <= 3 && (caps.sagaw >> aw) & 1)) return fault(F.SM_PASID_ENTRY_INV);
  if (usesFs && !(fspm === 0 || (fspm === 1 && caps.fs5lp))) return fault(F.SM_PASID_ENTRY_INV);

  return {
    ok: true,
    pgtt,
    aw,
    ssptptr: q0 & PTR_MASK,
    fsptptr: q2 & PTR_MASK,
    levels: fspm === 1 ? 5 : 4,
    sre: bit(q2, 0),
    ere: bit(q2, 1),
    wpe: bit(q2, 4),
    eafe: bit(q2, 7),
  };
}

/**
 * §4 request checks for first-stage and nested: priv needs SRE (0x5D), then exec needs ERE
 * (0x5C). Without caps.srs / caps.ers the bit counts as clear. Also applied by the bare
 * first-stage walk.
 */
export function requestChecks(
  env: RefEnv,
  r: { priv: boolean; exec: boolean; sre: boolean; ere: boolean },
): TranslateFault | undefined {
  if (r.priv && !(r.sre && env.caps.srs)) return fault(F.SM_PASID_ENTRY_SRE);
  if (r.exec && !(r.ere && env.caps.ers)) return fault(F.SM_PASID_ENTRY_ERE);
  return undefined;
}

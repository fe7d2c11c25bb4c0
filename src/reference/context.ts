/** Contract §1-§2: scalable-mode root and context entries, and PASID selection. */
import { FaultReason as F } from '../spec/faults.js';
import type { TranslateFault, TranslateRequest } from '../types.js';
import { bit, fault, field, mask, PTR_MASK, readEntry } from './bits.js';
import type { RefEnv } from './env.js';

export interface ScalableContext {
  ok: true;
  pasidDirPtr: bigint;
  /** The PASID the request is translated with, and its effective priv/exec (§2). */
  pasid: number;
  priv: boolean;
  exec: boolean;
}

export function lookupContext(env: RefEnv, req: TranslateRequest): ScalableContext | TranslateFault {
  const { caps } = env;
  const bus = (req.sid >> 8) & 0xff;
  const devfn = req.sid & 0xff;

  // §1: 128-bit root entry; devfn picks the lower or upper half.
  const rootGpa = (env.rtaddr & PTR_MASK) + BigInt(bus * 16);
  const root = readEntry(env.mem, rootGpa, 2);
  env.trace?.({ structure: 'root-entry', gpa: rootGpa, qwords: root });
  if (!root) return fault(F.SM_ROOT_ENTRY_ACCESS);
  const half = devfn < 128 ? root[0]! : root[1]!;
  if (!bit(half, 0)) return fault(F.SM_ROOT_ENTRY_P);
  if ((half & (mask(11, 1) | mask(63, caps.haw))) !== 0n) return fault(F.SM_ROOT_ENTRY_RSVD);
  const ctp = half & PTR_MASK;

  // §2: 256-bit scalable-mode context entry.
  const ceGpa = ctp + BigInt((devfn & 127) * 32);
  const ce = readEntry(env.mem, ceGpa, 4);
  env.trace?.({ structure: 'context-entry', gpa: ceGpa, qwords: ce });
  if (!ce) return fault(F.SM_CONTEXT_ENTRY_ACCESS);
  const [q0, q1, q2, q3] = ce as [bigint, bigint, bigint, bigint];
  if (!bit(q0, 0)) return fault(F.SM_CONTEXT_ENTRY_P);
  // Reserved: bits 8:5, PASIDDIRPTR 63:HAW, bits 127:85, bits 255:128. RID_PASID/RID_PRIV
  // (83:64, 84) are never reserved: used with RPS, ignored without.
  if (
    (q0 & (mask(8, 5) | mask(63, caps.haw))) !== 0n ||
    (q1 & mask(63, 21)) !== 0n ||
    q2 !== 0n ||
    q3 !== 0n
  ) {
    return fault(F.SM_CONTEXT_ENTRY_RSVD);
  }
  const paside = bit(q0, 3);
  const dirEntries = 1n << (field(q0, 11, 9) + 7n); // PDTS: 2^(PDTS+7) directory entries
  const pasidDirPtr = q0 & PTR_MASK;

  if (req.pasid !== undefined) {
    if (!paside) return fault(F.SM_CONTEXT_PASIDE);
    if (BigInt(req.pasid >> 6) >= dirEntries) return fault(F.SM_PASID_BEYOND_PDTS);
    return { ok: true, pasidDirPtr, pasid: req.pasid, priv: !!req.priv, exec: !!req.exec };
  }
  // Request without PASID: RID_PASID (with RPS) or PASID 0; never an execute request.
  if (!caps.rps) return { ok: true, pasidDirPtr, pasid: 0, priv: false, exec: false };
  const ridPasid = Number(field(q1, 19, 0));
  if (BigInt(ridPasid >> 6) >= dirEntries) return fault(F.SM_RID_PASID_ERR);
  return { ok: true, pasidDirPtr, pasid: ridPasid, priv: bit(q1, 20), exec: false };
}

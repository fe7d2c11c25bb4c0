/** Contract §9: legacy mode (RTADDR.TTM = 00b): 128-bit context entries, second stage only. */
import { FaultReason as F } from '../spec/faults.js';
import type { TranslateRequest, TranslateResult } from '../types.js';
import { bit, fault, field, identity, mask, outputCheck, PTR_MASK, readEntry } from './bits.js';
import type { RefEnv } from './env.js';
import { SS_LEGACY, ssWalk } from './second-stage.js';

export function legacyTranslate(env: RefEnv, req: TranslateRequest, iova: bigint): TranslateResult {
  const { caps } = env;
  if (req.pasid !== undefined) return fault(F.SM_TTM_LEGACY_WITH_PASID);
  const bus = (req.sid >> 8) & 0xff;
  const devfn = req.sid & 0xff;

  const rootGpa = (env.rtaddr & PTR_MASK) + BigInt(bus * 16);
  const root = readEntry(env.mem, rootGpa, 2);
  env.trace?.({ structure: 'root-entry', gpa: rootGpa, qwords: root, legacy: true });
  if (!root) return fault(F.ROOT_TABLE_INV);
  const [r0, r1] = root as [bigint, bigint];
  if (!bit(r0, 0)) return fault(F.ROOT_ENTRY_P);
  if ((r0 & (mask(11, 1) | mask(63, caps.haw))) !== 0n || r1 !== 0n) return fault(F.ROOT_ENTRY_RSVD);

  const ceGpa = (r0 & PTR_MASK) + BigInt(devfn * 16);
  const ce = readEntry(env.mem, ceGpa, 2);
  env.trace?.({ structure: 'context-entry', gpa: ceGpa, qwords: ce, legacy: true });
  if (!ce) return fault(F.CONTEXT_TABLE_INV);
  const [c0, c1] = ce as [bigint, bigint];
  if (!bit(c0, 0)) return fault(F.CONTEXT_ENTRY_P);
  // Reserved: q0 11:4 and 63:HAW; q1 63:24 and bit 7 (6:3 are AVAIL).
  if ((c0 & (mask(11, 4) | mask(63, caps.haw))) !== 0n || (c1 & (mask(63, 24) | mask(7, 7))) !== 0n) {
    return fault(F.CONTEXT_ENTRY_RSVD);
  }
  const tt = Number(field(c0, 3, 2));
  const aw = Number(field(c1, 2, 0));
  const ttOk = tt === 0 || (tt === 1 && caps.dt) || (tt === 2 && caps.pt);
  if (!ttOk) return fault(F.CONTEXT_ENTRY_INV);

  if (tt === 2) {
    // Pass-through as §4, with the legacy counterpart of 0x83 (0x4).
    if ((iova & mask(63, caps.haw)) !== 0n) return fault(F.ADDR_BEYOND_MGAW);
    return outputCheck({ ...identity(iova), exec: false }, F.INTERRUPT_ADDR); // no execute without PASID
  }
  // AW is checked only when there is a second stage to walk.
  if (!(aw >= 1 && aw <= 3 && (caps.sagaw >> aw) & 1)) return fault(F.CONTEXT_ENTRY_INV);

  // Requests without PASID are non-execute (§2), so exec is off here.
  const ss = ssWalk(env, { root: c0, aw, address: iova, write: !!req.write, exec: false }, SS_LEGACY);
  if (!ss.ok) return ss;
  const res = { ok: true as const, address: ss.address, pageSize: ss.pageSize, read: ss.r, write: ss.w, exec: ss.x };
  return outputCheck(res, F.INTERRUPT_ADDR);
}

/**
 * Device DMA through what is attached (the simulation's data path):
 * - nested HWPT: the guest's stage-1 tables (a first-stage walk over guest memory with the
 *   HWPT's S1 flags and address width), then the nest parent's IOAS mapping as stage 2;
 * - paging HWPT: the IOAS mapping;
 * - nothing attached (blocked): a stage-0 fault.
 * Faults are values. Stage-1 table reads use guest memory directly (GPA-indexed), i.e. they are
 * not themselves translated through stage 2 — see the README of src/backend.
 */
import { VtdError } from '../errors.js';
import { faultName } from '../spec/faults.js';
import type { FirstStageWalkRequest, TranslateResult } from '../types.js';
import type { HwptObject } from './context.js';
import type { DeviceObject } from './device.js';
import type { IoPageTable } from './ioas.js';
import { IOMMU_NO_PASID, IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_SRE, IOMMU_VTD_S1_WPE, type DmaFault, type DmaResult } from './types.js';

/** A first-stage walker over guest memory (Vtd.firstStageWalk, or the reference walker). */
export type FirstStageWalker = (req: FirstStageWalkRequest) => TranslateResult;

const fault = (f: DmaFault): DmaResult => ({ ok: false, fault: f });

/** Stage 2: the IOAS mapping (GPA or IOVA -> host address) with its R/W permissions. */
function ioasTranslate(iopt: IoPageTable, addr: bigint, write: boolean, hwptId: number): { ok: true; address: bigint } | { ok: false; fault: DmaFault } {
  const area = iopt.lookup(addr);
  if (!area) return { ok: false, fault: { stage: 2, reason: 'not mapped', address: addr, hwptId } };
  if (write ? !area.write : !area.read) {
    return { ok: false, fault: { stage: 2, reason: write ? 'write not permitted' : 'read not permitted', address: addr, hwptId } };
  }
  return { ok: true, address: area.hostAddr + (addr - area.iova) };
}

/** The attachment a request from `dev` with `pasid` goes through, or a stage-0 fault. */
export function resolveAttachment(dev: DeviceObject, pasid: number | undefined, iova: bigint): HwptObject | DmaFault {
  const p = pasid ?? IOMMU_NO_PASID;
  if (p !== IOMMU_NO_PASID) {
    if (dev.maxPasids === 0) return { stage: 0, reason: 'no PASID capability', address: iova };
    if (p >= dev.maxPasids) return { stage: 0, reason: 'PASID out of range', address: iova };
  }
  const rec = dev.group.attach.get(p);
  if (!rec) return { stage: 0, reason: 'blocked', address: iova };
  return rec.hwpt;
}

export function translateThrough(
  hwpt: HwptObject, iova: bigint, write: boolean, priv: boolean, exec: boolean, walker: FirstStageWalker | undefined,
): DmaResult {
  if (hwpt.type === 'hwpt_paging') {
    const r = ioasTranslate(hwpt.ioas.iopt, iova, write, hwpt.id);
    return r.ok ? { ok: true, address: r.address, hwptId: hwpt.id } : r;
  }
  if (!walker) throw new VtdError('DMA through a nested HWPT needs a first-stage walker: give SimIommufd { vtd }, { firstStageWalk } or { guestMemory }');
  const s1 = hwpt.s1;
  const sre = (s1.flags & IOMMU_VTD_S1_SRE) !== 0;
  let walk: TranslateResult;
  try {
    walk = walker({
      root: s1.pgtblAddr & ~0xfffn, // pasid_set_flptr masks the low 12 bits
      levels: s1.addrWidth === 57 ? 5 : 4,
      iova,
      write,
      exec,
      priv,
      sre,
      wpe: sre && (s1.flags & IOMMU_VTD_S1_WPE) !== 0, // WPE only counts with SRE (pasid_pte_config_nestd)
      ere: false, // the nested PASID entry never sets ERE
      eafe: (s1.flags & IOMMU_VTD_S1_EAFE) !== 0,
    });
  } catch (e) {
    if (!(e instanceof VtdError)) throw e;
    return fault({ stage: 1, reason: 'walker error', address: iova, hwptId: hwpt.id });
  }
  if (!walk.ok) {
    const f: DmaFault = { stage: 1, reason: walk.fault.name || faultName(walk.fault.reason), code: walk.fault.reason, address: iova, hwptId: hwpt.id };
    if (walk.fault.level !== undefined) f.level = walk.fault.level;
    return fault(f);
  }
  const r = ioasTranslate(hwpt.parent.ioas.iopt, walk.address, write, hwpt.id);
  return r.ok ? { ok: true, address: r.address, gpa: walk.address, hwptId: hwpt.id } : r;
}

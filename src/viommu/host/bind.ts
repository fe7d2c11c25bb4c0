/**
 * BIND / UPDATE / UNBIND of one (host device, guest PASID) against the backend, with
 * unwinding (qemu-intel-iommu.md §13.3, extended to every PASID as in §13.6):
 *
 * - PGTT first-stage: a nested HWPT (VTD_S1 data: SRE/WPE/EAFE from the entry, addr_width 48
 *   or 57 from FSPM, pgtbl_addr = FSPTPTR) on the device's nest parent, attached — or
 *   replacing what is attached — on that PASID; the previous stage-1 HWPT is freed only once
 *   the new one is attached; on failure the new one is freed and the old binding stays.
 * - PGTT pass-through: the nest parent itself. Any other PGTT, or FSPTPTR = 0: an error.
 * - UNBIND: detach (blocked) while DMA remapping is on; re-attach the default stage 2 (the
 *   RID) when it is off or the guest uses legacy mode. Then free the stage-1 HWPT.
 *
 * The cached entry changes only after the backend call succeeded. Every step returns its
 * failure instead of throwing; the trace events carry QEMU's names and arguments.
 */
import { PTR_MASK } from '../../reference/bits.js';
import { PGTT } from '../../reference/pasid.js';
import { IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_SRE, IOMMU_VTD_S1_WPE, type VtdS1Data } from '../../backend/types.js';
import type { TraceFn } from '../context.js';
import { retOf, type BindFailure, type BindOp } from './errors.js';
import type { BindMode, GuestPasidEntry } from './guest-tables.js';
import type { HostIommuDevice } from './host-device.js';
import type { Stage2Pool } from './stage2-pool.js';

export interface BindContext {
  trace: TraceFn;
  pool(dev: HostIommuDevice): Stage2Pool;
}

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** The backend's pasid argument: undefined for the RID. */
const hostPasid = (pasid: number): number | undefined => (pasid === 0 ? undefined : pasid);

/** The VT-d stage-1 data QEMU's vtd_create_fs_hwpt builds from a guest PASID entry. */
export function s1DataOf(raw: readonly bigint[]): VtdS1Data {
  const q2 = raw[2]!;
  const flags = ((q2 & 1n) !== 0n ? IOMMU_VTD_S1_SRE : 0) | ((q2 & 0x10n) !== 0n ? IOMMU_VTD_S1_WPE : 0) |
    ((q2 & 0x80n) !== 0n ? IOMMU_VTD_S1_EAFE : 0);
  const fspm = Number((q2 >> 2n) & 3n);
  return { flags, pgtblAddr: q2 & PTR_MASK, addrWidth: fspm === 1 ? 57 : 48 };
}

/** attach on a free PASID, replace on an attached one (VFIO's ATTACH ioctl; SimIommufd.attach is EBUSY there). */
function attachOrReplace(dev: HostIommuDevice, pasid: number, hwptId: number): void {
  const cur = dev.attached.get(pasid);
  if (cur === hwptId) return;
  if (cur === undefined) dev.backend.attach(dev.devId, hwptId, hostPasid(pasid));
  else dev.backend.replace(dev.devId, hwptId, hostPasid(pasid));
  dev.attached.set(pasid, hwptId);
}

function freeS1(ctx: BindContext, dev: HostIommuDevice, pasid: number, id: number | undefined, failures: BindFailure[]): void {
  if (id === undefined) return;
  const e = ctx.pool(dev).destroy(id);
  if (e) failures.push({ op: 'destroy', devId: dev.devId, pasid, error: e });
}

/**
 * BIND (no cached entry) or UPDATE (a changed one): mirror the valid guest entry `g` of
 * `pasid`. Returns the failures (empty on success).
 */
export function bindEntry(ctx: BindContext, dev: HostIommuDevice, pasid: number, g: GuestPasidEntry): BindFailure[] {
  const failures: BindFailure[] = [];
  const old = dev.cache.get(pasid);
  const op: BindOp = old === undefined ? 'bind' : 'update';
  const fail = (error: unknown) => {
    failures.push({ op, devId: dev.devId, pasid, error: toError(error) });
    return failures;
  };
  const b = dev.backend;
  if (g.pgtt === PGTT.FIRST) {
    const data = s1DataOf(g.raw);
    if (data.pgtblAddr === 0n) return fail(new Error('first-stage PASID entry with FSPTPTR 0'));
    let s1: number;
    try {
      s1 = b.allocHwpt({ devId: dev.devId, ptId: dev.s2.hwptId, flags: dev.s1Flags, data });
    } catch (e) {
      return fail(e);
    }
    try {
      attachOrReplace(dev, pasid, s1);
    } catch (e) {
      ctx.trace('vtd_device_attach_hwpt', { dev_id: dev.devId, pasid, hwpt_id: s1, ret: retOf(e) });
      fail(e);
      freeS1(ctx, dev, pasid, s1, failures);
      return failures;
    }
    dev.cache.set(pasid, { entry: [...g.raw], did: g.did, kind: 'first-stage', s1HwptId: s1 });
    ctx.trace('vtd_device_attach_hwpt', { dev_id: dev.devId, pasid, hwpt_id: s1, ret: 0 });
    freeS1(ctx, dev, pasid, old?.s1HwptId, failures);
    return failures;
  }
  if (g.pgtt === PGTT.PASS_THROUGH) {
    const parent = dev.s2.hwptId;
    try {
      attachOrReplace(dev, pasid, parent);
    } catch (e) {
      ctx.trace('vtd_device_attach_hwpt', { dev_id: dev.devId, pasid, hwpt_id: parent, ret: retOf(e) });
      return fail(e);
    }
    dev.cache.set(pasid, { entry: [...g.raw], did: g.did, kind: 'pass-through' });
    ctx.trace('vtd_device_attach_hwpt', { dev_id: dev.devId, pasid, hwpt_id: parent, ret: 0 });
    freeS1(ctx, dev, pasid, old?.s1HwptId, failures);
    return failures;
  }
  return fail(new Error(`Invalid PGTT type ${g.pgtt}`));
}

/** What an unbound `pasid` has on the host in `mode`: the default stage 2 (RID, remapping off) or nothing. */
export function unboundTarget(dev: HostIommuDevice, pasid: number, mode: BindMode): number | undefined {
  return pasid === 0 && mode === 'default' ? dev.s2.hwptId : undefined;
}

/**
 * Bring an unbound `pasid` to its `mode` state: detach (blocked), or re-attach the default
 * stage 2. `op` names the step in failures ('unbind' when a binding is being dropped).
 */
function settle(ctx: BindContext, dev: HostIommuDevice, pasid: number, mode: BindMode, op: BindOp): BindFailure | undefined {
  const target = unboundTarget(dev, pasid, mode);
  const cur = dev.attached.get(pasid);
  if (cur === target) return undefined;
  if (target === undefined) {
    try {
      dev.backend.detach(dev.devId, hostPasid(pasid));
    } catch (e) {
      ctx.trace('vtd_device_detach_hwpt', { dev_id: dev.devId, pasid, ret: retOf(e) });
      return { op: op === 'unbind' ? 'unbind' : 'detach', devId: dev.devId, pasid, error: toError(e) };
    }
    dev.attached.delete(pasid);
    ctx.trace('vtd_device_detach_hwpt', { dev_id: dev.devId, pasid, ret: 0 });
    return undefined;
  }
  try {
    attachOrReplace(dev, pasid, target);
  } catch (e) {
    ctx.trace('vtd_device_reattach_def_hwpt', { dev_id: dev.devId, pasid, hwpt_id: target, ret: retOf(e) });
    return { op: op === 'unbind' ? 'unbind' : 'reattach', devId: dev.devId, pasid, error: toError(e) };
  }
  ctx.trace('vtd_device_reattach_def_hwpt', { dev_id: dev.devId, pasid, hwpt_id: target, ret: 0 });
  return undefined;
}

/** UNBIND `pasid` (a cached entry whose guest entry went away, or remapping changed): drop the binding. */
export function unbindEntry(ctx: BindContext, dev: HostIommuDevice, pasid: number, mode: BindMode): BindFailure[] {
  const old = dev.cache.get(pasid);
  if (old === undefined) return [];
  const f = settle(ctx, dev, pasid, mode, 'unbind');
  if (f) return [f];
  dev.cache.delete(pasid);
  const failures: BindFailure[] = [];
  freeS1(ctx, dev, pasid, old.s1HwptId, failures);
  return failures;
}

/** An unbound `pasid` (in practice the RID) to its `mode` state: blocked, or the default stage 2. */
export function settleUnbound(ctx: BindContext, dev: HostIommuDevice, pasid: number, mode: BindMode): BindFailure[] {
  if (dev.cache.has(pasid)) return [];
  const f = settle(ctx, dev, pasid, mode, 'detach');
  return f ? [f] : [];
}

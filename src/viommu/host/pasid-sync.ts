/**
 * PASID-cache sync and replay (qemu-intel-iommu.md §12, with every PASID as §13.6): after a
 * PASID-cache invalidation, SRTP, a TE change, a context-cache invalidation or a reset, for
 * each host device:
 *
 * 1. every cached (device, PASID) entry is checked against the guest's tables: gone or
 *    invalid -> UNBIND, before any filtering (any granularity retires every stale entry);
 *    then, past the filter (PASID-selective: that PASID; domain- and PASID-selective: the
 *    cached DID), changed in any of its 512 bits -> UPDATE; unchanged -> nothing;
 * 2. replay: the guest's PASID directory and tables are walked over the invalidated range
 *    (one PASID, or every PASID below min(PDTS, host PASIDs, vIOMMU PASIDs)) and present
 *    entries not cached yet are BOUND (domain- and PASID-selective: the entry's DID must match);
 * 3. an unbound RID gets what the unit's state says: nothing (blocked) while remapping is on
 *    in scalable mode, the default stage 2 otherwise.
 *
 * While remapping is off (or in legacy mode) no guest entry counts, so step 1 unbinds
 * everything: that is how TE off, a legacy root table and a reset re-attach the default stage 2.
 */
import type { BindFailure } from './errors.js';
import { bindEntry, settleUnbound, unbindEntry, type BindContext } from './bind.js';
import { bindMode, GuestTables, type BindUnit } from './guest-tables.js';
import type { HostIommuDevice } from './host-device.js';

/** What a PASID-cache invalidation covers (a global one for the other triggers). */
export type SyncScope =
  | { kind: 'global' }
  | { kind: 'domain'; did: number }
  | { kind: 'pasid'; did: number; pasid: number };

const sameEntry = (a: readonly bigint[], b: readonly bigint[]): boolean => a.every((q, i) => q === b[i]);

/** Sync one host device over `scope`. Returns the failures (everything else went through). */
export function syncDevice(ctx: BindContext, unit: BindUnit, dev: HostIommuDevice, scope: SyncScope): BindFailure[] {
  const failures: BindFailure[] = [];
  const mode = bindMode(unit);
  const tables = mode === 'translate' ? new GuestTables(unit, unit.root!.address) : undefined;
  const entry = (pasid: number) => (pasid < dev.pasidLimit ? tables?.entry(dev.sid, pasid) : undefined);

  // 1. existing bindings
  for (const pasid of [...dev.cache.keys()].sort((a, b) => a - b)) {
    const cached = dev.cache.get(pasid)!;
    const g = entry(pasid);
    if (g === undefined) {
      failures.push(...unbindEntry(ctx, dev, pasid, mode));
      continue;
    }
    if (scope.kind === 'pasid' && pasid !== scope.pasid) continue;
    if (scope.kind !== 'global' && cached.did !== scope.did) continue;
    if (sameEntry(cached.entry, g.raw)) continue;
    failures.push(...bindEntry(ctx, dev, pasid, g));
  }

  // 2. replay
  if (tables !== undefined) {
    const candidates = scope.kind === 'pasid' ? [scope.pasid] : tables.presentPasids(dev.sid, dev.pasidLimit);
    for (const pasid of candidates) {
      if (dev.cache.has(pasid)) continue;
      const g = entry(pasid);
      if (g === undefined) continue;
      if (scope.kind !== 'global' && g.did !== scope.did) continue;
      failures.push(...bindEntry(ctx, dev, pasid, g));
    }
  }

  // 3. the RID when unbound
  failures.push(...settleUnbound(ctx, dev, 0, mode));
  return failures;
}

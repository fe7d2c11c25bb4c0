/**
 * A guest with passthrough devices, for the bind-path tests: a vIOMMU with caching mode, a
 * SimIommufd backend walking stage 1 with the vIOMMU's WASM walker, a guest driver that
 * programs everything through mmio + QI + guest memory, and checks that compare the backend
 * with what the guest's tables say.
 */
import { expect } from 'vitest';
import {
  Fsts, GuestBuilder, Reg, SimIommufd, type Caps, type FirstStageTable, type HostDevice, type ObjectInfo, type PasidEntryFields,
  type SimDeviceOptions, type VtdOptions,
} from '../../src/index.js';
import { createUnit, GuestDriver } from './viommu-driver.js';

export const RAM_SIZE = 32n << 20n;
/** The guest driver allocates its tables here; data pages live above. */
export const TABLES = { base: 0x10_0000n, size: 15n << 20n };
export const DATA_BASE = 0x100_0000n;

export interface BindEnvOptions {
  caps?: Partial<Caps>;
  /** Host devices to register at 00:devfn (default one: 00:03.0). */
  devices?: (SimDeviceOptions & { devfn?: number; dirtyTracking?: boolean })[];
  /** Boot the guest (root table, QI, TE) before registering the devices (default true). */
  boot?: boolean;
  vtd?: VtdOptions;
  sim?: ConstructorParameters<typeof SimIommufd>[0];
}

export type BindEnv = Awaited<ReturnType<typeof bindEnv>>;

export async function bindEnv(o: BindEnvOptions = {}) {
  const u = await createUnit({
    memory: { regions: [{ base: 0n, size: RAM_SIZE }] },
    caches: false,
    ...o.vtd,
    caps: { cachingMode: true, ...o.caps },
  });
  const { vtd } = u;
  const sim = new SimIommufd({ vtd, ...o.sim });
  const guest = new GuestBuilder(vtd.memory, [TABLES]);
  const drv = new GuestDriver(vtd, guest.alloc);
  const boot = () => {
    drv.setRootTable(guest.root(), true);
    drv.enableQueue();
    expect(drv.contextCache({ granularity: 'global' })).toBe(true);
    expect(drv.pasidCache({ granularity: 'global' })).toBe(true);
    drv.enableTranslation();
  };
  if (o.boot ?? true) boot();
  const devs: HostDevice[] = [];
  for (const [i, d] of (o.devices ?? [{}]).entries()) {
    const { devfn, dirtyTracking, ...simOpts } = d;
    const devId = sim.addDevice({ pasidBits: 20, ...simOpts });
    devs.push(vtd.addHostDevice({ bus: 0, devfn: devfn ?? (3 + i) << 3, backend: sim, devId, dirtyTracking }));
  }
  let nextData = DATA_BASE;
  const env = {
    ...u, sim, guest, drv, devs, boot,
    dev: devs[0]!,
    /** A fresh 4 KiB data page (GPA). */
    page(): bigint {
      const p = nextData;
      nextData += 0x1000n;
      return p;
    },
    /** The host address of a GPA (the default RAM map: where the region lives in linear memory). */
    hpa(gpa: bigint): bigint {
      const lin = vtd.memory.linearOf(gpa, 1);
      if (lin === undefined) throw new Error(`0x${gpa.toString(16)} is not RAM`);
      return BigInt(lin);
    },
    /** A first-stage table mapping `iova` -> a fresh page each; returns the table and the pages. */
    table(iovas: bigint[] = [0x40_0000n], levels: 4 | 5 = 4): { pt: FirstStageTable; pages: bigint[] } {
      const pt = guest.firstStage({ levels });
      const pages = iovas.map((iova) => {
        const p = env.page();
        pt.map(iova, p);
        return p;
      });
      return { pt, pages };
    },
    /** Context entry for a host device (PASIDE on, PDTS as given). */
    context(d: HostDevice = devs[0]!, pdts = 0, extra: { paside?: boolean; present?: boolean } = {}) {
      return guest.scalableDevice(d.sid, { pdts, ...extra });
    },
    pasid(d: HostDevice, pasid: number, f: PasidEntryFields): bigint {
      return guest.pasidEntry(d.sid, pasid, f);
    },
    /** Clear a PASID entry entirely (P = 0 and everything else). */
    clear(d: HostDevice, pasid: number): void {
      const at = guest.pasidEntry(d.sid, pasid, { pgtt: 0, present: false });
      vtd.memory.fill(at, 64, 0);
    },
    iqe(): boolean {
      return (drv.rd32(Reg.FSTS) & Fsts.IQE) !== 0;
    },
    /** Clear FSTS.IQE: the unit resumes at IQH, re-running the failed descriptor. */
    clearIqe(): void {
      drv.wr32(Reg.FSTS, Fsts.IQE);
    },
    /** Backend objects by type. */
    objects(type?: ObjectInfo['type']): ObjectInfo[] {
      return sim.objects().filter((x) => type === undefined || x.type === type);
    },
    nested(id: number | undefined): ObjectInfo | undefined {
      return id === undefined ? undefined : sim.objects().find((x) => x.id === id && x.type === 'hwpt_nested');
    },
    traceNames(): string[] {
      return u.traces.map((t) => t.name);
    },
  };
  return env;
}

/**
 * What the guest's tables say for (device, PASID), by the contract: the vIOMMU's translation
 * of a probe IOVA. Compared with what the backend does with the same DMA.
 */
export function expectSameDma(env: BindEnv, d: HostDevice, pasid: number, iova: bigint, write = false): void {
  const v = env.vtd.translate({ sid: d.sid, pasid: pasid === 0 ? undefined : pasid, iova, write });
  const h = env.sim.dma(d.devId, pasid === 0 ? undefined : pasid, iova, write ? 'w' : 'r');
  if (v.ok) {
    expect(h, `pasid ${pasid} iova 0x${iova.toString(16)}`).toMatchObject({ ok: true, address: env.hpa(v.address) });
  } else {
    expect(h.ok, `pasid ${pasid} iova 0x${iova.toString(16)}: vIOMMU faults 0x${v.fault.reason.toString(16)}`).toBe(false);
  }
}

/**
 * The backend does what the guest's tables say, for every host device, the given PASIDs and
 * probe IOVAs: the same DMA result as the vIOMMU's translation; and where the vIOMMU faults on
 * the context or PASID entry (or remapping is on with a bad root), nothing is attached.
 */
export function expectMatchesGuest(env: BindEnv, pasids: readonly number[], iovas: readonly bigint[]): void {
  for (const d of env.vtd.hostDevices()) {
    for (const pasid of pasids) {
      if (pasid >= d.pasidLimit) {
        // The device cannot emit it (or the vIOMMU has fewer PASIDs): never bound.
        expect(env.sim.attachedHwpt(d.devId, pasid), `device ${d.devId} pasid ${pasid}`).toBeUndefined();
        continue;
      }
      if (pasid !== 0 && env.vtd.host.mode === 'default') {
        // Remapping off: the vIOMMU passes requests-with-PASID through, the host blocks them (README).
        expect(env.sim.attachedHwpt(d.devId, pasid), `device ${d.devId} pasid ${pasid}`).toBeUndefined();
        continue;
      }
      for (const iova of iovas) expectSameDma(env, d, pasid, iova);
      const v = env.vtd.translate({ sid: d.sid, pasid: pasid === 0 ? undefined : pasid, iova: iovas[0]! });
      if (!v.ok && v.fault.reason < 0x70) expect(env.sim.attachedHwpt(d.devId, pasid), `device ${d.devId} pasid ${pasid}`).toBeUndefined();
      const h = env.sim.attachedHwpt(d.devId, pasid);
      const info = env.sim.objects().find((o) => o.id === h);
      if (info?.type === 'hwpt_nested') expect(info.parent).toBe(d.stage2.hwptId);
    }
  }
}

/**
 * The backend holds exactly: the devices, the stage-2 IOASes and nest parents the host devices
 * use, one nested HWPT per first-stage binding; every attachment is the bind path's; the
 * backend's own consistency check passes; no destroy is pending.
 */
export function expectNoLeaks(env: BindEnv, options: { allowPending?: boolean } = {}): void {
  const { sim, vtd } = env;
  expect(sim.checkConsistency()).toEqual([]);
  const pending = vtd.host.pendingDestroys().flatMap((p) => p.ids);
  if (!options.allowPending) expect(pending).toEqual([]);
  const devices = vtd.hostDevices();
  const want = new Set<number>(pending);
  for (const d of devices) {
    want.add(d.stage2.hwptId).add(d.stage2.ioasId);
    for (const { pasid, binding } of d.bindings()) {
      if (binding.s1HwptId !== undefined) want.add(binding.s1HwptId);
      // a cached entry is what is attached
      expect(d.attachment(pasid), `device ${d.devId} pasid ${pasid}`).toBe(binding.s1HwptId ?? d.stage2.hwptId);
    }
  }
  const have = sim.objects().filter((o) => o.type !== 'device');
  expect(have.map((o) => o.id).sort((a, b) => a - b)).toEqual([...want].sort((a, b) => a - b));
  for (const d of devices) {
    const attached = sim.objects().find((o) => o.id === d.devId)!.attached!;
    const mine = [...new Set([0, ...d.bindings().map((b) => b.pasid)])]
      .filter((p) => d.attachment(p) !== undefined)
      .map((p) => ({ pasid: p, hwptId: d.attachment(p)! }));
    expect(attached).toEqual(mine);
  }
}

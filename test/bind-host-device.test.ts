/**
 * Host IOMMU devices: what registration checks (each refusal a typed error that leaves the
 * backend as it was), the default stage 2 it makes (a nest-parent HWPT over an IOAS mapping
 * all guest RAM), sharing of stage 2 between compatible devices with refcounted teardown, and
 * the guest RAM map.
 */
import { describe, expect, it } from 'vitest';
import {
  BACKEND_OPS, DRIVER_POINTS, HostDeviceError, IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, SimIommufd, VtdArgumentError, type FaultInjectPoint, type IommufdBackend,
} from '../src/index.js';
import { bindEnv, expectNoLeaks, expectSameDma, RAM_SIZE } from './support/bind-env.js';

const NP_PASID = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID;

async function refusal(o: Parameters<typeof bindEnv>[0], devOpts: Parameters<SimIommufd['addDevice']>[0] = {}, extra: object = {}) {
  const env = await bindEnv({ ...o, devices: [] });
  const devId = env.sim.addDevice(devOpts);
  const before = env.sim.state();
  let err: unknown;
  try {
    env.vtd.addHostDevice({ bus: 0, devfn: 0x18, backend: env.sim, devId, ...extra });
  } catch (e) {
    err = e;
  }
  expect(env.sim.state()).toEqual(before);
  expect(env.vtd.hostDevices()).toEqual([]);
  return err as HostDeviceError;
}

describe('registration checks', () => {
  it('refuses a vIOMMU without caching mode', async () => {
    const e = await refusal({ caps: { cachingMode: false } });
    expect(e).toBeInstanceOf(HostDeviceError);
    expect(e.code).toBe('no-caching-mode');
  });

  it('refuses a vIOMMU without scalable-mode first stage', async () => {
    expect((await refusal({ caps: { fsts: false } })).code).toBe('no-first-stage');
  });

  it('refuses a vIOMMU with RID_PASID', async () => {
    expect((await refusal({ caps: { rps: true } })).code).toBe('rid-pasid');
  });

  it('refuses a backend that is not iommufd-type', async () => {
    const env = await bindEnv({ devices: [] });
    const container = { attach() {}, detach() {} } as unknown as IommufdBackend;
    expect(() => env.vtd.addHostDevice({ bus: 0, devfn: 8, backend: container, devId: 1 })).toThrow(
      expect.objectContaining({ code: 'not-iommufd' }),
    );
  });

  it('refuses a host IOMMU that is not VT-d', async () => {
    const env = await bindEnv({ devices: [] });
    const devId = env.sim.addDevice();
    const other = Object.create(env.sim, {
      getHwInfo: { value: (id: number) => ({ ...env.sim.getHwInfo(id), type: IOMMU_HW_INFO_TYPE_DEFAULT }) },
    }) as SimIommufd;
    expect(() => env.vtd.addHostDevice({ bus: 0, devfn: 8, backend: other, devId })).toThrow(expect.objectContaining({ code: 'not-iommufd' }));
  });

  it('refuses an unknown backend device id with the backend\'s errno', async () => {
    const env = await bindEnv({ devices: [] });
    let e: HostDeviceError | undefined;
    try {
      env.vtd.addHostDevice({ bus: 0, devfn: 8, backend: env.sim, devId: 77 });
    } catch (x) {
      e = x as HostDeviceError;
    }
    expect(e).toMatchObject({ code: 'backend', errno: 'ENOENT' });
  });

  it('refuses a host address width below the vIOMMU\'s', async () => {
    expect((await refusal({}, { hwInfo: { mgaw: 39, sagaw: 0b10 } })).code).toBe('host-address-width');
    expect((await refusal({ caps: { haw: 46, mgaw: 46 } }, { hwInfo: { mgaw: 45 } })).code).toBe('host-address-width');
  });

  it('needs host FS1GP only when the vIOMMU advertises FS1GP', async () => {
    expect((await refusal({}, { hwInfo: { fs1gp: false } })).code).toBe('host-fs1gp');
    const env = await bindEnv({ caps: { fs1gp: false }, devices: [{ hwInfo: { fs1gp: false } }] });
    expect(env.vtd.hostDevices()).toHaveLength(1);
  });

  it('needs host 5-level first stage only when the vIOMMU advertises it', async () => {
    expect((await refusal({}, { hwInfo: { fl5lp: false } })).code).toBe('host-fs5lp');
    const env = await bindEnv({ caps: { fs5lp: false }, devices: [{ hwInfo: { fl5lp: false } }] });
    expect(env.vtd.hostDevices()).toHaveLength(1);
  });

  it('refuses a device behind a PCI bridge', async () => {
    expect((await refusal({}, {}, { behindBridge: true })).code).toBe('behind-bridge');
  });

  it('refuses a second device at the same bus:devfn or with the same backend device id', async () => {
    const env = await bindEnv();
    const other = env.sim.addDevice();
    expect(() => env.vtd.addHostDevice({ bus: 0, devfn: env.dev.devfn, backend: env.sim, devId: other })).toThrow(
      expect.objectContaining({ code: 'duplicate' }),
    );
    expect(() => env.vtd.addHostDevice({ bus: 0, devfn: 0x50, backend: env.sim, devId: env.dev.devId })).toThrow(
      expect.objectContaining({ code: 'duplicate' }),
    );
    expect(() => env.vtd.removeHostDevice({ bus: 1, devfn: 0 })).toThrow(expect.objectContaining({ code: 'not-registered' }));
  });

  it('rejects malformed arguments with VtdArgumentError', async () => {
    const env = await bindEnv({ devices: [] });
    expect(() => env.vtd.addHostDevice({ bus: 256, devfn: 0, backend: env.sim, devId: 1 })).toThrow(VtdArgumentError);
    expect(() => env.vtd.addHostDevice({ bus: 0, devfn: 0.5, backend: env.sim, devId: 1 })).toThrow(VtdArgumentError);
  });

  it.each([...BACKEND_OPS.filter((o) => ['getHwInfo', 'allocIoas', 'ioasMap', 'allocHwpt', 'attach'].includes(o)), ...DRIVER_POINTS])(
    'a registration whose %s fails undoes everything it made',
    async (point) => {
      const env = await bindEnv({ devices: [] });
      const devId = env.sim.addDevice();
      const before = env.sim.state();
      env.sim.injectFault(point as FaultInjectPoint, 'ENOMEM');
      expect(() => env.vtd.addHostDevice({ bus: 0, devfn: 8, backend: env.sim, devId })).toThrow(expect.objectContaining({ code: 'backend' }));
      expect(env.sim.state()).toEqual(before);
      expect(env.vtd.host.pendingDestroys()).toEqual([]);
      env.sim.injectFault(point as FaultInjectPoint, 'ENOMEM', 0);
      env.vtd.addHostDevice({ bus: 0, devfn: 8, backend: env.sim, devId });
      expectNoLeaks(env);
    },
  );
});

describe('the default stage 2', () => {
  it('is a NEST_PARENT | ALLOC_PASID HWPT on an IOAS mapping all guest RAM, attached to the RID', async () => {
    const env = await bindEnv({ boot: false });
    const { dev, sim } = env;
    expect(dev.stage2.flags).toBe(NP_PASID);
    expect(env.objects().find((o) => o.id === dev.stage2.hwptId)).toMatchObject({
      type: 'hwpt_paging', parent: dev.stage2.ioasId, flags: NP_PASID, stage: 'second',
    });
    expect(sim.ioasMappings(dev.stage2.ioasId)).toEqual([
      { iova: 0n, last: RAM_SIZE - 1n, hostAddr: BigInt(env.vtd.memory.regions[0]!.linear), read: true, write: true },
    ]);
    expect(sim.attachedHwpt(dev.devId)).toBe(dev.stage2.hwptId);
    // Remapping off: DMA is GPA identity, like the vIOMMU's.
    const gpa = env.page();
    expect(sim.dma(dev.devId, undefined, gpa + 8n, 'w')).toMatchObject({ ok: true, address: env.hpa(gpa) + 8n });
    expectSameDma(env, dev, 0, gpa + 8n, true);
    expectNoLeaks(env);
  });

  it('asks for dirty tracking when told to and the host supports it', async () => {
    const env = await bindEnv({ devices: [{ dirtyTracking: true }, { dirtyTracking: true, hwInfo: { slads: false } }] });
    expect(env.devs[0]!.stage2.flags).toBe(NP_PASID | IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect(env.devs[1]!.stage2.flags).toBe(NP_PASID);
  });

  it('maps guest RAM at the host address the embedder says', async () => {
    const env = await bindEnv({ vtd: { ramHostAddress: (r) => 0x7f00_0000_0000n + r.base } });
    expect(env.sim.ioasMappings(env.dev.stage2.ioasId)[0]!.hostAddr).toBe(0x7f00_0000_0000n);
    expect(env.vtd.host.ramRegions()).toEqual([{ base: 0n, size: RAM_SIZE, hostAddress: 0x7f00_0000_0000n }]);
  });

  it('a device registered while the guest has its PASID entry is bound at once', async () => {
    const env = await bindEnv({ devices: [] });
    const t = env.table();
    env.guest.scalableDevice(0x18, { pdts: 0 });
    env.guest.pasidEntry(0x18, 0, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    const devId = env.sim.addDevice();
    const dev = env.vtd.addHostDevice({ bus: 0, devfn: 0x18, backend: env.sim, devId });
    expect(env.nested(env.sim.attachedHwpt(devId))!.data!.pgtblAddr).toBe(t.pt.root);
    expectSameDma(env, dev, 0, 0x40_0000n);
  });
});

describe('stage-2 sharing', () => {
  it('two compatible devices share one stage 2; a device with another coherency setting gets its own', async () => {
    const env = await bindEnv({ devices: [{}, {}, { coherent: false }] });
    const [a, b, c] = env.devs as [typeof env.dev, typeof env.dev, typeof env.dev];
    expect(b.stage2).toEqual(a.stage2);
    expect(c.stage2.hwptId).not.toBe(a.stage2.hwptId);
    expect(c.stage2.ioasId).toBe(a.stage2.ioasId);
    expect(env.objects('hwpt_paging')).toHaveLength(2);
    expect(env.objects('ioas')).toHaveLength(1);
    expectNoLeaks(env);
  });

  it('a device the backend will not attach to the shared HWPT (EINVAL) gets its own', async () => {
    // Page-walk coherency (ECAP.SMPWC) differs: paging_domain_compatible says EINVAL.
    const env = await bindEnv({ devices: [{}, { hwInfo: { smpwc: false, slads: false } }] });
    const [a, b] = env.devs as [typeof env.dev, typeof env.dev];
    expect(b.stage2.hwptId).not.toBe(a.stage2.hwptId);
    expect(b.stage2.ioasId).toBe(a.stage2.ioasId);
    expect(env.sim.stats().calls.attach).toEqual({ calls: 3, failures: 1 });
    expectNoLeaks(env);
  });

  it('a device that cannot get a HWPT on the existing IOAS gets its own IOAS, with guest RAM mapped', async () => {
    const env = await bindEnv();
    const devId = env.sim.addDevice({ coherent: false });
    env.sim.injectFault('allocHwpt', 'EINVAL');
    const d = env.vtd.addHostDevice({ bus: 0, devfn: 0x20, backend: env.sim, devId });
    expect(d.stage2.ioasId).not.toBe(env.dev.stage2.ioasId);
    expect(env.sim.ioasMappings(d.stage2.ioasId)).toHaveLength(1);
    expectNoLeaks(env);
  });

  it('devices with and without PASIDs share the IOAS but not the nest parent (ALLOC_PASID differs)', async () => {
    const env = await bindEnv({ devices: [{}, { pasidBits: 0 }] });
    const [a, b] = env.devs as [typeof env.dev, typeof env.dev];
    expect(b.stage2.flags).toBe(IOMMU_HWPT_ALLOC_NEST_PARENT);
    expect(b.stage2.ioasId).toBe(a.stage2.ioasId);
    expect(b.stage2.hwptId).not.toBe(a.stage2.hwptId);
  });

  it('HWPTs and IOASes are destroyed with their last user', async () => {
    const env = await bindEnv({ devices: [{}, {}, { coherent: false }] });
    const [a, b, c] = env.devs as [typeof env.dev, typeof env.dev, typeof env.dev];
    const t = env.table();
    env.context(a);
    env.pasid(a, 0, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    env.pasid(a, 9, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(env.objects('hwpt_nested')).toHaveLength(2);
    env.vtd.removeHostDevice(a);
    expect(env.objects('hwpt_nested')).toHaveLength(0);
    expect(env.sim.attachedHwpt(a.devId)).toBeUndefined();
    expect(env.objects('hwpt_paging')).toHaveLength(2);
    env.vtd.removeHostDevice(b);
    expect(env.objects('hwpt_paging').map((h) => h.id)).toEqual([c.stage2.hwptId]);
    expect(env.objects('ioas')).toHaveLength(1);
    env.vtd.removeHostDevice(c);
    expect(env.sim.objects().every((o) => o.type === 'device')).toBe(true);
    expect(env.vtd.host.pendingDestroys()).toEqual([]);
    expect(env.sim.checkConsistency()).toEqual([]);
  });
});

describe('guest RAM', () => {
  it('a new RAM region is mapped into every stage-2 IOAS, and unmapped when it goes', async () => {
    const env = await bindEnv({ devices: [{}, {}] });
    const devId = env.sim.addDevice({ coherent: false });
    env.sim.injectFault('allocHwpt', 'EINVAL');
    const own = env.vtd.addHostDevice({ bus: 0, devfn: 0x40, backend: env.sim, devId });
    const ioases = [env.dev.stage2.ioasId, own.stage2.ioasId];
    expect(new Set(ioases).size).toBe(2);
    const region = { base: 1n << 32n, size: 1n << 20n, hostAddress: 0x55_0000_0000n };
    env.vtd.host.addRamRegion(region);
    for (const id of ioases) expect(env.sim.ioasMappings(id)).toContainEqual({ iova: region.base, last: region.base + region.size - 1n, hostAddr: region.hostAddress, read: true, write: true });
    env.drv.enableTranslation(false);
    expect(env.sim.dma(own.devId, undefined, region.base + 0x10n, 'r')).toMatchObject({ ok: true, address: region.hostAddress + 0x10n });
    expect(() => env.vtd.host.addRamRegion({ ...region, base: region.base + 0x1000n })).toThrow(VtdArgumentError);
    env.vtd.host.removeRamRegion(region.base);
    for (const id of ioases) expect(env.sim.ioasMappings(id)).toHaveLength(1);
    expect(env.vtd.host.ramRegions()).toHaveLength(1);
  });

  it('adding a RAM region is all or none', async () => {
    const env = await bindEnv({ devices: [{}] });
    const devId = env.sim.addDevice({ coherent: false });
    env.sim.injectFault('allocHwpt', 'EINVAL');
    const own = env.vtd.addHostDevice({ bus: 0, devfn: 0x40, backend: env.sim, devId });
    expect(own.stage2.ioasId).not.toBe(env.dev.stage2.ioasId);
    // The first IOAS takes the region, the second refuses: the first is unmapped again.
    const map = env.sim.ioasMap.bind(env.sim);
    let calls = 0;
    env.sim.ioasMap = (...a) => {
      if (++calls === 2) env.sim.injectFault('ioasMap', 'ENOMEM');
      return map(...a);
    };
    expect(() => env.vtd.host.addRamRegion({ base: 1n << 32n, size: 1n << 20n, hostAddress: 0n })).toThrow(HostDeviceError);
    expect(calls).toBe(2);
    expect(env.sim.ioasMappings(env.dev.stage2.ioasId)).toHaveLength(1);
    expect(env.sim.ioasMappings(own.stage2.ioasId)).toHaveLength(1);
    expect(env.vtd.host.ramRegions()).toHaveLength(1);
  });
});

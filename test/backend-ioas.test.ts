/**
 * SimIommufd IOAS rules: IOMMU_IOAS_ALLOC / MAP / UNMAP / IOVA_RANGES / ALLOW_IOVAS as §3
 * describes and the selftests of §11.6 check them, plus the Intel nest-parent read-only
 * erratum (§5.3) and EFAULT pinning (iommufd_mock_domain.basic).
 * (Digest: /work/shared/reference/linux-iommufd.md)
 */
import { describe, expect, it } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R,
  IOMMU_IOAS_MAP_WRITEABLE as W, MSI_WINDOW, SimIommufd,
} from '../src/backend/index.js';
import { expectErrno, expectFailsCleanly } from './support/backend.js';

const RW = R | W;
const PAGE = 4096n;
const U64_MAX = (1n << 64n) - 1n;



/** An IOAS without a domain, or with one (a device attached through an auto domain). */
function setup(withDomain: boolean) {
  const sim = new SimIommufd();
  const ioas = sim.allocIoas();
  const dev = sim.addDevice();
  if (withDomain) sim.attach(dev, ioas);
  return { sim, ioas, dev };
}

describe('IOMMU_IOAS_ALLOC (§3.1)', () => {
  it('flags != 0 -> EOPNOTSUPP', () => {
    const sim = new SimIommufd();
    expectFailsCleanly(sim, () => sim.allocIoas(1), 'EOPNOTSUPP');
  });

  it('a new IOAS reports one range [0, U64_MAX] with alignment 1 (iova_ranges, no domain)', () => {
    const { sim, ioas } = setup(false);
    expect(sim.ioasIovaRanges(ioas)).toEqual({ ranges: [{ start: 0n, last: U64_MAX }], alignment: 1n });
  });
});

describe('IOMMU_IOAS_MAP checks in order (§3.3)', () => {
  it('unknown flag bits -> EOPNOTSUPP', () => {
    const { sim, ioas } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0n, PAGE, undefined, RW | (1 << 3)), 'EOPNOTSUPP');
  });

  it('iova or length >= ULONG_MAX -> EOVERFLOW (before the IOAS lookup)', () => {
    const { sim } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasMap(99, U64_MAX, PAGE, undefined, RW | FIXED), 'EOVERFLOW');
    expectFailsCleanly(sim, () => sim.ioasMap(99, 0n, U64_MAX, undefined, RW), 'EOVERFLOW');
  });

  it('neither READABLE nor WRITEABLE -> EINVAL', () => {
    const { sim, ioas } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0n, PAGE, undefined, FIXED), 'EINVAL');
  });

  it('unknown IOAS -> ENOENT', () => {
    const { sim } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasMap(42, 0n, PAGE, undefined, RW), 'ENOENT');
  });

  it('user_va + length overflows -> EOVERFLOW', () => {
    const { sim, ioas } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0n, 2n * PAGE, U64_MAX - PAGE, RW | FIXED), 'EOVERFLOW');
  });

  it('length 0 -> EINVAL', () => {
    const { sim, ioas } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0x1000n, 0n, undefined, RW | FIXED), 'EINVAL');
  });

  it('ioas_iova_alloc: with a domain a length that is not a multiple of 4096 -> EINVAL; without, any byte length maps', () => {
    const nd = setup(false);
    for (let len = 1n; len < 20n; len++) nd.sim.ioasMap(nd.ioas, 0n, len, undefined, RW);
    const d = setup(true);
    expect(d.sim.ioasIovaRanges(d.ioas).alignment).toBe(4096n);
    expectFailsCleanly(d.sim, () => d.sim.ioasMap(d.ioas, 0n, 100n, undefined, RW), 'EINVAL');
    expectFailsCleanly(d.sim, () => d.sim.ioasMap(d.ioas, 0x10_0000n, PAGE + 1n, undefined, RW | FIXED), 'EINVAL');
  });

  it('FIXED_IOVA not aligned to the IOAS alignment -> EINVAL', () => {
    const { sim, ioas } = setup(true);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0x10_0800n, PAGE, undefined, RW | FIXED), 'EINVAL');
  });

  it('FIXED_IOVA over a reserved range (the MSI window of an attached device) -> EINVAL', () => {
    const { sim, ioas } = setup(true);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, MSI_WINDOW.start, PAGE, undefined, RW | FIXED), 'EINVAL');
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, MSI_WINDOW.start - PAGE, 2n * PAGE, undefined, RW | FIXED), 'EINVAL');
  });

  it('FIXED_IOVA beyond the first-stage aperture (a reserved range) -> EINVAL', () => {
    const { sim, ioas } = setup(true);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 1n << 47n, PAGE, undefined, RW | FIXED), 'EINVAL');
  });

  it('area: over-map in any overlap pattern -> EEXIST', () => {
    const { sim, ioas } = setup(false);
    const base = 0x10_0000n;
    sim.ioasMap(ioas, base, 4n * PAGE, undefined, RW | FIXED);
    const patterns: [bigint, bigint][] = [
      [base, 4n * PAGE], // exact
      [base - PAGE, 2n * PAGE], // head
      [base + 3n * PAGE, 2n * PAGE], // tail
      [base + PAGE, PAGE], // inside
      [base - PAGE, 6n * PAGE], // around
    ];
    for (const [iova, len] of patterns) expectFailsCleanly(sim, () => sim.ioasMap(ioas, iova, len, undefined, RW | FIXED), 'EEXIST');
  });

  it('allowed ranges do not constrain FIXED_IOVA', () => {
    const { sim, ioas } = setup(false);
    sim.ioasAllowIovas(ioas, [{ start: 0x10_0000n, last: 0x1f_ffffn }]);
    expect(sim.ioasMap(ioas, 0x100_0000n, PAGE, undefined, RW | FIXED)).toBe(0x100_0000n);
  });

  it('the chosen IOVA comes back; the host address defaults to the IOVA (identity)', () => {
    const { sim, ioas } = setup(false);
    const iova = sim.ioasMap(ioas, 0n, 3n * PAGE, undefined, RW);
    expect(sim.ioasMappings(ioas)).toEqual([{ iova, last: iova + 3n * PAGE - 1n, hostAddr: iova, read: true, write: true }]);
    sim.ioasMap(ioas, 0x8000_0000n, PAGE, 0x1234_5000n, R | FIXED);
    expect(sim.ioasMappings(ioas)[1]).toEqual({ iova: 0x8000_0000n, last: 0x8000_0fffn, hostAddr: 0x1234_5000n, read: true, write: false });
  });
});

describe('automatic IOVA allocation (§3.3 step 8)', () => {
  it('area_auto_iova: never IOVA 0, aligned to roundup_pow_of_two(length) (capped at 2 MiB), avoiding reserved ranges', () => {
    const { sim, ioas } = setup(true);
    const got: bigint[] = [];
    for (const pages of [1n, 2n, 3n, 5n, 8n, 16n, 600n, 1024n]) {
      const len = pages * PAGE;
      const iova = sim.ioasMap(ioas, 0n, len, undefined, RW);
      let align = 1n;
      while (align < len) align <<= 1n;
      if (align > 2n << 20n) align = 2n << 20n;
      expect(iova % align).toBe(0n);
      expect(iova).toBeGreaterThan(0n);
      got.push(iova);
      expect(iova + len - 1n < MSI_WINDOW.start || iova > MSI_WINDOW.last).toBe(true);
    }
    expect(new Set(got).size).toBe(got.length);
  });

  it('keeps the host address alignment: min(roundup(length), lowest set bit of user_va), and its page offset', () => {
    const { sim, ioas } = setup(false);
    const iova = sim.ioasMap(ioas, 0n, 64n * PAGE, 0x7f00_0000_3000n, RW);
    expect(iova % 0x1000n).toBe(0n);
    expect(iova % 0x2000n).not.toBe(0n); // aligned to 0x1000 only (lowest bit of the VA)
    const off = sim.ioasMap(ioas, 0n, 0x100n, 0x5000_0123n, RW);
    expect(off % PAGE).toBe(0x123n);
  });

  it('ALLOW_IOVAS: every automatic IOVA then falls inside the allowed ranges', () => {
    const { sim, ioas } = setup(false);
    const allowed = { start: 0x4000_0000n, last: 0x4fff_ffffn };
    sim.ioasAllowIovas(ioas, [allowed]);
    for (let i = 0; i < 16; i++) {
      const iova = sim.ioasMap(ioas, 0n, PAGE * BigInt(1 + (i % 5)), undefined, RW);
      expect(iova >= allowed.start && iova <= allowed.last).toBe(true);
    }
  });

  it('reserved_overflow: no hole large enough -> ENOSPC', () => {
    const { sim, ioas } = setup(false);
    sim.ioasAllowIovas(ioas, [{ start: 0x10_0000n, last: 0x10_0000n + 4n * PAGE - 1n }]);
    sim.ioasMap(ioas, 0n, 2n * PAGE, undefined, RW);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0n, 4n * PAGE, undefined, RW), 'ENOSPC');
  });

  it('an automatic alignment below the IOAS alignment -> EINVAL', () => {
    const { sim, ioas } = setup(true);
    // user_va with its lowest set bit at 2 KiB: alignment 2048 < 4096
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0n, PAGE, 0x1000_0800n, RW), 'EINVAL');
  });
});

describe('IOMMU_IOAS_UNMAP (§3.4)', () => {
  it('unknown IOAS -> ENOENT, checked first', () => {
    const { sim } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasUnmap(9, 0n, 0n), 'ENOENT');
  });

  it('length 0 -> EINVAL; iova or length >= ULONG_MAX -> EOVERFLOW; iova + length - 1 overflow -> EOVERFLOW', () => {
    const { sim, ioas } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, 0x1000n, 0n), 'EINVAL');
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, U64_MAX, 1n), 'EOVERFLOW');
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, U64_MAX - 10n, 100n), 'EOVERFLOW');
  });

  it('area: unmapping unmapped IOVA -> ENOENT', () => {
    const { sim, ioas } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, 0x10_0000n, PAGE), 'ENOENT');
  });

  it('area: map and unmap 10 single pages', () => {
    const { sim, ioas } = setup(true);
    for (let i = 0n; i < 10n; i++) sim.ioasMap(ioas, 0x10_0000n + i * 2n * PAGE, PAGE, undefined, RW | FIXED);
    for (let i = 0n; i < 10n; i++) expect(sim.ioasUnmap(ioas, 0x10_0000n + i * 2n * PAGE, PAGE)).toBe(PAGE);
    expect(sim.ioasMappings(ioas)).toEqual([]);
  });

  it('area: split unmap of one page of a 2-page mapping -> ENOENT, for either page', () => {
    const { sim, ioas } = setup(false);
    sim.ioasMap(ioas, 0x10_0000n, 2n * PAGE, undefined, RW | FIXED);
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, 0x10_0000n, PAGE), 'ENOENT');
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, 0x10_0000n + PAGE, PAGE), 'ENOENT');
  });

  it('area: unmap-all (0, U64_MAX) works, and works again when empty (0 bytes)', () => {
    const { sim, ioas } = setup(false);
    sim.ioasMap(ioas, 0x10_0000n, 2n * PAGE, undefined, RW | FIXED);
    sim.ioasMap(ioas, 0x20_0000n, 3n * PAGE, undefined, RW | FIXED);
    expect(sim.ioasUnmap(ioas, 0n, U64_MAX)).toBe(5n * PAGE);
    expect(sim.ioasUnmap(ioas, 0n, U64_MAX)).toBe(0n);
  });

  it('unmap_fully_contained_areas: partial overlap at either end -> ENOENT; a superset with holes -> the sum of the areas', () => {
    const { sim, ioas } = setup(false);
    const base = 0x100_0000n;
    for (let i = 0n; i < 4n; i++) sim.ioasMap(ioas, base + i * 16n * PAGE, 8n * PAGE, undefined, RW | FIXED);
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, base - 4n * PAGE, 8n * PAGE), 'ENOENT');
    expectFailsCleanly(sim, () => sim.ioasUnmap(ioas, base + 3n * 16n * PAGE + 4n * PAGE, 8n * PAGE), 'ENOENT');
    expect(sim.ioasUnmap(ioas, base - 4n * PAGE, 3n * 16n * PAGE)).toBe(3n * 8n * PAGE);
    expect(sim.ioasMappings(ioas).map((a) => a.iova)).toEqual([base + 48n * PAGE]);
  });

  it('is not atomic: whole areas before the one that sticks out stay unmapped (iopt_unmap_iova_range)', () => {
    const { sim, ioas } = setup(false);
    sim.ioasMap(ioas, 0x10_0000n, PAGE, undefined, RW | FIXED);
    sim.ioasMap(ioas, 0x20_0000n, 2n * PAGE, undefined, RW | FIXED);
    expectErrno(() => sim.ioasUnmap(ioas, 0x10_0000n, 0x10_0000n + PAGE), 'ENOENT');
    expect(sim.ioasMappings(ioas).map((a) => a.iova)).toEqual([0x20_0000n]);
  });
});

describe('IOMMU_IOAS_IOVA_RANGES and ALLOW_IOVAS (§3.6, §3.7)', () => {
  it('iova_ranges: with a domain, the first-stage aperture minus the MSI window, alignment 4096', () => {
    const { sim, ioas } = setup(true);
    expect(sim.ioasIovaRanges(ioas)).toEqual({
      ranges: [{ start: 0n, last: MSI_WINDOW.start - 1n }, { start: MSI_WINDOW.last + 1n, last: (1n << 47n) - 1n }],
      alignment: 4096n,
    });
  });

  it('iova_ranges: a second-stage (nest-parent) domain spans [0, 2^48 - 1]', () => {
    const { sim, ioas, dev } = setup(false);
    sim.allocHwpt({ devId: dev, ptId: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
    expect(sim.ioasIovaRanges(ioas).ranges).toEqual([{ start: 0n, last: (1n << 48n) - 1n }]);
  });

  it('iova_ranges: removing the domain and the device brings back [0, U64_MAX] with alignment 1', () => {
    const { sim, ioas, dev } = setup(true);
    sim.detach(dev);
    expect(sim.ioasIovaRanges(ioas)).toEqual({ ranges: [{ start: 0n, last: U64_MAX }], alignment: 1n });
  });

  it('ALLOW_IOVAS: start >= last or overlapping ranges -> EINVAL', () => {
    const { sim, ioas } = setup(false);
    expectFailsCleanly(sim, () => sim.ioasAllowIovas(ioas, [{ start: 0x1000n, last: 0x1000n }]), 'EINVAL');
    expectFailsCleanly(sim, () => sim.ioasAllowIovas(ioas, [{ start: 0x1000n, last: 0x2fffn }, { start: 0x2000n, last: 0x4fffn }]), 'EINVAL');
    expectFailsCleanly(sim, () => sim.ioasAllowIovas(99, []), 'ENOENT');
  });

  it('area_allowed: allowing over a reserved range -> EADDRINUSE (the old list is kept)', () => {
    const { sim, ioas } = setup(true);
    sim.ioasAllowIovas(ioas, [{ start: 0x10_0000n, last: 0x1f_ffffn }]);
    expectFailsCleanly(sim, () => sim.ioasAllowIovas(ioas, [{ start: 0xfe00_0000n, last: 0xfeff_ffffn }]), 'EADDRINUSE');
    expect(sim.state().ioas[0]!.allowed).toEqual([{ start: 0x10_0000n, last: 0x1f_ffffn }]);
  });

  it('area_allowed: a reservation inside an allowed range (a device attach bringing its MSI window) -> EADDRINUSE', () => {
    const { sim, ioas, dev } = setup(false);
    sim.ioasAllowIovas(ioas, [{ start: 0xf000_0000n, last: 0xffff_ffffn }]);
    expectFailsCleanly(sim, () => sim.attach(dev, ioas), 'EADDRINUSE');
    sim.ioasAllowIovas(ioas, []); // num_iovas = 0 clears
    expect(sim.attach(dev, ioas)).toBeGreaterThan(0);
  });

  it('area_auto_iova: ALLOW_IOVAS intersecting a reserved range -> EADDRINUSE', () => {
    const { sim, ioas } = setup(true);
    expectFailsCleanly(sim, () => sim.ioasAllowIovas(ioas, [{ start: 1n << 47n, last: (1n << 47n) + 0xfffn }]), 'EADDRINUSE');
  });
});

describe('domains and mappings', () => {
  it('a mapping over the device reserved region blocks the RID attach -> EADDRINUSE, no auto domain left', () => {
    const { sim, ioas, dev } = setup(false);
    sim.ioasMap(ioas, MSI_WINDOW.start, PAGE, undefined, RW | FIXED);
    expectFailsCleanly(sim, () => sim.attach(dev, ioas), 'EADDRINUSE');
    expect(sim.objects().filter((o) => o.type === 'hwpt_paging')).toEqual([]);
  });

  it('a mapping outside the aperture blocks adding a domain -> EADDRINUSE', () => {
    const { sim, ioas, dev } = setup(false);
    sim.ioasMap(ioas, 1n << 50n, PAGE, undefined, RW | FIXED);
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas }), 'EADDRINUSE');
  });

  it('byte-granular mappings made without a domain block a 4 KiB domain -> EADDRINUSE (iopt_check_iova_alignment)', () => {
    const { sim, ioas, dev } = setup(false);
    sim.ioasMap(ioas, 0x10_0100n, 0x100n, undefined, RW | FIXED);
    expectFailsCleanly(sim, () => sim.allocHwpt({ devId: dev, ptId: ioas }), 'EADDRINUSE');
  });

  it('Intel erratum: a read-only map into an IOAS with a nest parent -> EINVAL; a nest parent over read-only areas -> EINVAL', () => {
    const a = setup(false);
    a.sim.allocHwpt({ devId: a.dev, ptId: a.ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
    expectFailsCleanly(a.sim, () => a.sim.ioasMap(a.ioas, 0x10_0000n, PAGE, undefined, R | FIXED), 'EINVAL');
    a.sim.ioasMap(a.ioas, 0x10_0000n, PAGE, undefined, RW | FIXED);
    const b = setup(false);
    b.sim.ioasMap(b.ioas, 0x10_0000n, PAGE, undefined, R | FIXED);
    expectFailsCleanly(b.sim, () => b.sim.allocHwpt({ devId: b.dev, ptId: b.ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }), 'EINVAL');
    b.sim.allocHwpt({ devId: b.dev, ptId: b.ioas }); // a first-stage domain takes read-only maps
  });

  it('iommufd_mock_domain.basic: an unpinnable host range -> EFAULT with a domain; without one the map is lazy', () => {
    const hostMemory = { contains: (a: bigint, l: bigint) => a >= 0x1_0000_0000n && a + l <= 0x2_0000_0000n };
    const sim = new SimIommufd({ hostMemory });
    const dev = sim.addDevice();
    const lazy = sim.allocIoas();
    sim.ioasMap(lazy, 0x10_0000n, PAGE, 0x5000n, RW | FIXED); // not pinned: fine
    expectFailsCleanly(sim, () => sim.attach(dev, lazy), 'EFAULT'); // the new domain must pin it
    const ioas = sim.allocIoas();
    sim.attach(dev, ioas);
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0x10_0000n, PAGE, 0x5000n, RW | FIXED), 'EFAULT');
    expectFailsCleanly(sim, () => sim.ioasMap(ioas, 0x10_0000n, 2n * PAGE, 0x2_0000_0000n - PAGE, RW | FIXED), 'EFAULT');
    sim.ioasMap(ioas, 0x10_0000n, PAGE, 0x1_0000_0000n, RW | FIXED);
  });

  it('destroying an IOAS unmaps everything it held', () => {
    const { sim, ioas } = setup(false);
    sim.ioasMap(ioas, 0x10_0000n, PAGE, undefined, RW | FIXED);
    sim.destroy(ioas);
    expect(sim.objects().some((o) => o.id === ioas)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { MAX_GUEST_RAM, Vtd, VtdArgumentError, VtdMemoryError } from '../src/index.js';

const GiB = 1024 ** 3;

describe('guest memory', () => {
  it('defaults to one region at GPA 0', async () => {
    const vtd = await Vtd.create({ memory: { size: 1 << 20 } });
    expect(vtd.memory.regions.map((r) => [r.base, r.size])).toEqual([[0n, 1 << 20]]);
  });

  it('reads back what was written, little-endian', async () => {
    const vtd = await Vtd.create({ memory: { size: 1 << 20 } });
    vtd.memory.writeU64(0x1008n, 0x1122_3344_5566_7788n);
    expect(vtd.memory.read(0x1008n, 2)).toEqual(new Uint8Array([0x88, 0x77]));
    vtd.memory.write(0x2000n, new Uint8Array([1, 2, 3]));
    expect(vtd.memory.readU64(0x2000n)).toBe(0x030201n);
  });

  it('supports a second region above 4 GiB, as q35 guests have', async () => {
    const vtd = await Vtd.create({ memory: { regions: [{ base: 0n, size: 1 << 20 }, { base: 1n << 32n, size: 1 << 20 }] } });
    vtd.memory.writeU64((1n << 32n) + 0x10n, 42n);
    expect(vtd.memory.readU64((1n << 32n) + 0x10n)).toBe(42n);
    expect(vtd.memory.contains(1n << 32n)).toBe(true);
    expect(vtd.memory.contains(2n << 20n)).toBe(false);
  });

  it('holds 1 GiB of guest RAM', async () => {
    const vtd = await Vtd.create({ memory: { regions: [{ base: 0n, size: GiB / 2 }, { base: 1n << 32n, size: GiB / 2 }] } });
    vtd.memory.writeU64((1n << 32n) + BigInt(GiB / 2 - 8), 7n);
    expect(vtd.memory.readU64((1n << 32n) + BigInt(GiB / 2 - 8))).toBe(7n);
    expect(vtd.memory.size).toBe(GiB);
  });

  it('throws VtdMemoryError for host accesses outside RAM or across a region end', async () => {
    const vtd = await Vtd.create({ memory: { size: 1 << 20 } });
    expect(() => vtd.memory.readU64(1n << 20n)).toThrow(VtdMemoryError);
    expect(() => vtd.memory.read((1n << 20n) - 4n, 8)).toThrow(VtdMemoryError);
    expect(() => vtd.memory.write(1n << 40n, new Uint8Array(1))).toThrow(VtdMemoryError);
  });

  it.each([
    ['unaligned base', [{ base: 0x800n, size: 4096 }]],
    ['size not a multiple of 4 KiB', [{ base: 0n, size: 100 }]],
    ['overlapping regions', [{ base: 0n, size: 8192 }, { base: 4096n, size: 4096 }]],
    ['more RAM than wasm32 can hold', [{ base: 0n, size: MAX_GUEST_RAM + 4096 }]],
    ['no region', []],
  ])('rejects %s with VtdArgumentError', async (_what, regions) => {
    await expect(Vtd.create({ memory: { regions } })).rejects.toThrow(VtdArgumentError);
  });
});

/** Guest images and units: load an image into a fresh Vtd, capture a Vtd's guest as an image. */
import type { CacheOptions } from '../caches.js';
import type { RegionSpec } from '../memory/guest-memory.js';
import { RegionMemory, type RefEnv } from '../reference/index.js';
import { Vtd } from '../vtd.js';
import type { WasmSource } from '../wasm/core.js';
import type { GuestImage, ImagePage } from './formats.js';

export interface UnitOptions {
  caches?: CacheOptions;
  wasm?: WasmSource;
}

/** A unit whose guest RAM, capabilities and root table are the image's. */
export async function unitFromImage(img: GuestImage, o: UnitOptions = {}): Promise<Vtd> {
  const regions: RegionSpec[] = img.regions.map((r) => ({ base: r.base, size: r.size }));
  const vtd = await Vtd.create({
    memory: { regions }, caps: img.caps,
    ...(o.caches !== undefined ? { caches: o.caches } : {}), ...(o.wasm !== undefined ? { wasm: o.wasm } : {}),
  });
  for (const p of img.pages) vtd.memory.write(p.gpa, p.bytes);
  if (img.mode !== 'off') vtd.setRootTable(img.rootTable, { scalable: img.mode === 'scalable' });
  return vtd;
}

function isZero(page: Uint8Array): boolean {
  const w = new Uint32Array(page.buffer, page.byteOffset, page.byteLength >> 2);
  for (let i = 0; i < w.length; i++) if (w[i]) return false;
  return true;
}

/** The unit's guest as an image: every non-zero 4 KiB page of RAM (copied). */
export function imageFromUnit(vtd: Vtd): GuestImage {
  const pages: ImagePage[] = [];
  for (const r of vtd.memory.regions) {
    for (let off = 0; off < r.size; off += 4096) {
      const gpa = r.base + BigInt(off);
      const v = vtd.memory.view(gpa, 4096);
      if (!isZero(v)) pages.push({ gpa, bytes: v.slice() });
    }
  }
  const root = vtd.root;
  return {
    regions: vtd.memory.regions.map((r) => ({ base: r.base, size: BigInt(r.size) })),
    mode: root === undefined ? 'off' : root.scalable ? 'scalable' : 'legacy',
    rootTable: root?.address ?? 0n,
    caps: { ...vtd.caps },
    pages,
  };
}

/**
 * The reference walker's view of a unit: its own copy of guest RAM (separate A/D state), taken
 * in 1 MiB chunks into `into` when given (reused between runs), and the unit's root table.
 */
export function refEnvOf(vtd: Vtd, into?: Uint8Array[]): RefEnv {
  const regions = vtd.memory.regions.map((r, i) => {
    const prev = into?.[i];
    const copy = prev && prev.length === r.size ? prev : new Uint8Array(r.size);
    if (into) into[i] = copy;
    const CHUNK = 1 << 20;
    for (let off = 0; off < r.size; off += CHUNK) copy.set(vtd.memory.view(r.base + BigInt(off), Math.min(CHUNK, r.size - off)), off);
    return { base: r.base, bytes: copy };
  });
  const root = vtd.root;
  return {
    mem: new RegionMemory(regions), caps: { ...vtd.caps },
    te: root !== undefined, scalable: root?.scalable ?? true, rtaddr: root?.address ?? 0n,
  };
}

/** Copies every region of `from`'s guest RAM into `to` (same regions), skipping all-zero 64 KiB chunks. */
export function copyGuestRam(from: Vtd, to: Vtd): void {
  const CHUNK = 1 << 16;
  for (const r of from.memory.regions) {
    for (let off = 0; off < r.size; off += CHUNK) {
      const gpa = r.base + BigInt(off);
      const len = Math.min(CHUNK, r.size - off);
      const v = from.memory.view(gpa, len);
      if (!isZero(v)) to.memory.write(gpa, v);
    }
  }
}

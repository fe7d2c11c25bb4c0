import { checkAligned, GuestEncodeError, hex } from './errors.js';

/**
 * The guest memory the encoders write to. The project's GuestMemory implements it
 * structurally; tests can use a Map. Addresses are guest-physical (GPA).
 */
export interface GuestMemoryLike {
  readU64(gpa: bigint): bigint;
  writeU64(gpa: bigint, v: bigint): void;
}

/** Optional bulk fill (bytes); the page allocator zeroes pages with it when present. */
export interface GuestMemoryFill {
  fill(gpa: bigint, len: number, byte: number): void;
}

export const PAGE_4K = 4096;
export const PAGE_2M = 2 ** 21;
export const PAGE_1G = 2 ** 30;
export type PageSize = typeof PAGE_4K | typeof PAGE_2M | typeof PAGE_1G;

/** Paging level whose leaf maps `size` (1 = 4 KiB PTE, 2 = 2 MiB PDE, 3 = 1 GiB PDPE). */
export function leafLevel(size: number): 1 | 2 | 3 {
  if (size === PAGE_4K) return 1;
  if (size === PAGE_2M) return 2;
  if (size === PAGE_1G) return 3;
  throw new GuestEncodeError(`size must be a power-of-two page size 4096, 2 MiB or 1 GiB, got ${hex(size)}`);
}

/** Bytes mapped by one entry at `level`. */
export const levelSize = (level: number): bigint => 1n << BigInt(12 + 9 * (level - 1));

/** Index of `iova` in the table at `level` (9 bits per level above the 4 KiB offset). */
export const levelIndex = (iova: bigint, level: number): bigint =>
  (iova >> BigInt(12 + 9 * (level - 1))) & 511n;

/** Read an entry of `n` qwords (little-endian qword order, as VT-d entries are laid out). */
export function readEntry(mem: GuestMemoryLike, gpa: bigint, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => mem.readU64(gpa + BigInt(i * 8)));
}

export function writeEntry(mem: GuestMemoryLike, gpa: bigint, qwords: readonly bigint[]): void {
  checkAligned('entry address', gpa, 8n);
  qwords.forEach((q, i) => mem.writeU64(gpa + BigInt(i * 8), q));
}

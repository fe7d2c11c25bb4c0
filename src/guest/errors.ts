/**
 * Argument checks for the guest-side encoders. A bad argument is a bug in the test or tool
 * that builds the tables, so it throws at once instead of writing an entry the walker would
 * later report as some unrelated fault.
 */
export class GuestEncodeError extends Error {
  override name = 'GuestEncodeError';
}

export const hex = (v: bigint | number): string =>
  typeof v === 'bigint' || Number.isInteger(v) ? `0x${v.toString(16)}` : String(v);

const U64_LIMIT = 1n << 64n;

/** An integer field of at most `max` (e.g. bus <= 0xFF, DID <= 0xFFFF). */
export function checkUint(name: string, v: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new GuestEncodeError(`${name} must be an integer in [0, ${hex(max)}], got ${hex(v)}`);
  }
  return v;
}

/** A 64-bit value (address, raw qword). */
export function checkU64(name: string, v: bigint): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= U64_LIMIT) {
    throw new GuestEncodeError(`${name} must be a bigint in [0, 2^64), got ${String(v)}`);
  }
  return v;
}

/** A value that must be a multiple of `align` bytes. */
export function checkAligned(name: string, v: bigint, align: bigint): bigint {
  checkU64(name, v);
  if (v % align !== 0n) {
    throw new GuestEncodeError(`${name} must be ${sizeName(align)} aligned, got ${hex(v)}`);
  }
  return v;
}

/** A table pointer: every VT-d structure pointer field is bits 63:12, so 4 KiB aligned. */
export const checkPtr = (name: string, v: bigint): bigint => checkAligned(name, v, 4096n);

/** OR test-supplied raw bits into encoded qwords (reserved or unmodelled fields). */
export function orRaw(name: string, qwords: bigint[], raw: readonly bigint[] | undefined): bigint[] {
  if (raw === undefined) return qwords;
  if (raw.length > qwords.length) {
    throw new GuestEncodeError(`${name} has ${qwords.length} qwords, got ${raw.length} raw qwords`);
  }
  raw.forEach((r, i) => (qwords[i] = qwords[i]! | checkU64(`${name}[${i}]`, r)));
  return qwords;
}

export function sizeName(bytes: bigint | number): string {
  const b = BigInt(bytes);
  if (b >= 1n << 30n && b % (1n << 30n) === 0n) return `${b >> 30n} GiB`;
  if (b >= 1n << 20n && b % (1n << 20n) === 0n) return `${b >> 20n} MiB`;
  if (b >= 1n << 10n && b % (1n << 10n) === 0n) return `${b >> 10n} KiB`;
  return `${b} B`;
}

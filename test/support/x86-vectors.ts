/** The x86-64 paging vectors (test/fixtures/x86-paging/README.md) and how they map to VT-d. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface Vector {
  root: string;
  levels: 4 | 5;
  iova: string;
  access: 'r' | 'w';
  user: boolean;
  ok: boolean;
  gpa?: string;
  page_size?: number;
  fault?: { kind: 'pf'; present: boolean; write: boolean; user: boolean; rsvd: boolean } | { kind: 'noncanonical' };
  ad?: [string, string][];
  tags: string[];
}

const dir = new URL('../fixtures/x86-paging/', import.meta.url);
export const image: Uint8Array = gunzipSync(readFileSync(new URL('image-0.bin.gz', dir)));
export const vectors: Vector[] = readFileSync(new URL('vectors-image-0.jsonl', dir), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Vector);

export const hex = (v: bigint) => `0x${v.toString(16)}`;
export const key = (v: Vector) => `${v.root} ${v.iova} ${v.access} ${v.user ? 'user' : 'sup'}`;
const byKey = new Map(vectors.map((v) => [key(v), v]));

/** The VT-d request of a vector: CPL3 = user; CPL0 = supervisor with SRE; CR0.WP = WPE. */
export function walkRequest(v: Vector) {
  return { root: BigInt(v.root), levels: v.levels, iova: BigInt(v.iova), write: v.access === 'w', priv: !v.user, sre: !v.user, wpe: true };
}

/** The fault codes a vector's x86 outcome allows. */
export function expectedCodes(v: Vector): number[] {
  const f = v.fault!;
  if (f.kind === 'noncanonical') return [0x80];
  if (!f.present) return [0x71];
  if (f.rsvd) return [0x72];
  if (!v.user) return [0x85]; // a supervisor can only fail on a write (CR0.WP)
  if (v.access === 'r') return [0x81]; // a user read can only fail on U/S
  // A user write: U/S if the same user read faulted too, else R/W.
  const read = byKey.get(key({ ...v, access: 'r' }));
  return read ? [read.ok ? 0x85 : 0x81] : [0x81, 0x85];
}

/** '' when the result matches the vector (address, page size, fault class), else a description. */
export function mismatch(v: Vector, r: { ok: true; address: bigint; pageSize: number } | { ok: false; fault: { reason: number; level?: number } }): string {
  const got = r.ok ? `ok ${hex(r.address)} ${r.pageSize}` : `fault 0x${r.fault.reason.toString(16)}@${r.fault.level}`;
  const good = v.ok ? r.ok && r.address === BigInt(v.gpa!) && r.pageSize === v.page_size : !r.ok && expectedCodes(v).includes(r.fault.reason);
  if (good) return '';
  const want = v.ok ? `ok ${v.gpa} ${v.page_size}` : `fault ${JSON.stringify(v.fault)}`;
  return `${key(v)} [${v.tags.join(',')}]: want ${want}, got ${got}`;
}

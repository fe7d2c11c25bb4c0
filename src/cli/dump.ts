/** `vtd-emu dump`: every present root, context, PASID-directory and PASID-table entry of an image. */
import type { GuestMemory } from '../memory/guest-memory.js';
import type { Caps } from '../spec/caps.js';
import { need, parse, parseSid } from './args.js';
import { DEMO_SID } from './demo.js';
import { describeImage, loadImage, unitOf } from './load.js';

export const DUMP_USAGE = `usage: vtd-emu dump (--image FILE | --demo) [--sid BDF] [--json]

Decodes the image's remapping structures: the root table, every present root entry, every
present context entry, and in scalable mode every present PASID-directory entry and PASID-table
entry (PGTT, DID, FSPTPTR, SSPTPTR, AW, FSPM, SRE, ...), with addresses and raw values.

  --image FILE   a vtd-emu image (.vtdimg) or a native_walk VTDIMG01 image
  --demo         the built-in demo guest
  --sid BDF      VTDIMG01 only: the device given the context entry (default 00:03.0)
  --json         print the structures as JSON (addresses and raw values as hex strings)`;

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const bits = (q: bigint, hi: number, lo: number): bigint => (q >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
const PGTT = ['000b reserved', '001b first-stage', '010b second-stage', '011b nested', '100b pass-through', '101b reserved', '110b reserved', '111b reserved'];

type Show = 'bool' | 'dec' | 'hex' | 'addr' | ((v: bigint) => string);
type Spec = [name: string, hi: number, lo: number, show: Show];

export interface Field { name: string; bits: string; value: string }
export interface Entry { gpa: string; raw: string[]; fields: Field[] }

function decode(q: bigint[], specs: Spec[]): Field[] {
  return specs.map(([name, hi, lo, show]) => {
    const v = bits(q[Math.floor(lo / 64)] ?? 0n, hi % 64, lo % 64);
    const value = typeof show === 'function' ? show(v) : show === 'bool' ? (v ? '1' : '0') : show === 'dec' ? v.toString()
      : show === 'addr' ? hex(v << BigInt(lo % 64)) : hex(v);
    return { name, bits: hi === lo ? `${hi}` : `${hi}:${lo}`, value };
  });
}

const SPECS = {
  scalableRoot: [['LP', 0, 0, 'bool'], ['LCTP', 63, 12, 'addr'], ['UP', 64, 64, 'bool'], ['UCTP', 127, 76, 'addr']] as Spec[],
  legacyRoot: [['P', 0, 0, 'bool'], ['CTP', 63, 12, 'addr']] as Spec[],
  scalableContext: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['DTE', 2, 2, 'bool'], ['PASIDE', 3, 3, 'bool'], ['PRE', 4, 4, 'bool'],
    ['PDTS', 11, 9, (v) => `${v} (${2n ** (v + 7n)} directory entries)`], ['PASIDDIRPTR', 63, 12, 'addr'], ['RID_PASID', 83, 64, 'hex'], ['RID_PRIV', 84, 84, 'bool']] as Spec[],
  legacyContext: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['TT', 3, 2, (v) => `${v} (${['second-stage', 'second-stage + device-TLB', 'pass-through', 'reserved'][Number(v)]})`],
    ['SSPTPTR', 63, 12, 'addr'], ['AW', 66, 64, (v) => `${v} (${v + 2n}-level)`], ['DID', 87, 72, 'hex']] as Spec[],
  pasidDir: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['PTP', 63, 12, 'addr']] as Spec[],
  pasid: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['AW', 4, 2, (v) => `${v} (${v + 2n}-level second stage)`], ['PGTT', 8, 6, (v) => PGTT[Number(v)]!],
    ['SSADE', 9, 9, 'bool'], ['SSPTPTR', 63, 12, 'addr'], ['DID', 79, 64, 'hex'], ['SRE', 128, 128, 'bool'], ['ERE', 129, 129, 'bool'],
    ['FSPM', 131, 130, (v) => `${v} (${v === 0n ? '4-level' : v === 1n ? '5-level' : 'reserved'})`], ['WPE', 132, 132, 'bool'], ['EAFE', 135, 135, 'bool'],
    ['FSPTPTR', 191, 140, 'addr']] as Spec[],
};

export interface PasidEntryDump extends Entry { pasid: number }
export interface PasidDirDump extends Entry { index: number; pasids: string; table: PasidEntryDump[] | null; note?: string }
export interface ContextDump extends Entry { sid: string; bdf: string; directory?: PasidDirDump[]; note?: string }
export interface RootDump extends Entry { bus: number; contexts: ContextDump[]; note?: string }
export interface Dump {
  image: string;
  mode: 'off' | 'legacy' | 'scalable';
  rootTable: string | null;
  caps: Caps;
  roots: RootDump[];
  counts: { rootEntries: number; contextEntries: number; pasidDirEntries: number; pasidEntries: number };
  notes: string[];
}

class Reader {
  constructor(private readonly mem: GuestMemory) {}
  /** n qwords at gpa, or undefined when the span is not inside one RAM region. */
  q(gpa: bigint, n: number): bigint[] | undefined {
    if (!this.mem.contains(gpa, 8 * n)) return undefined;
    return Array.from({ length: n }, (_, i) => this.mem.readU64(gpa + 8n * BigInt(i)));
  }
}

const bdf = (sid: number): string =>
  `${(sid >> 8).toString(16).padStart(2, '0')}:${((sid >> 3) & 31).toString(16).padStart(2, '0')}.${sid & 7}`;

function entry(gpa: bigint, q: bigint[], specs: Spec[]): Entry {
  return { gpa: hex(gpa), raw: q.map(hex), fields: decode(q, specs) };
}

/** Decodes every present structure reachable from the unit's root table. */
export function dumpStructures(mem: GuestMemory, root: { address: bigint; scalable: boolean } | undefined, caps: Caps, name: string): Dump {
  const rd = new Reader(mem);
  const counts = { rootEntries: 0, contextEntries: 0, pasidDirEntries: 0, pasidEntries: 0 };
  const notes: string[] = [];
  const roots: RootDump[] = [];
  const base: Omit<Dump, 'roots' | 'counts' | 'notes'> = {
    image: name, mode: root === undefined ? 'off' : root.scalable ? 'scalable' : 'legacy', rootTable: root ? hex(root.address) : null, caps,
  };
  if (!root) {
    notes.push('translation is off (no root table): requests pass untranslated');
    return { ...base, roots, counts, notes };
  }
  const rta = root.address & ~0xfffn;
  if (!rd.q(rta, 512)) {
    notes.push(`the root table ${hex(rta)} is not inside guest RAM: every request faults`);
    return { ...base, roots, counts, notes };
  }
  for (let bus = 0; bus < 256; bus++) {
    const ra = rta + BigInt(bus * 16);
    const rq = rd.q(ra, 2)!;
    const halves = root.scalable ? [rq[0]!, rq[1]!] : [rq[0]!];
    if (!halves.some((h) => h & 1n)) continue;
    counts.rootEntries++;
    const r: RootDump = { bus, ...entry(ra, rq, root.scalable ? SPECS.scalableRoot : SPECS.legacyRoot), contexts: [] };
    roots.push(r);
    halves.forEach((h, half) => {
      if (!(h & 1n)) return;
      const ctp = h & 0x000f_ffff_ffff_f000n;
      const per = root.scalable ? 128 : 256;
      const size = root.scalable ? 32 : 16;
      if (!rd.q(ctp, 512)) {
        r.note = `${r.note ? `${r.note}; ` : ''}context table ${hex(ctp)} is outside guest RAM`;
        return;
      }
      for (let i = 0; i < per; i++) {
        const devfn = root.scalable ? half * 128 + i : i;
        const ca = ctp + BigInt(i * size);
        const cq = rd.q(ca, size / 8)!;
        if (!(cq[0]! & 1n)) continue;
        counts.contextEntries++;
        const sid = (bus << 8) | devfn;
        const c: ContextDump = { sid: hex(sid), bdf: bdf(sid), ...entry(ca, cq, root.scalable ? SPECS.scalableContext : SPECS.legacyContext) };
        r.contexts.push(c);
        if (root.scalable) c.directory = pasidDirectory(rd, cq[0]!, counts, c);
      }
    });
  }
  if (counts.rootEntries === 0) notes.push('no root entry is present: every request faults');
  return { ...base, roots, counts, notes };
}

function pasidDirectory(rd: Reader, ce0: bigint, counts: Dump['counts'], c: ContextDump): PasidDirDump[] {
  const dir = ce0 & 0x000f_ffff_ffff_f000n;
  const entries = 2 ** (Number(bits(ce0, 11, 9)) + 7);
  const out: PasidDirDump[] = [];
  if (!rd.q(dir, entries)) {
    c.note = `PASID directory ${hex(dir)} (${entries} entries) is not inside guest RAM`;
    return out;
  }
  const dq = rd.q(dir, entries)!;
  for (let d = 0; d < entries; d++) {
    const de = dq[d]!;
    if (!(de & 1n)) continue;
    counts.pasidDirEntries++;
    const ptp = de & 0x000f_ffff_ffff_f000n;
    const pd: PasidDirDump = { index: d, pasids: `${hex(d * 64)}-${hex(d * 64 + 63)}`, ...entry(dir + BigInt(8 * d), [de], SPECS.pasidDir), table: [] };
    out.push(pd);
    if (!rd.q(ptp, 512)) {
      pd.table = null;
      pd.note = `PASID table ${hex(ptp)} is outside guest RAM`;
      continue;
    }
    for (let i = 0; i < 64; i++) {
      const pa = ptp + BigInt(64 * i);
      const pq = rd.q(pa, 8)!;
      if (!(pq[0]! & 1n)) continue;
      counts.pasidEntries++;
      pd.table!.push({ pasid: d * 64 + i, ...entry(pa, pq, SPECS.pasid) });
    }
  }
  return out;
}

/** PASID-entry fields that do not apply to a PGTT (left out of the text output; the JSON has every field). */
const IRRELEVANT: Record<string, string[]> = {
  '001b first-stage': ['AW', 'SSPTPTR', 'SSADE'],
  '010b second-stage': ['SRE', 'ERE', 'FSPM', 'WPE', 'EAFE', 'FSPTPTR'],
  '100b pass-through': ['AW', 'SSPTPTR', 'SSADE', 'ERE', 'FSPM', 'WPE', 'EAFE', 'FSPTPTR'],
};

/** Only the fields that say something: flags that are set, non-zero pointers, every other multi-bit field. */
function brief(fields: Field[]): string {
  const pgtt = fields.find((f) => f.name === 'PGTT')?.value;
  const skip = new Set(pgtt ? IRRELEVANT[pgtt] ?? [] : []);
  return fields
    .filter((f) => !skip.has(f.name) && !(f.bits.indexOf(':') < 0 && f.value === '0') && f.value !== '0x0')
    .map((f) => `${f.name}=${f.value}`).join('  ');
}

const raw = (e: Entry): string => e.raw.join(' ');

export function formatDump(d: Dump): string {
  const out: string[] = [];
  out.push(`image: ${d.image}`);
  const c = d.caps;
  const flags = (['smts', 'fsts', 'ssts', 'pt', 'nest', 'fs5lp', 'fs1gp', 'rps', 'ers', 'srs', 'dt', 'cachingMode'] as const).filter((k) => c[k]);
  out.push(`caps: ${flags.join(' ')} sslps=${c.sslps} sagaw=${hex(c.sagaw)} mgaw=${c.mgaw} haw=${c.haw} pss=${c.pss}`);
  out.push(`mode: ${d.mode}${d.rootTable ? `, root table ${d.rootTable}` : ''}`);
  for (const r of d.roots) {
    out.push('');
    out.push(`root entry bus ${hex(r.bus)} @ ${r.gpa}: ${brief(r.fields)}`);
    out.push(`  raw ${raw(r)}`);
    if (r.note) out.push(`  ! ${r.note}`);
    for (const ctx of r.contexts) {
      out.push(`  context entry ${ctx.bdf} (sid ${ctx.sid}) @ ${ctx.gpa}: ${brief(ctx.fields)}`);
      out.push(`    raw ${raw(ctx)}`);
      if (ctx.note) out.push(`    ! ${ctx.note}`);
      for (const pd of ctx.directory ?? []) {
        out.push(`    PASID directory entry ${pd.index} (PASIDs ${pd.pasids}) @ ${pd.gpa}: ${brief(pd.fields)}`);
        if (pd.note) out.push(`      ! ${pd.note}`);
        for (const pe of pd.table ?? []) {
          out.push(`      PASID ${hex(pe.pasid)} @ ${pe.gpa}: ${brief(pe.fields)}`);
          out.push(`        raw ${raw(pe)}`);
        }
      }
    }
  }
  out.push('');
  const n = d.counts;
  out.push(`present: ${n.rootEntries} root entr${n.rootEntries === 1 ? 'y' : 'ies'}, ${n.contextEntries} context entr${n.contextEntries === 1 ? 'y' : 'ies'}` +
    (d.mode === 'scalable' ? `, ${n.pasidDirEntries} PASID directory entr${n.pasidDirEntries === 1 ? 'y' : 'ies'}, ${n.pasidEntries} PASID entr${n.pasidEntries === 1 ? 'y' : 'ies'}` : ''));
  for (const note of d.notes) out.push(`note: ${note}`);
  return out.join('\n');
}

export async function dumpCommand(argv: string[]): Promise<number> {
  const v = parse('dump', argv, {
    image: { type: 'string' }, demo: { type: 'boolean' }, sid: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    process.stdout.write(`${DUMP_USAGE}\n`);
    return 0;
  }
  need(v.image !== undefined || v.demo, 'dump', 'give --image FILE or --demo');
  need(!(v.image !== undefined && v.demo), 'dump', 'give --image FILE or --demo, not both');
  const img = await loadImage(v.image, v.sid === undefined ? DEMO_SID : parseSid(v.sid));
  const vtd = await unitOf(img, false);
  const d = dumpStructures(vtd.memory, vtd.root, { ...vtd.caps }, describeImage(img));
  process.stdout.write(v.json ? `${JSON.stringify(d, null, 2)}\n` : `${formatDump(d)}\n`);
  return 0;
}

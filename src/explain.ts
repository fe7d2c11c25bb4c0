/**
 * Explains one translation step by step: every structure the walk reads (its guest-physical
 * address, raw value and decoded fields), every A/D update it would make, and the result or
 * fault. It runs the reference walker over a copy-on-write view of guest memory, so explaining
 * changes nothing in the unit (no A/D bits, no cache fills).
 */
import type { GuestMemory } from './memory/guest-memory.js';
import { refTranslate, type RefMemory, type WalkStep } from './reference/index.js';
import type { Caps } from './spec/caps.js';
import { FAULT_DESCRIPTIONS } from './spec/faults.js';
import type { TranslateRequest, TranslateResult } from './types.js';

export interface ExplainedField {
  name: string;
  /** Bit range within the entry, e.g. "8:6" or "63". */
  bits: string;
  value: string;
}

export interface ExplainedStep {
  structure: WalkStep['structure'];
  title: string;
  gpa: bigint;
  /** Raw qwords as read (undefined: the read was outside guest RAM). */
  raw: bigint[] | undefined;
  fields: ExplainedField[];
  level?: number;
}

export interface Explanation {
  request: TranslateRequest;
  steps: ExplainedStep[];
  result: TranslateResult;
  /** The fault's meaning, from the VT-d fault-reason table. */
  faultDescription?: string;
}

/** What the explainer needs of a unit. */
export interface ExplainTarget {
  memory: GuestMemory;
  caps: Readonly<Caps>;
  root: { address: bigint; scalable: boolean } | undefined;
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const bitsOf = (q: bigint, hi: number, lo: number) => (q >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
const PGTT_NAMES = ['reserved (000b)', 'first-stage', 'second-stage', 'nested', 'pass-through', 'reserved (101b)', 'reserved (110b)', 'reserved (111b)'];

type FieldSpec = [name: string, hi: number, lo: number, show?: 'hex' | 'bool' | ((v: bigint) => string)];

function decode(qwords: bigint[], specs: FieldSpec[]): ExplainedField[] {
  return specs.map(([name, hi, lo, show]) => {
    const q = qwords[Math.floor(lo / 64)] ?? 0n;
    const v = bitsOf(q, hi % 64, lo % 64);
    const value = typeof show === 'function' ? show(v) : show === 'hex' ? hex(v << BigInt(lo % 64 === 12 ? 12 : 0)) : show === 'bool' ? (v ? '1' : '0') : v.toString();
    return { name, bits: hi === lo ? `${hi}` : `${hi}:${lo}`, value };
  });
}

const addr = (v: bigint) => hex(v << 12n);

function fieldsOf(step: WalkStep): { title: string; specs: FieldSpec[] } {
  switch (step.structure) {
    case 'root-entry':
      return step.legacy
        ? { title: 'Root entry (legacy)', specs: [['P', 0, 0, 'bool'], ['CTP', 63, 12, addr]] }
        : { title: 'Root entry (scalable mode)', specs: [['LP', 0, 0, 'bool'], ['LCTP', 63, 12, addr], ['UP', 64, 64, 'bool'], ['UCTP', 127, 76, addr]] };
    case 'context-entry':
      return step.legacy
        ? {
            title: 'Context entry (legacy, 128-bit)',
            specs: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['TT', 3, 2], ['SSPTPTR', 63, 12, addr], ['AW', 66, 64], ['DID', 87, 72]],
          }
        : {
            title: 'Context entry (scalable mode, 256-bit)',
            specs: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['DTE', 2, 2, 'bool'], ['PASIDE', 3, 3, 'bool'], ['PRE', 4, 4, 'bool'],
              ['PDTS', 11, 9, (v) => `${v} (${2n ** (v + 7n)} directory entries)`], ['PASIDDIRPTR', 63, 12, addr], ['RID_PASID', 83, 64, 'hex'], ['RID_PRIV', 84, 84, 'bool']],
          };
    case 'pasid-dir-entry':
      return { title: 'PASID directory entry', specs: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['PTP (PASID table)', 63, 12, addr]] };
    case 'pasid-entry':
      return {
        title: 'PASID table entry (512-bit)',
        specs: [['P', 0, 0, 'bool'], ['FPD', 1, 1, 'bool'], ['AW', 4, 2, (v) => `${v} (${v + 2n}-level second stage)`],
          ['PGTT', 8, 6, (v) => `${v.toString(2).padStart(3, '0')}b ${PGTT_NAMES[Number(v)]}`], ['SSADE', 9, 9, 'bool'], ['SSPTPTR', 63, 12, addr],
          ['DID', 79, 64], ['SRE', 128, 128, 'bool'], ['ERE', 129, 129, 'bool'], ['FSPM', 131, 130, (v) => `${v} (${v === 0n ? '4-level' : v === 1n ? '5-level' : 'reserved'})`],
          ['WPE', 132, 132, 'bool'], ['EAFE', 135, 135, 'bool'], ['FSPTPTR', 191, 140, addr]],
      };
    case 'fs-entry':
      return {
        title: `First-stage entry, level ${step.level}`,
        specs: [['P', 0, 0, 'bool'], ['R/W', 1, 1, 'bool'], ['U/S', 2, 2, 'bool'], ['A', 5, 5, 'bool'], ['D', 6, 6, 'bool'], ['PS', 7, 7, 'bool'],
          ['EA', 10, 10, 'bool'], ['Address', 51, 12, addr], ['XD', 63, 63, 'bool']],
      };
    case 'ss-entry':
      return {
        title: `Second-stage entry, level ${step.level}`,
        specs: [['R', 0, 0, 'bool'], ['W', 1, 1, 'bool'], ['X', 2, 2, 'bool'], ['PS', 7, 7, 'bool'], ['SNP', 11, 11, 'bool'], ['Address', 51, 12, addr]],
      };
    case 'ad-update':
      return { title: `A/D update of the level-${step.level} first-stage entry`, specs: [['A', 5, 5, 'bool'], ['D', 6, 6, 'bool'], ['EA', 10, 10, 'bool']] };
  }
}

/** Reads guest RAM; writes stay in an overlay so the explanation has no side effects. */
class OverlayMemory implements RefMemory {
  private readonly writes = new Map<bigint, bigint>();
  constructor(private readonly mem: GuestMemory) {}
  read64(gpa: bigint): bigint | undefined {
    const w = this.writes.get(gpa);
    if (w !== undefined) return w;
    return this.mem.contains(gpa, 8) ? this.mem.readU64(gpa) : undefined;
  }
  write64(gpa: bigint, value: bigint): void {
    this.writes.set(gpa, value);
  }
  spanInside(gpa: bigint, bytes: number): boolean {
    return this.mem.contains(gpa, bytes);
  }
}

/** Explain how `target` translates `req` (no side effects). */
export function explainTranslation(target: ExplainTarget, req: TranslateRequest): Explanation {
  const steps: ExplainedStep[] = [];
  const env = {
    mem: new OverlayMemory(target.memory),
    caps: target.caps as Caps,
    te: target.root !== undefined,
    scalable: target.root?.scalable ?? true,
    rtaddr: target.root?.address ?? 0n,
    trace: (s: WalkStep) => {
      const { title, specs } = fieldsOf(s);
      steps.push({
        structure: s.structure, title, gpa: s.gpa, raw: s.qwords, level: s.level,
        fields: s.qwords ? decode(s.qwords, specs) : [],
      });
    },
  };
  const result = refTranslate(env, req);
  return result.ok ? { request: req, steps, result } : { request: req, steps, result, faultDescription: FAULT_DESCRIPTIONS[result.fault.reason] ?? 'unknown fault reason' };
}

/** The explanation as plain text (what `vtd-emu walk` prints). */
export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  const r = e.request;
  lines.push(`request: sid ${hex(r.sid)} (${(r.sid >> 8).toString(16).padStart(2, '0')}:${((r.sid >> 3) & 31).toString(16).padStart(2, '0')}.${r.sid & 7})` +
    `${r.pasid === undefined ? ', no PASID' : `, PASID ${hex(r.pasid)}`}, iova ${hex(r.iova)}, ${r.write ? 'write' : 'read'}${r.exec ? ', execute' : ''}${r.priv ? ', supervisor' : ''}`);
  for (const s of e.steps) {
    lines.push('');
    lines.push(`${s.title} @ GPA ${hex(s.gpa)}`);
    if (!s.raw) {
      lines.push('  (outside guest RAM)');
      continue;
    }
    lines.push(`  raw ${s.raw.map((q) => hex(q).padStart(18)).join(' ')}`);
    lines.push(`  ${s.fields.map((f) => `${f.name}[${f.bits}]=${f.value}`).join('  ')}`);
  }
  lines.push('');
  const res = e.result;
  lines.push(res.ok
    ? `result: ${hex(res.address)} (${res.pageSize >= 1 << 30 ? '1 GiB' : res.pageSize >= 1 << 21 ? '2 MiB' : '4 KiB'} page, ${res.read ? 'R' : '-'}${res.write ? 'W' : '-'}${res.exec ? 'X' : '-'})`
    : `fault: 0x${res.fault.reason.toString(16)} ${res.fault.name}${res.fault.level ? ` at level ${res.fault.level}` : ''}: ${e.faultDescription}`);
  return lines.join('\n');
}

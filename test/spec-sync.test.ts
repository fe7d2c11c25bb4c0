// One source of truth for numbers both sides need: the AssemblyScript constants must equal
// the TypeScript ones they mirror.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CapFlag } from '../src/spec/caps.js';
import { FaultReason } from '../src/spec/faults.js';

function asConstants(file: string, prefix: string): Map<string, number> {
  const src = readFileSync(new URL(`../assembly/${file}`, import.meta.url), 'utf8');
  const out = new Map<string, number>();
  const re = new RegExp(`export const ${prefix}(\\w+): u32 = ([^;]+);`, 'g');
  for (const m of src.matchAll(re)) out.set(m[1]!, Number(eval(m[2]!)));
  return out;
}

describe('assembly and TypeScript agree on', () => {
  it('every fault reason the core can raise', () => {
    const fr = asConstants('faults.ts', 'FR_');
    expect(fr.size).toBeGreaterThan(40);
    for (const [name, value] of fr) expect([name, value]).toEqual([name, FaultReason[name as keyof typeof FaultReason]]);
  });

  it('the capability feature bits', () => {
    const caps = asConstants('caps.ts', 'CAP_');
    expect([...caps.keys()].sort()).toEqual(Object.keys(CapFlag).sort());
    for (const [name, value] of caps) expect(value).toBe(CapFlag[name as keyof typeof CapFlag]);
  });
});

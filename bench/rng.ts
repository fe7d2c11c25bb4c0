/**
 * Deterministic random numbers for scenario generation. splitmix64 (BigInt, only for seeding)
 * expands the seed into the 128-bit state of xoshiro128** (32-bit arithmetic, fast in JS),
 * which generates the tables and requests. Same seed, same tables, same requests.
 */

const M64 = (1n << 64n) - 1n;

/** splitmix64, as in native_walk.c's `rnd()`. */
export function splitmix64(state: bigint): { value: bigint; state: bigint } {
  const s = (state + 0x9e3779b97f4a7c15n) & M64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return { value: z ^ (z >> 31n), state: s };
}

/** FNV-1a of a string: derives per-scenario seeds from names. */
export function hashName(name: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < name.length; i++) {
    h ^= BigInt(name.charCodeAt(i));
    h = (h * 0x100000001b3n) & M64;
  }
  return h;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: bigint | number) {
    let st = BigInt.asUintN(64, BigInt(seed));
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      const r = splitmix64(st);
      st = r.state;
      words.push(Number(r.value & 0xffff_ffffn), Number(r.value >> 32n));
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** xoshiro128**: a uniform 32-bit unsigned integer. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n), n <= 2^53. */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform bigint in [0, n). */
  belowBig(n: bigint): bigint {
    if (n <= 1n << 53n) return BigInt(this.below(Number(n)));
    const bits = n.toString(2).length;
    for (;;) {
      let v = 0n;
      for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(this.u32());
      v &= (1n << BigInt(bits)) - 1n;
      if (v < n) return v;
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

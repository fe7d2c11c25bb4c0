/**
 * A validator for the subset of JSON Schema (draft 2020-12) that bench/schema.json uses:
 * type, enum, const, properties, required, additionalProperties, items, minItems, maxItems,
 * minimum, maximum, pattern, anyOf, and $ref to "#/$defs/...". A keyword outside that subset
 * is an error (so the schema cannot silently rely on something this does not check).
 * Annotations ($schema, $id, title, description, $defs) are accepted and ignored.
 */

export type JsonSchema = boolean | { [keyword: string]: unknown };

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs']);
const CHECKED = new Set(['type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems',
  'minimum', 'maximum', 'pattern', 'anyOf', '$ref']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function hasType(v: unknown, t: string): boolean {
  switch (t) {
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'object': return typeOf(v) === 'object';
    default: return typeOf(v) === t;
  }
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

const ptr = (path: string, key: string | number): string => `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** Validates `value` against `schema`; returns the errors as "JSON-pointer: message" (empty when valid). */
export function validate(schema: JsonSchema, value: unknown): string[] {
  const root = schema;
  const errors: string[] = [];

  const resolve = (ref: string): JsonSchema => {
    const m = /^#\/\$defs\/([^/]+)$/.exec(ref);
    const defs = typeof root === 'object' ? (root.$defs as Record<string, JsonSchema> | undefined) : undefined;
    const s = m ? defs?.[m[1]!] : undefined;
    if (s === undefined) throw new Error(`schema: unresolvable $ref '${ref}'`);
    return s;
  };

  const check = (s: JsonSchema, v: unknown, path: string, out: string[]): void => {
    if (s === true) return;
    if (s === false) {
      out.push(`${path || '/'}: not allowed`);
      return;
    }
    for (const k of Object.keys(s)) {
      if (!ANNOTATIONS.has(k) && !CHECKED.has(k)) throw new Error(`schema: keyword '${k}' at ${path || '/'} is not supported by this validator`);
    }
    const at = path || '/';
    if (s.$ref !== undefined) check(resolve(s.$ref as string), v, path, out);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => hasType(v, t))) {
        out.push(`${at}: expected ${types.join(' or ')}, got ${typeOf(v)}`);
        return;
      }
    }
    if (s.const !== undefined && !equal(v, s.const)) out.push(`${at}: expected ${JSON.stringify(s.const)}, got ${JSON.stringify(v)}`);
    if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => equal(v, e))) {
      out.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
    }
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) out.push(`${at}: ${v} is below the minimum ${s.minimum}`);
      if (typeof s.maximum === 'number' && v > s.maximum) out.push(`${at}: ${v} is above the maximum ${s.maximum}`);
    }
    if (typeof v === 'string' && typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) {
      out.push(`${at}: '${v}' does not match /${s.pattern}/`);
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) out.push(`${at}: ${v.length} items, fewer than ${s.minItems}`);
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) out.push(`${at}: ${v.length} items, more than ${s.maxItems}`);
      if (s.items !== undefined) v.forEach((x, i) => check(s.items as JsonSchema, x, ptr(path, i), out));
    }
    if (typeOf(v) === 'object') {
      const o = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, JsonSchema>;
      for (const r of (s.required ?? []) as string[]) if (!Object.hasOwn(o, r)) out.push(`${at}: missing required property '${r}'`);
      for (const [k, x] of Object.entries(o)) {
        if (Object.hasOwn(props, k)) check(props[k]!, x, ptr(path, k), out);
        else if (s.additionalProperties !== undefined) {
          if (s.additionalProperties === false) out.push(`${ptr(path, k)}: property not allowed`);
          else check(s.additionalProperties as JsonSchema, x, ptr(path, k), out);
        }
      }
    }
    if (s.anyOf !== undefined) {
      const branches = s.anyOf as JsonSchema[];
      const tries = branches.map((b) => {
        const e: string[] = [];
        check(b, v, path, e);
        return e;
      });
      if (!tries.some((e) => e.length === 0)) out.push(`${at}: matches none of anyOf (${tries.map((e) => e[0]).join(' | ')})`);
    }
  };

  check(schema, value, '', errors);
  return errors;
}

/**
 * The object table of one iommufd context (§2): ids from the kernel's allocator (lowest free
 * index from 1, up to INT_MAX, reused after DESTROY), typed lookups that fail with ENOENT,
 * and the `users` refcount every holder takes.
 */
import { fail } from './errors.js';
import type { ObjectType } from './types.js';

/** IDs are `xa_limit_31b` (main.c: _iommufd_object_alloc). */
export const MAX_OBJECT_ID = 0x7fff_ffff;

export interface BaseObject {
  readonly id: number;
  readonly type: ObjectType;
  /** The kernel's obj->users: 1 (the object's own) + one per holder. */
  users: number;
  /** Creation order (for teardown in reverse creation order). */
  readonly seq: number;
}

export class ObjectTable<T extends BaseObject> {
  private readonly byId = new Map<number, T>();
  private seq = 0;

  get size(): number {
    return this.byId.size;
  }

  /** The id the next allocation gets: the lowest free index from 1 (XA_FLAGS_ALLOC1). */
  nextId(): number {
    for (let id = 1; id <= MAX_OBJECT_ID; id++) if (!this.byId.has(id)) return id;
    return fail('ENOSPC', 'object table full (ids are 31-bit)');
  }

  /** Creation sequence number for a new object. */
  nextSeq(): number {
    return ++this.seq;
  }

  /** Finalize a new object (its id came from nextId()). */
  insert(obj: T): T {
    if (this.byId.has(obj.id)) throw new Error(`internal: object id ${obj.id} in use`);
    this.byId.set(obj.id, obj);
    return obj;
  }

  /** Drop an object from the table (its id becomes free). */
  remove(obj: T): void {
    if (this.byId.get(obj.id) !== obj) throw new Error(`internal: object ${obj.id} is not in the table`);
    this.byId.delete(obj.id);
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  /** iommufd_get_object(ictx, id, IOMMUFD_OBJ_ANY): ENOENT if missing. */
  get(id: number, what = 'object'): T {
    const o = this.byId.get(id);
    if (o === undefined) fail('ENOENT', `${what} id ${id} does not exist (iommufd_get_object)`);
    return o;
  }

  /** iommufd_get_object(ictx, id, type): ENOENT if missing or of another type. */
  getTyped<K extends ObjectType>(id: number, type: K, what: string = type): Extract<T, { type: K }> {
    const o = this.byId.get(id);
    if (o === undefined || o.type !== type) {
      fail('ENOENT', `${what} id ${id} ${o === undefined ? 'does not exist' : `is a ${o.type}, not a ${type}`} (iommufd_get_object)`);
    }
    return o as Extract<T, { type: K }>;
  }

  /** The live object with this id, if any (no errno). */
  peek(id: number): T | undefined {
    return this.byId.get(id);
  }

  all(): T[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }
}

/** refcount_inc(&obj->users). */
export function hold(obj: BaseObject): void {
  obj.users++;
}

/** refcount_dec(&obj->users); a holder never drops the object's own reference. */
export function release(obj: BaseObject): void {
  if (obj.users <= 1) throw new Error(`internal: refcount underflow on object ${obj.id} (${obj.type})`);
  obj.users--;
}

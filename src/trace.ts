/**
 * Trace events: a tiny event emitter (no dependency) for the notable things a unit does —
 * register writes, descriptors, faults, and the host bind path. Event names and argument
 * names/order follow QEMU's hw/i386/trace-events ("# intel_iommu.c") where QEMU has the event
 * (e.g. `vtd_device_attach_hwpt { dev_id, pasid, hwpt_id, ret }`); vtd-emu's own events
 * use the same `vtd_` prefix.
 *
 * ```ts
 * const vtd = await Vtd.create();
 * vtd.on('trace', (name, args) => console.log(name, args));
 * // or share one tracer between units: Vtd.create({ tracer })
 * ```
 *
 * Listeners run synchronously, in registration order. A listener that throws propagates the
 * exception to whatever emitted the event (as Node's EventEmitter does). The host bind path
 * holds its events back until a step's state changes are complete, so a throwing listener
 * cannot leave a binding half-done (inside an invalidation hook, the exception fails the
 * descriptor like any hook error).
 */

/** One trace event: its name and its arguments (in QEMU's order, as insertion order). */
export type TraceListener = (name: string, args: Readonly<Record<string, unknown>>) => void;

/** The events a unit emits, by name. */
export interface VtdEventMap {
  trace: TraceListener;
}

export type VtdEventName = keyof VtdEventMap;

export class Tracer {
  private listeners: TraceListener[] = [];

  /** Add a listener (the same function twice is called twice, as EventEmitter does). */
  on<K extends VtdEventName>(event: K, listener: VtdEventMap[K]): this {
    checkEvent(event);
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    this.listeners = [...this.listeners, listener];
    return this;
  }

  /** Remove one registration of `listener` (the most recent one). */
  off<K extends VtdEventName>(event: K, listener: VtdEventMap[K]): this {
    checkEvent(event);
    const i = this.listeners.lastIndexOf(listener);
    if (i >= 0) this.listeners = [...this.listeners.slice(0, i), ...this.listeners.slice(i + 1)];
    return this;
  }

  /** A listener is registered: emitters skip building arguments otherwise. */
  get active(): boolean {
    return this.listeners.length > 0;
  }

  /** Number of listeners for `event`. */
  listenerCount(event: VtdEventName): number {
    checkEvent(event);
    return this.listeners.length;
  }

  emit(name: string, args: Readonly<Record<string, unknown>>): void {
    // The array is replaced (never mutated) on on/off: a listener that adds or removes
    // listeners does not change this round.
    for (const l of this.listeners) l(name, args);
  }
}

function checkEvent(event: string): void {
  if (event !== 'trace') throw new TypeError(`unknown event '${String(event)}' (events: 'trace')`);
}

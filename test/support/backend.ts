/** Assertions the backend tests share: a call fails with the kernel's errno, and cleanly. */
import { expect } from 'vitest';
import { BackendError, type Errno, type SimIommufd } from '../../src/backend/index.js';

/** The call throws a BackendError carrying `errno`; returns it. */
export function expectErrno(fn: () => unknown, errno: Errno): BackendError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BackendError);
    expect((e as BackendError).errno, (e as Error).message).toBe(errno);
    return e as BackendError;
  }
  throw new Error(`expected ${errno}, but the call succeeded`);
}

/** The call fails with `errno` and leaves the whole state exactly as it was. */
export function expectFailsCleanly(sim: SimIommufd, fn: () => unknown, errno: Errno): BackendError {
  const before = sim.state();
  const e = expectErrno(fn, errno);
  expect(sim.state()).toEqual(before);
  expect(sim.checkConsistency()).toEqual([]);
  return e;
}

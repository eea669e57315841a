/**
 * Blocks the thread for `ms` milliseconds. vfioctl runs synchronously from start to end (sysfs writes,
 * the lock, reads of a pipe, writes to a full stdout), so its waits block too: Atomics.wait on a private
 * cell, which sleeps in the kernel instead of spinning.
 */
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

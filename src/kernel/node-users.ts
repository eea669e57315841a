import fs from 'node:fs';
import path from 'node:path';
import { listDirOrEmpty, readOptional } from '../host/sysfs-read.js';

/** A process that holds a node open: its pid and `comm` (the name ps shows, e.g. qemu-system-x86). */
export interface NodeUser {
  pid: number;
  comm: string;
}

/**
 * The processes under `root` that hold any of `nodes` (host paths: /dev/vfio/10, /dev/vfio/devices/vfio0)
 * open, found as fuser finds them: each ROOT/proc/PID/fd/* link names the file it is open on. A process that
 * ends or whose fds cannot be read (another user's, without root) is skipped. Read only; nodes nobody holds
 * are absent from the map.
 */
export function vfioNodeUsers(root: string, nodes: readonly string[]): Map<string, NodeUser[]> {
  const want = new Set(nodes);
  const out = new Map<string, NodeUser[]>();
  if (want.size === 0) return out;
  const proc = path.join(root, 'proc');
  for (const pid of listDirOrEmpty(proc)) {
    if (!/^[0-9]+$/.test(pid)) continue;
    const found = new Set<string>();
    for (const fd of listDirOrEmpty(path.join(proc, pid, 'fd'))) {
      let target: string;
      try {
        target = fs.readlinkSync(path.join(proc, pid, 'fd', fd));
      } catch {
        continue;
      }
      if (want.has(target)) found.add(target);
    }
    if (found.size === 0) continue;
    let comm = '?';
    try {
      // Non-blocking (src/host/sysfs-read.ts): a FIFO as comm in a --root tree must not hang the run.
      comm = readOptional(path.join(proc, pid, 'comm'))?.trim() || '?';
    } catch {
      // ended meanwhile, or not the kernel's file: keep the pid
    }
    for (const node of found) out.set(node, [...(out.get(node) ?? []), { pid: Number(pid), comm }]);
  }
  return out;
}

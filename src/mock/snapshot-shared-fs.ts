import path from 'node:path';
import { listDir, readOptional, readTextFile } from '../host/sysfs-read.js';
import { SHARED_FS_TAG, type HostDescription } from './description.js';

/**
 * The tag of a 9p or virtiofs filesystem a virtio function serves (DEV/virtioN/mount_tag for 9p, tag for
 * virtiofs), when it has a valid one; mounts of it are recorded with the tag as their source.
 */
export function snapshotSharedFs(deviceDir: string): { fstype: '9p' | 'virtiofs'; tag: string } | undefined {
  for (const e of (listDir(deviceDir) ?? []).filter((n) => /^virtio[0-9]+$/.test(n)).sort()) {
    for (const [file, fstype] of [['mount_tag', '9p'], ['tag', 'virtiofs']] as const) {
      const tag = readOptional(path.join(deviceDir, e, file))?.replace(/\0/g, '').trim();
      if (tag !== undefined && SHARED_FS_TAG.test(tag)) return { fstype, tag };
    }
  }
  return undefined;
}

/** The mounts of the recorded 9p/virtiofs tags: proc/mounts lines whose source is one. */
export function sharedFsMounts(procMounts: string, tags: Map<string, string>): HostDescription['mounts'] {
  const out: HostDescription['mounts'] = [];
  for (const line of (readTextFile(procMounts) ?? '').split('\n')) {
    const [source, target, fstype] = line.split(' ');
    if (source && target && fstype && tags.get(source) === fstype) out.push({ source, target, fstype });
  }
  return out;
}

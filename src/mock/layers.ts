import fs from 'node:fs';
import path from 'node:path';
import type { HostDescription } from './description.js';
import { writeNetUppers } from './net-uppers.js';
import { writeStorageLayers } from './storage-layers.js';

/**
 * What sits above the PCI functions in a simulated host: upper network devices (bridges, bonds, VLANs ...)
 * on their interfaces, and the block layers (partitions' major:minor, device-mapper, MD RAID, bcache, ZFS
 * pools, btrfs) under its mounts and swap. Called once by materializeHost, after the devices and proc exist.
 */
export function materializeLayers(root: string, desc: HostDescription): void {
  writeNetUppers(root, desc);
  writeStorageLayers(root, desc);
}

/** A relative symlink, as the kernel's sysfs links are. */
export function relativeLink(target: string, link: string): void {
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(path.relative(path.dirname(link), target), link);
}

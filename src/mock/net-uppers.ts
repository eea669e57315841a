import fs from 'node:fs';
import path from 'node:path';
import type { HostDescription, NetUpperDescription } from './description.js';
import { relativeLink } from './layers.js';

/**
 * Upper network devices as the kernel lays them out (net/core/dev.c, __netdev_adjacent_dev_insert):
 * sys/devices/virtual/net/UPPER with lower_LOWER links, and in each lower's directory upper_UPPER and, for
 * a master (bridge, bond, team, Open vSwitch datapath), `master`. A bridge also has bridge/ and brif/PORT
 * (a link to the port's brport/), a bond bonding/slaves. DEVTYPE in uevent is the device type the bridge,
 * bond and 8021q drivers register (bridge, bond, vlan); the others set none.
 */
const MASTERS = new Set(['bridge', 'bond', 'team', 'openvswitch']);
const DEVTYPE: Record<string, string | undefined> = { bridge: 'bridge', bond: 'bond', vlan: 'vlan' };

export function writeNetUppers(root: string, desc: HostDescription): void {
  const classNet = path.join(root, 'sys/class/net');
  desc.netUppers?.forEach((u, i) => writeUpper(classNet, path.join(root, 'sys/devices/virtual/net', u.name), u, 100 + i));
}

function writeUpper(classNet: string, dir: string, u: NetUpperDescription, ifindex: number): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'operstate'), `${u.operstate}\n`);
  fs.writeFileSync(path.join(dir, 'type'), '1\n');
  const devtype = DEVTYPE[u.kind];
  fs.writeFileSync(path.join(dir, 'uevent'), `${devtype ? `DEVTYPE=${devtype}\n` : ''}INTERFACE=${u.name}\nIFINDEX=${ifindex}\n`);
  relativeLink(dir, path.join(classNet, u.name));
  if (u.kind === 'bridge') fs.mkdirSync(path.join(dir, 'bridge'));
  if (u.kind === 'bond') fs.mkdirSync(path.join(dir, 'bonding'));
  if (u.kind === 'bridge') fs.mkdirSync(path.join(dir, 'brif'));
  for (const lower of u.lowers) {
    const lowerDir = fs.realpathSync(path.join(classNet, lower));
    relativeLink(lowerDir, path.join(dir, `lower_${lower}`));
    relativeLink(dir, path.join(lowerDir, `upper_${u.name}`));
    if (MASTERS.has(u.kind)) relativeLink(dir, path.join(lowerDir, 'master'));
    if (u.kind === 'bridge') {
      fs.mkdirSync(path.join(lowerDir, 'brport'));
      relativeLink(path.join(lowerDir, 'brport'), path.join(dir, 'brif', lower));
    }
  }
  if (u.kind === 'bond') fs.writeFileSync(path.join(dir, 'bonding', 'slaves'), `${u.lowers.join(' ')}\n`);
}

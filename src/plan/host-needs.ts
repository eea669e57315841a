import type { DeviceUse, UpperUse } from '../host/usage.js';
import type { UpperHop } from '../host/net-uppers.js';
import type { BlockLayer } from '../host/block-stack.js';
import type { PciDevice } from '../pci/device.js';
import { isVfioDriver } from './vfio-driver.js';
import { PCI_STUB } from '../pci/driver.js';

/**
 * Why the host needs a device: the reasons vfioctl refuses to take it away without --force
 * (README, "What the host needs"). Empty when the host can spare it.
 */
export function hostNeeds(dev: PciDevice, use: DeviceUse): string[] {
  const reasons: string[] = [];
  const sequestered = dev.driver === null || isVfioDriver(dev.driver) || dev.driver === PCI_STUB;
  if (dev.bootVga && !sequestered) {
    reasons.push(`it is the boot GPU (boot_vga=1) driven by ${dev.driver}: the host's console runs on it`);
  }
  for (const n of use.net) {
    if (n.up && n.defaultRoute) reasons.push(`its interface ${n.name} is up and carries the host's default route`);
    else if (n.up && (n.routes > 0 || n.addresses)) reasons.push(`its interface ${n.name} is up with addresses and routes`);
    for (const u of n.uppers ?? []) reasons.push(`its interface ${upperChainSentence(n.name, u)}`);
  }
  for (const b of use.block) {
    if (b.layers) {
      const chain = blockChainPhrase(b.layers);
      if (b.mountpoint !== undefined) reasons.push(`it serves ${chain}, which holds ${b.mountpoint}`);
      if (b.swap) reasons.push(`it serves ${chain}, which is in use as swap`);
      continue;
    }
    if (b.mountpoint !== undefined) reasons.push(`it holds ${b.device}, mounted at ${b.mountpoint}`);
    if (b.swap) reasons.push(`it holds ${b.device}, in use as swap`);
  }
  return reasons.length < 2 ? reasons : [...new Set(reasons)];
}

/**
 * "eno1 is the only port of br0, which carries the default route"; "eno1 is a port of bond0 (with eno2),
 * which is a port of br0, which has routes to 192.0.2.0/24".
 */
export function upperChainSentence(iface: string, u: UpperUse): string {
  const parts = [iface];
  u.chain.forEach((hop, i) => parts.push(`${i === 0 ? '' : 'which '}${hopPhrase(hop)}`));
  return `${parts.join(' ').replace(/ which /g, ', which ')}, ${carries(u)}`;
}

function hopPhrase(hop: UpperHop): string {
  const kind = hop.kind === 'device' ? '' : hop.kind === 'openvswitch' ? 'the Open vSwitch datapath ' : `${hop.kind === 'vlan' ? 'VLAN' : hop.kind} `;
  if (hop.relation === 'port') {
    const named = hop.kind === 'openvswitch' ? `${kind}${hop.name}` : hop.name;
    return hop.others.length === 0 ? `is the only port of ${named}` : `is a port of ${named} (with ${hop.others.join(', ')})`;
  }
  return `carries ${kind}${hop.name}`;
}

function carries(u: UpperUse): string {
  if (u.chain[u.chain.length - 1]!.kind === 'openvswitch' && !u.defaultRoute && u.routes === 0 && !u.addresses) {
    return "which carries the traffic of the host's Open vSwitch bridges";
  }
  if (u.defaultRoute) return 'which carries the default route';
  if (u.prefixes && u.prefixes.length > 0) return `which has routes to ${u.prefixes.slice(0, 3).join(', ')}${u.prefixes.length > 3 ? ' ...' : ''}`;
  return 'which has addresses';
}

const STACKED: Record<string, string> = { lvm: 'LVM volume', crypt: 'encrypted volume', multipath: 'multipath device', dm: 'device-mapper device' };

/** "sda, a member of ZFS pool rpool"; "nvme0n1, its partition nvme0n1p3, under LVM volume pve-root (dm-1)". */
export function blockChainPhrase(layers: BlockLayer[]): string {
  return layers
    .map((l, i) => {
      switch (l.kind) {
        case 'disk':
          return l.name;
        case 'partition':
          return i === 0 ? `partition ${l.name}` : `its partition ${l.name}`;
        case 'md':
          return `under RAID ${l.name}`;
        case 'bcache':
          return `under ${l.name} (bcache)`;
        case 'zfs':
          return `a member of ZFS pool ${l.name}`;
        case 'btrfs':
          return `a device of the btrfs filesystem on ${l.name}`;
        default:
          return `under ${STACKED[l.kind]} ${l.label ? `${l.label} (${l.name})` : l.name}`;
      }
    })
    .join(', ');
}

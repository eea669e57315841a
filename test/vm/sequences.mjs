// The write sequences run on the real kernel (in the guest) and on the simulated kernel (on the host, loaded
// with the guest's snapshot), step by step: the result of each write and the drivers of every device after it
// must agree. Each sequence leaves the devices as it found them. Placeholders are resolved from the guest's
// topology by resolveRoles() (the same function on both sides).
//
// A step: { path, value } with {NIC1}, {NIC2} (the e1000 NICs behind the PCIe-to-PCI bridge), {BRIDGE},
// {SOLO} (an e1000e alone in its group), {EDU} (QEMU's edu device: an endpoint no driver claims); with QEMU's
// igb (guest/sriov.mjs enables two VFs before the snapshot): {PF} on igb, {VF0}, {VF1} on igbvf.

/** Finds the roles in a host description (vfioctl-host/1) — the guest's snapshot. */
export function resolveRoles(desc) {
  const byGroup = new Map();
  for (const d of desc.devices) {
    if (d.iommuGroup === null) continue;
    const list = byGroup.get(d.iommuGroup) ?? [];
    list.push(d);
    byGroup.set(d.iommuGroup, list);
  }
  const groups = [...byGroup.values()];
  const bridgeGroup = groups.find((g) => g.some((d) => d.class.startsWith('0604') && d.driver === null) && g.filter((d) => d.vendor === '8086' && d.device === '100e').length === 2);
  const solo = groups.find((g) => g.length === 1 && g[0].vendor === '8086' && g[0].device === '10d3' && g[0].parent !== null);
  const edu = desc.devices.find((d) => d.vendor === '1234' && d.device === '11e8');
  if (!bridgeGroup || !solo || !edu) throw new Error(`the guest lacks the expected devices (bridge group: ${!!bridgeGroup}, solo e1000e: ${!!solo}, edu: ${!!edu})`);
  const nics = bridgeGroup.filter((d) => d.device === '100e').map((d) => d.address).sort();
  const roles = { NIC1: nics[0], NIC2: nics[1], BRIDGE: bridgeGroup.find((d) => d.class.startsWith('0604')).address, SOLO: solo[0].address, EDU: edu.address };
  // The igb PF (82576) and its VFs, when the guest has them (QEMU >= 8).
  const pf = desc.devices.find((d) => d.vendor === '8086' && d.device === '10c9' && d.sriov);
  if (pf) {
    const vfs = desc.devices.filter((d) => d.physfn === pf.address).sort((a, b) => a.vfIndex - b.vfIndex);
    if (vfs.length !== 2) throw new Error(`the igb PF ${pf.address} has ${vfs.length} VFs in the snapshot, not 2`);
    Object.assign(roles, { PF: pf.address, VF0: vfs[0].address, VF1: vfs[1].address });
  }
  return roles;
}

const dev = (role, file) => `/sys/bus/pci/devices/{${role}}/${file}`;
const drv = (name, file) => `/sys/bus/pci/drivers/${name}/${file}`;
const PROBE = '/sys/bus/pci/drivers_probe';

export const SEQUENCES = [
  {
    name: 'detach the bridge group (driver_override), then reattach',
    steps: [
      [dev('NIC1', 'driver_override'), 'vfio-pci'],
      [dev('NIC2', 'driver_override'), 'vfio-pci'],
      [drv('e1000', 'unbind'), '{NIC2}'],
      [drv('e1000', 'unbind'), '{NIC1}'],
      [PROBE, '{NIC1}'],
      [PROBE, '{NIC2}'],
      [dev('NIC1', 'driver_override'), '\n'],
      [dev('NIC2', 'driver_override'), '\n'],
      [drv('vfio-pci', 'unbind'), '{NIC1}'],
      [drv('vfio-pci', 'unbind'), '{NIC2}'],
      [drv('e1000', 'bind'), '{NIC1}'],
      [drv('e1000', 'bind'), '{NIC2}'],
    ],
  },
  {
    name: 'errors while bound: wrong-driver unbind, double bind, other driver bind, unknown and garbage addresses',
    steps: [
      [drv('e1000e', 'unbind'), '{NIC1}'],
      [drv('e1000', 'bind'), '{NIC1}'],
      [drv('e1000e', 'bind'), '{NIC1}'],
      [drv('vfio-pci', 'bind'), '{NIC1}'],
      [PROBE, '{NIC1}'],
      [PROBE, '0000:7f:1f.7'],
      [drv('e1000', 'unbind'), 'garbage'],
      [drv('e1000', 'unbind'), '{NIC1}\n'],
      [drv('e1000', 'bind'), '{NIC1}\n'],
    ],
  },
  {
    name: 'bind while overridden; the override held by vfio-pci; the zero-length write trap',
    steps: [
      [dev('NIC1', 'driver_override'), 'vfio-pci'],
      [drv('vfio-pci', 'bind'), '{NIC1}'],
      [drv('e1000', 'unbind'), '{NIC1}'],
      [drv('e1000', 'bind'), '{NIC1}'],
      [PROBE, '{NIC1}'],
      [dev('NIC1', 'driver_override'), ''],
      [drv('vfio-pci', 'unbind'), '{NIC1}'],
      [PROBE, '{NIC1}'],
      [dev('NIC1', 'driver_override'), '\n'],
      [drv('vfio-pci', 'unbind'), '{NIC1}'],
      [PROBE, '{NIC1}'],
    ],
  },
  {
    name: 'IDs: duplicate new_id, unknown remove_id, new_id binding an unbound device at once',
    steps: [
      [drv('e1000', 'new_id'), '8086 100e'],
      [drv('vfio-pci', 'remove_id'), '8086 100e'],
      [drv('vfio-pci', 'new_id'), 'not an id'],
      [drv('vfio-pci', 'new_id'), '1234 11e8'],
      [drv('vfio-pci', 'new_id'), '1234 11e8'],
      [drv('vfio-pci', 'remove_id'), '1234 11e8'],
      [drv('vfio-pci', 'unbind'), '{EDU}'],
      [drv('vfio-pci', 'remove_id'), '1234 11e8'],
    ],
  },
  {
    name: 'overrides: oversized, to a driver that does not exist, on a bridge',
    steps: [
      [dev('NIC2', 'driver_override'), 'x'.repeat(4096)],
      [dev('NIC2', 'driver_override'), 'no_such_driver'],
      [drv('e1000', 'unbind'), '{NIC2}'],
      [PROBE, '{NIC2}'],
      [drv('no_such_driver', 'bind'), '{NIC2}'],
      [dev('NIC2', 'driver_override'), '\n'],
      [PROBE, '{NIC2}'],
      [dev('BRIDGE', 'driver_override'), 'vfio-pci'],
      [drv('vfio-pci', 'bind'), '{BRIDGE}'],
      [PROBE, '{BRIDGE}'],
      [dev('BRIDGE', 'driver_override'), '\n'],
    ],
  },
  {
    name: 'a single-device group: detach and reattach the lone e1000e',
    steps: [
      [dev('SOLO', 'driver_override'), 'vfio-pci'],
      [drv('e1000e', 'unbind'), '{SOLO}'],
      [PROBE, '{SOLO}'],
      [dev('SOLO', 'driver_override'), '\n'],
      [drv('vfio-pci', 'unbind'), '{SOLO}'],
      [PROBE, '{SOLO}'],
    ],
  },
];

/**
 * With the igb PF and its two VFs on igbvf (the snapshot's state). The sequence that unbinds the PF comes
 * last: igb's remove() takes the VFs away, and only the real kernel can make them again (sriov_numvfs).
 */
export const SRIOV_SEQUENCES = [
  {
    name: 'a VF: wrong-driver unbind, bind while bound, override, to vfio-pci and back to igbvf',
    steps: [
      [drv('igb', 'unbind'), '{VF0}'],
      [drv('vfio-pci', 'bind'), '{VF0}'],
      [drv('igbvf', 'bind'), '{VF0}'],
      [dev('VF0', 'driver_override'), 'vfio-pci'],
      [drv('igbvf', 'bind'), '{VF0}'],
      [drv('igbvf', 'unbind'), '{VF0}'],
      [drv('igbvf', 'bind'), '{VF0}'],
      [PROBE, '{VF0}'],
      [PROBE, '{VF1}'],
      [dev('VF0', 'driver_override'), '\n'],
      [drv('vfio-pci', 'unbind'), '{VF0}'],
      [drv('igbvf', 'bind'), '{VF0}'],
    ],
  },
  {
    name: 'the PF with VFs enabled, still on igb: vfio-pci bind without and with the override',
    steps: [
      [drv('vfio-pci', 'bind'), '{PF}'],
      [dev('PF', 'driver_override'), 'vfio-pci'],
      [drv('vfio-pci', 'bind'), '{PF}'],
      [PROBE, '{PF}'],
      [dev('PF', 'driver_override'), '\n'],
    ],
  },
  {
    name: "unbinding the PF's igb removes its VFs (one on vfio-pci); writes to the removed VFs; vfio-pci then takes the PF",
    steps: [
      [dev('VF0', 'driver_override'), 'vfio-pci'],
      [drv('igbvf', 'unbind'), '{VF0}'],
      [PROBE, '{VF0}'],
      [dev('PF', 'driver_override'), 'vfio-pci'],
      [drv('igb', 'unbind'), '{PF}'],
      [dev('VF0', 'driver_override'), '\n'],
      [drv('vfio-pci', 'unbind'), '{VF0}'],
      [PROBE, '{VF1}'],
      [drv('igbvf', 'bind'), '{VF1}'],
      [PROBE, '{PF}'],
      [dev('PF', 'driver_override'), '\n'],
      [drv('vfio-pci', 'unbind'), '{PF}'],
      [drv('igb', 'bind'), '{PF}'],
    ],
  },
];

/** The sequences for a guest: the SR-IOV ones only when it has the igb PF. */
export const sequencesFor = (roles) => (roles.PF ? [...SEQUENCES, ...SRIOV_SEQUENCES] : SEQUENCES);

/** Replaces {ROLE} in a step with the address. */
export function resolveStep([path, value], roles) {
  const sub = (s) => s.replace(/\{([A-Z0-9]+)\}/g, (_, r) => roles[r] ?? `{${r}}`);
  return { path: sub(path), value: sub(value) };
}

/**
 * How many network interfaces each PCI function has (DEV/net/IF, or DEV/virtioN/net/IF), read from a tree
 * the same way on both sides: a driver's remove() takes them, its probe() brings them back. Counted, not
 * named: the guest has no udev, so a re-registered interface takes the lowest free ethN there.
 */
export function interfaceCounts(fs, devicesDir) {
  const count = (dir) => {
    try {
      return fs.readdirSync(dir).length;
    } catch {
      return 0;
    }
  };
  return Object.fromEntries(
    fs
      .readdirSync(devicesDir)
      .sort()
      .map((a) => {
        const dir = `${devicesDir}/${a}`;
        const virtio = fs.readdirSync(dir).filter((e) => /^virtio[0-9]+$/.test(e));
        return [a, count(`${dir}/net`) + virtio.reduce((n, v) => n + count(`${dir}/${v}/net`), 0)];
      }),
  );
}

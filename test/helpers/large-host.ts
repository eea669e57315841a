import type { DeviceDescription, DriverDescription, HostDescription } from '../../src/mock/description.js';

/**
 * A generated host of exactly `size` PCI functions, shaped like a big SR-IOV server: on each PCI segment,
 * root ports on bus 0, each leading to one bus with a GPU + audio pair (one group with its root port), an
 * NVMe drive, a PCIe-to-PCI bridge with two NICs (one group), or an SR-IOV PF with up to 63 VFs (each VF its
 * own group). Used by bench/ (hosts of 100, 1,000 and 10,000 devices) and by the scaling tests.
 */
export interface LargeHost {
  desc: HostDescription;
  /** The GPU of the first GPU unit: a device in a 3-device group. */
  gpu: string;
  audio: string;
  vf: string;
  nvme: string;
}

const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
const addr = (dom: number, bus: number, slot: number, fn: number): string => `${hex(dom, 4)}:${hex(bus, 2)}:${hex(slot, 2)}.${fn}`;

export function largeHost(size: number): LargeHost {
  const devices: DeviceDescription[] = [];
  let group = 0;
  const push = (d: Partial<DeviceDescription> & Pick<DeviceDescription, 'address' | 'vendor' | 'device' | 'class'>): DeviceDescription => {
    const full: DeviceDescription = { parent: null, subsystemVendor: d.vendor, subsystemDevice: '0000', headerType: 0, driver: null, driverOverride: null, iommuGroup: null, ...d };
    devices.push(full);
    return full;
  };
  let dom = 0;
  let port = 0; // root port index on bus 0 of the current segment
  let bus = 1;
  const left = (): number => size - devices.length;
  const nextPort = (): { rp: string; bus: number } => {
    if (port >= 0x20 * 8 || bus > 0xfe) {
      dom += 1;
      port = 0;
      bus = 1;
    }
    const rp = addr(dom, 0, port >> 3, port & 7);
    port += 1;
    return { rp, bus: bus++ };
  };
  const out: Partial<LargeHost> = {};
  let unit = 0;
  while (left() > 0) {
    const kind = left() < 2 ? 'lone' : ['gpu', 'nvme', 'sriov', 'bridge', 'sriov', 'nvme', 'sriov', 'sriov'][unit % 8]!;
    unit += 1;
    if (kind === 'lone') {
      push({ address: addr(0xffff, 0, 0, 0), vendor: '8086', device: '0d4c', class: '088000', iommuGroup: group++ });
      continue;
    }
    const { rp, bus: b } = nextPort();
    const rpGroup = group++;
    push({ address: rp, vendor: '8086', device: '2030', class: '060400', headerType: 1, driver: 'pcieport', iommuGroup: rpGroup });
    if (kind === 'gpu' && left() >= 2) {
      const gpu = push({ address: addr(dom, b, 0, 0), parent: rp, vendor: '10de', device: '2204', class: '030000', multifunction: true, bootVga: false, driver: 'nouveau', iommuGroup: rpGroup });
      const audio = push({ address: addr(dom, b, 0, 1), parent: rp, vendor: '10de', device: '1aef', class: '040300', driver: 'snd_hda_intel', iommuGroup: rpGroup });
      out.gpu ??= gpu.address;
      out.audio ??= audio.address;
    } else if (kind === 'bridge' && left() >= 3) {
      const br = push({ address: addr(dom, b, 0, 0), parent: rp, vendor: '1b21', device: '1080', class: '060401', headerType: 1, iommuGroup: group });
      const nb = bus++;
      push({ address: addr(dom, nb, 1, 0), parent: br.address, vendor: '8086', device: '100e', class: '020000', driver: 'e1000', iommuGroup: group });
      push({ address: addr(dom, nb, 2, 0), parent: br.address, vendor: '8086', device: '100e', class: '020000', driver: 'e1000', iommuGroup: group });
      group += 1;
    } else if (kind === 'sriov' && left() >= 2) {
      const vfs = Math.min(63, left() - 1);
      const pf = push({
        address: addr(dom, b, 0, 0),
        parent: rp,
        vendor: '8086',
        device: '1572',
        class: '020000',
        driver: 'i40e',
        iommuGroup: group++,
        sriov: { totalvfs: 64, numvfs: vfs, driversAutoprobe: true },
      });
      for (let i = 0; i < vfs; i++) {
        const slot = 2 + (i >> 3);
        const vf = push({ address: addr(dom, b, slot, i & 7), parent: rp, vendor: '8086', device: '154c', class: '020000', driver: 'iavf', iommuGroup: group++, physfn: pf.address, vfIndex: i });
        out.vf ??= vf.address;
      }
    } else {
      const nvme = push({ address: addr(dom, b, 0, 0), parent: rp, vendor: '144d', device: 'a808', class: '010802', driver: 'nvme', iommuGroup: group++ });
      out.nvme ??= nvme.address;
    }
  }
  const drivers: DriverDescription[] = [
    { name: 'pcieport', module: null, state: 'loaded', ids: [{ vendor: '*', device: '*', class: '060400', classMask: 'ffff00' }] },
    { name: 'nouveau', module: 'nouveau', state: 'loaded', ids: [{ vendor: '10de', device: '*', class: '030000', classMask: 'ff0000' }] },
    { name: 'snd_hda_intel', module: 'snd_hda_intel', state: 'loaded', ids: [{ vendor: '*', device: '*', class: '040300', classMask: 'ffff00' }] },
    { name: 'nvme', module: 'nvme', state: 'loaded', ids: [{ vendor: '*', device: '*', class: '010802', classMask: 'ffffff' }] },
    { name: 'i40e', module: 'i40e', state: 'loaded', ids: [{ vendor: '8086', device: '1572' }] },
    { name: 'iavf', module: 'iavf', state: 'loaded', ids: [{ vendor: '8086', device: '154c' }] },
    { name: 'e1000', module: 'e1000', state: 'loaded', ids: [{ vendor: '8086', device: '100e' }] },
    { name: 'vfio-pci', module: 'vfio_pci', state: 'loaded', ids: [] },
  ];
  if (!out.gpu || !out.vf || !out.nvme) throw new Error(`a generated host of ${size} devices is too small for the benchmark's targets`);
  return {
    desc: {
      format: 'vfioctl-host/1',
      name: `generated-${size}`,
      summary: `generated SR-IOV server with ${size} PCI functions`,
      kernel: { release: '6.1.0-27-amd64', driverOverride: true, driversAutoprobe: true },
      drivers,
      devices,
      mounts: [],
      swaps: [],
      routes: [],
    },
    gpu: out.gpu,
    audio: out.audio!,
    vf: out.vf,
    nvme: out.nvme,
  };
}

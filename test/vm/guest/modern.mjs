// Issue 18 on the real kernel (Debian 12's Linux 6.1), after cases.mjs: host drivers loaded, no case holds a
// device. Each fact vfioctl reports is compared with the guest's sysfs and /dev, read here independently:
// every function's reset methods, the group node's owner after `detach --owner` and after `reattach`, and the
// vfio device cdev and /dev/iommu, which this kernel does not have.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addresses, DEVICES, driverOf, drivers, expectCode, expectEq, groupOf, kase, kernelVerdict, results, vfioctl } from './lib.mjs';

const OUT = process.argv[2];
const attr = (a, f) => fs.readFileSync(`${DEVICES}/${a}/${f}`, 'latin1').trim();
const listed = () => new Map(vfioctl('list', '--json').json().groups.flatMap((g) => g.devices.map((d) => [d.address, d])));
/** `stat -c '%u:%g %a'` of a node, or null when it does not exist. */
/** vfioctl's journal read directly (README: ROOT/run/vfioctl/journal.json); no file = nothing recorded. */
const journalDevices = () => (fs.existsSync('/run/vfioctl/journal.json') ? JSON.parse(fs.readFileSync('/run/vfioctl/journal.json', 'utf8')).devices : {});
const statOf = (p) => {
  const r = spawnSync('stat', ['-c', '%u:%g %a', p], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
};

/** The e1000e (8086:10d3) alone in its group behind a port: its parent in /sys/devices is a PCI function. */
const solo = addresses().find((a) => {
  if (attr(a, 'vendor') !== '0x8086' || attr(a, 'device') !== '0x10d3') return false;
  const parent = path.basename(path.dirname(fs.realpathSync(`${DEVICES}/${a}`)));
  return /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(parent) && fs.readdirSync(`/sys/kernel/iommu_groups/${groupOf(a)}/devices`).length === 1;
});

kase('reset: list --json gives every function the words of its reset_method and resettable = DEV/reset exists', () => {
  const seen = listed();
  const NICS = new Set(['e1000', 'e1000e', 'igb', 'igbvf']);
  const figures = new Map();
  for (const a of addresses()) {
    const file = `${DEVICES}/${a}/reset_method`;
    // Linux >= 5.15 shows reset_method only when the function has a method; vfioctl says [] then (README).
    const methods = fs.existsSync(file) ? fs.readFileSync(file, 'latin1').trim().split(/\s+/).filter(Boolean) : [];
    const want = { resettable: fs.existsSync(`${DEVICES}/${a}/reset`), methods };
    expectEq(`${a} (${driverOf(a)}) reset`, seen.get(a)?.reset, want);
    const d = driverOf(a);
    if (NICS.has(d)) {
      const key = `${d}: ${methods.join(' ') || 'none'}`;
      figures.set(key, (figures.get(key) ?? 0) + 1);
    }
  }
  if (figures.size === 0) throw new Error('no e1000/e1000e/igb function in the guest');
  const text = [...figures].map(([k, n]) => `${k} (${n})`).join('; ');
  return { name: `reset: list --json gives every function (${addresses().length}) the words of its reset_method and resettable = DEV/reset exists; the NICs: ${text}` };
});

const xml = path.join(OUT, 'owner-solo.xml');
let group = null;
let moved = false;
kase('--owner: `detach --owner 4242:4242` of the lone e1000e: its /dev/vfio/N is 4242:4242 with the mode the kernel made, the journal keeps root:root', () => {
  if (!solo) throw new Error('no e1000e alone in its group behind a port');
  group = groupOf(solo);
  const [d, b, sf] = solo.split(':');
  const [s, f] = sf.split('.');
  fs.writeFileSync(xml, `<domain type='kvm'><name>owner-solo</name><devices><hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio' group='manual'/><source><address domain='0x${d}' bus='0x${b}' slot='0x${s}' function='0x${f}'/></source></hostdev></devices></domain>\n`);
  const node = `/dev/vfio/${group}`;
  expectEq(`${node} before`, statOf(node), null);
  const r = vfioctl('detach', xml, '--owner', '4242:4242', '--json');
  expectCode('detach exit code', r, 0);
  moved = true;
  expectEq('driver', driverOf(solo), 'vfio-pci');
  expectEq(`${node} (stat -c '%u:%g %a')`, statOf(node), '4242:4242 600');
  const rec = journalDevices()[solo];
  expectEq('the journal records the node as the kernel made it', rec?.nodes, [{ path: node, uid: 0, gid: 0, mode: 0o600 }]);
  expectEq('kernel verdict', kernelVerdict(group), 'viable');
  return { name: `--owner: \`detach --owner 4242:4242\` of the lone e1000e ${solo} (group ${group}): ${node} was absent, is 4242:4242 600 (the kernel's root:root 0600, chowned, mode kept; numeric ids not in passwd accepted), the journal keeps 0:0 0600, the kernel says viable` };
});

kase('cdev absent: on vfio-pci, DEV/vfio-dev/vfioN has no device number, no /dev/vfio/devices, no /dev/iommu; list says cdev null, iommu false', () => {
  if (!moved) throw new Error('the --owner case did not move the device');
  // Linux 6.1 makes the vfio_device's struct device (DEV/vfio-dev/vfioN) but, without VFIO_DEVICE_CDEV (>= 6.6),
  // gives it no device number: no `dev` attribute, no node.
  const entries = fs.readdirSync(`${DEVICES}/${solo}/vfio-dev`).filter((e) => /^vfio[0-9]+$/.test(e));
  expectEq('DEV/vfio-dev entries', entries.length, 1);
  const facts = { dev: fs.existsSync(`${DEVICES}/${solo}/vfio-dev/${entries[0]}/dev`), devices: fs.existsSync('/dev/vfio/devices'), iommu: fs.existsSync('/dev/iommu') };
  expectEq(`DEV/vfio-dev/${entries[0]}/dev, /dev/vfio/devices, /dev/iommu`, facts, { dev: false, devices: false, iommu: false });
  expectEq('list vfio', listed().get(solo)?.vfio, { group: `/dev/vfio/${group}`, cdev: null, iommu: false });
  const release = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  return { name: `cdev absent: on Linux ${release} with ${solo} on vfio-pci, DEV/vfio-dev/${entries[0]} exists with no \`dev\` (no device number), no /dev/vfio/devices, no /dev/iommu; list says {"group": "/dev/vfio/${group}", "cdev": null, "iommu": false}` };
});

kase('--owner: `reattach` gives the device back to e1000e and the kernel removes /dev/vfio/N', () => {
  if (!moved) throw new Error('the --owner case did not move the device');
  const before = { ...drivers(), [solo]: 'e1000e' };
  const r = vfioctl('reattach', xml, '--json');
  expectCode('reattach exit code', r, 0);
  expectEq('drivers', drivers(), before);
  expectEq(`/dev/vfio/${group} after reattach`, statOf(`/dev/vfio/${group}`), null);
  expectEq('journal devices', Object.keys(journalDevices()), []);
});

fs.writeFileSync(path.join(OUT, 'modern-cases.json'), JSON.stringify(results, null, 2));
process.exitCode = results.every((r) => r.pass) ? 0 : 1;

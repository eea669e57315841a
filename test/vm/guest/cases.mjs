// Runs inside the QEMU guest on its real kernel (see test/vm/run.mjs). Each case prints
// `VMCASE PASS name` or `VMCASE FAIL name :: reason`; the snapshot and the real kernel's answers to the
// differential sequences go to OUT for the host to compare with the simulated kernel.
import fs from 'node:fs';
import path from 'node:path';
import { interfaceCounts, resolveRoles, resolveStep, sequencesFor } from '../sequences.mjs';
import { addresses, DEVICES, driverOf, drivers, expectCode, expectEq, groupOf, igbPf, kase, kernelVerdict, link, numVfs, overrideOf, results, setNumVfs, SRIOV, vfioctl, vfsOf, write } from './lib.mjs';

const OUT = process.argv[2];

/** vfioctl's verdict compared with the kernel's: a group with no VFIO node cannot be used, so it is not viable. */
function verdictsAgree(group, member) {
  const kernel = kernelVerdict(group);
  const mine = vfioctl('group-info', member, '--json').json().viable;
  return { ok: mine === (kernel === 'viable'), text: `vfioctl viable=${mine}, kernel ${kernel}` };
}

const domainXml = (name, address, group) => {
  const [d, b, sf] = address.split(':');
  const [s, f] = sf.split('.');
  return `<domain type='kvm'>\n  <name>${name}</name>\n  <devices>\n    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <driver name='vfio'${group ? ` group='${group}'` : ''}/>\n      <source>\n        <address domain='0x${d}' bus='0x${b}' slot='0x${s}' function='0x${f}'/>\n      </source>\n    </hostdev>\n  </devices>\n</domain>\n`;
};
const xmlFile = (name, address, group) => {
  const f = path.join(OUT, `${name}.xml`);
  fs.writeFileSync(f, domainXml(name, address, group));
  return f;
};

// --- cases -----------------------------------------------------------------------------------------------
// With an SR-IOV PF (QEMU >= 8): two VFs before the snapshot, so the bundled host and the differential have them.
if (SRIOV) {
  kase('SR-IOV: `echo 2 > sriov_numvfs` on the igb PF makes two VFs (virtfnN/physfn), each alone in its group, on igbvf once modprobe loads their modaliases', () => {
    const pf = igbPf();
    if (!pf) throw new Error('QEMU was given an igb, but the guest has no 8086:10c9 with sriov_totalvfs');
    expectEq('PF driver', driverOf(pf), 'igb');
    expectEq('sriov_numvfs at boot', numVfs(pf), 0);
    const seconds = setNumVfs(pf, 2);
    const vfs = vfsOf(pf);
    expectEq('sriov_numvfs', numVfs(pf), 2);
    expectEq('VFs', vfs.length, 2);
    expectEq('physfn of each VF', vfs.map((v) => link(`${DEVICES}/${v}/physfn`)), [pf, pf]);
    expectEq('VF drivers', vfs.map(driverOf), ['igbvf', 'igbvf']);
    const groups = [pf, ...vfs].map(groupOf);
    if (new Set(groups).size !== 3) throw new Error(`PF and VFs do not have three groups: ${groups}`);
    for (const g of groups) expectEq(`members of group ${g}`, fs.readdirSync(`/sys/kernel/iommu_groups/${g}/devices`).length, 1);
    return { name: `SR-IOV: \`echo 2 > sriov_numvfs\` on the igb PF ${pf} makes two VFs (${vfs.join(', ')}; ${seconds.toFixed(1)} s with igbvf's load), each alone in its group, on igbvf` };
  });
}

let roles;
kase('snapshot of the guest (before any change)', () => {
  const r = vfioctl('snapshot', '--name', 'qemu-q35-iommu', '-o', path.join(OUT, 'guest-host.json'));
  expectCode('exit code', r, 0);
  roles = resolveRoles(JSON.parse(fs.readFileSync(path.join(OUT, 'guest-host.json'), 'utf8')));
  fs.writeFileSync(path.join(OUT, 'roles.json'), JSON.stringify(roles));
});

kase('differential sequences on the real kernel', () => {
  const initial = drivers();
  const initialInterfaces = interfaceCounts(fs, DEVICES);
  const real = sequencesFor(roles).map((seq) => ({
    name: seq.name,
    steps: seq.steps.map((step) => {
      const { path: p, value } = resolveStep(step, roles);
      let result = 'ok';
      try {
        write(p, value);
      } catch (err) {
        result = err.code ?? String(err);
      }
      return { path: p, value, result, drivers: drivers(), interfaces: interfaceCounts(fs, DEVICES) };
    }),
  }));
  fs.writeFileSync(path.join(OUT, 'real.json'), JSON.stringify({ initial, initialInterfaces, sequences: real }));
  // The last SR-IOV sequence unbinds the PF, and igb's remove() takes the VFs: make them again.
  if (roles.PF && numVfs(roles.PF) === 0) setNumVfs(roles.PF, 2);
  expectEq('drivers after all sequences', drivers(), initial);
});

kase('list agrees with sysfs: every device, its IDs, class, driver and IOMMU group', () => {
  const r = vfioctl('list', '--json');
  expectCode('exit code', r, 0);
  // list takes IDs and class from uevent (one read); the kernel's separate files must say the same.
  const id = (a, f) => fs.readFileSync(`/sys/bus/pci/devices/${a}/${f}`, 'latin1').trim().replace(/^0x/, '');
  const facts = (d) => ({ driver: d.driver, group: d.group, ids: [d.vendor, d.device, d.subsystemVendor, d.subsystemDevice, d.class] });
  const seen = Object.fromEntries(r.json().groups.flatMap((g) => g.devices.map((d) => [d.address, facts({ ...d, group: g.group })])));
  const sysfs = Object.fromEntries(
    addresses().map((a) => [a, facts({ driver: driverOf(a), group: groupOf(a), vendor: id(a, 'vendor'), device: id(a, 'device'), subsystemVendor: id(a, 'subsystem_vendor'), subsystemDevice: id(a, 'subsystem_device'), class: id(a, 'class') })]),
  );
  expectEq('devices', seen, sysfs);
});

kase('group-info of every device: its group and members as sys/kernel/iommu_groups has them', () => {
  for (const a of addresses()) {
    const r = vfioctl('group-info', a, '--json');
    expectCode(`${a} exit code`, r, 0);
    const g = r.json();
    expectEq(`${a} group`, g.group, groupOf(a));
    expectEq(`${a} members`, g.devices.map((d) => d.address), fs.readdirSync(`/sys/kernel/iommu_groups/${g.group}/devices`).sort());
    expectEq(`${a} drivers`, g.devices.map((d) => d.driver), g.devices.map((d) => driverOf(d.address)));
  }
});

kase("group='manual' on a NIC behind the bridge is refused with no write", () => {
  const before = drivers();
  const r = vfioctl('detach', xmlFile('nic-manual', roles.NIC1, 'manual'));
  expectCode('exit code', r, 7);
  if (!r.stderr.includes(`members in the way: ${roles.NIC2}`)) throw new Error(`message: ${r.stderr}`);
  expectEq('drivers', drivers(), before);
  expectEq('overrides', [overrideOf(roles.NIC1), overrideOf(roles.NIC2)], ['(null)', '(null)']);
});

kase("group='auto' on a NIC behind the bridge: check, dry run = real run, both NICs on vfio-pci, the bridge stays, the kernel agrees", () => {
  const xml = xmlFile('nic-auto', roles.NIC1, 'auto');
  const group = groupOf(roles.NIC1);
  const before = drivers();
  expectEq('check exit code', vfioctl('check', xml).code, 0);
  // Before: no member on vfio-pci, no /dev/vfio node; vfioctl says not viable.
  let v = verdictsAgree(group, roles.NIC1);
  if (!v.ok) throw new Error(`before: ${v.text}`);
  // Midway, by hand: one NIC on vfio-pci, the other still on e1000. The kernel says not viable; so must vfioctl.
  write(`${DEVICES}/${roles.NIC1}/driver_override`, 'vfio-pci');
  write(`/sys/bus/pci/drivers/${before[roles.NIC1]}/unbind`, roles.NIC1);
  write('/sys/bus/pci/drivers_probe', roles.NIC1);
  v = verdictsAgree(group, roles.NIC1);
  const midway = kernelVerdict(group);
  write(`${DEVICES}/${roles.NIC1}/driver_override`, '\n');
  write('/sys/bus/pci/drivers/vfio-pci/unbind', roles.NIC1);
  write(`/sys/bus/pci/drivers/${before[roles.NIC1]}/bind`, roles.NIC1);
  if (!v.ok || midway !== 'not-viable') throw new Error(`midway: ${v.text}`);
  expectEq('drivers after the midway probe', drivers(), before);

  const dry = vfioctl('detach', xml, '--dry-run', '--json');
  expectCode('dry-run exit code', dry, 0);
  const real = vfioctl('detach', xml, '--json');
  expectCode('detach exit code', real, 0);
  expectEq('changed', real.json().changed, true);
  expectEq('the writes performed = the dry run', real.json().writes, dry.json().writes);
  const after = drivers();
  expectEq('NICs', [after[roles.NIC1], after[roles.NIC2]], ['vfio-pci', 'vfio-pci']);
  expectEq('bridge', after[roles.BRIDGE], before[roles.BRIDGE]);
  if (!fs.existsSync(`/dev/vfio/${group}`)) throw new Error(`/dev/vfio/${group} did not appear`);
  v = verdictsAgree(group, roles.NIC1);
  if (!v.ok || kernelVerdict(group) !== 'viable') throw new Error(`after: ${v.text}`);
  expectEq('second detach', vfioctl('detach', xml, '--json').json().changed, false);

  const back = vfioctl('reattach', xml, '--json');
  expectCode('reattach exit code', back, 0);
  expectEq('drivers after reattach', drivers(), before);
  v = verdictsAgree(group, roles.NIC1);
  if (!v.ok) throw new Error(`after reattach: ${v.text}`);
});

kase("group='manual' on a single-device group: moved, viable, and back", () => {
  const xml = xmlFile('solo-manual', roles.SOLO, 'manual');
  const before = drivers();
  const r = vfioctl('detach', xml);
  expectCode('detach exit code', r, 0);
  expectEq('driver', driverOf(roles.SOLO), 'vfio-pci');
  expectEq('kernel verdict', kernelVerdict(groupOf(roles.SOLO)), 'viable');
  expectEq('reattach exit code', vfioctl('reattach', xml).code, 0);
  expectEq('drivers', drivers(), before);
});

kase("the virtio device carrying the guest's root filesystem is refused as in use", () => {
  const rootDev = addresses().find((a) =>
    fs.readdirSync(`${DEVICES}/${a}`).some((e) => /^virtio\d+$/.test(e) && fs.existsSync(`${DEVICES}/${a}/${e}/mount_tag`) && fs.readFileSync(`${DEVICES}/${a}/${e}/mount_tag`, 'latin1').replace(/\0/g, '').trim() === 'hostroot'),
  );
  if (!rootDev) throw new Error('no virtio device with mount_tag hostroot');
  const before = drivers();
  const r = vfioctl('detach', xmlFile('root-9p', rootDev, 'auto'));
  expectCode('exit code', r, 6);
  if (!/9p:hostroot, mounted at \//.test(r.stderr)) throw new Error(`message: ${r.stderr}`);
  expectEq('drivers', drivers(), before);
});

fs.writeFileSync(path.join(OUT, 'cases.json'), JSON.stringify(results, null, 2));
process.exitCode = results.every((r) => r.pass) ? 0 : 1;

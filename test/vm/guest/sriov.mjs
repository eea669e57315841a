// Runs inside the guest after cases.mjs when QEMU gave it an igb PF (vmsriov=1): SR-IOV on the real kernel.
// cases.mjs enabled two VFs (on igbvf) before the snapshot; the last case here sets sriov_numvfs back to 0.
// One VMCASE line per case (see lib.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEVICES, addresses, driverOf, drivers, expectCode, expectEq, groupOf, igbPf, kase, kernelVerdict, link, numVfs, results, setNumVfs, totalVfs, vfioctl, vfsOf, write } from './lib.mjs';

const OUT = process.argv[2];
const PF = igbPf();
const [VF0, VF1] = vfsOf(PF);
const before = drivers();
const IFACE = fs.readdirSync(`${DEVICES}/${PF}/net`)[0];

const hostdev = (a) => {
  const [d, b, sf] = a.split(':');
  const [s, f] = sf.split('.');
  return `    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <driver name='vfio' group='auto'/>\n      <source>\n        <address domain='0x${d}' bus='0x${b}' slot='0x${s}' function='0x${f}'/>\n      </source>\n    </hostdev>\n`;
};
const file = (name, text) => {
  const f = path.join(OUT, `${name}.xml`);
  fs.writeFileSync(f, text);
  return f;
};
const domain = (name, a) => file(name, `<domain type='kvm'>\n  <name>${name}</name>\n  <devices>\n${hostdev(a)}  </devices>\n</domain>\n`);
const pool = (name, iface) => file(name, `<network>\n  <name>${name}</name>\n  <forward mode='hostdev' managed='yes'>\n    <driver name='vfio' group='auto'/>\n    <pf dev='${iface}'/>\n  </forward>\n</network>\n`);
const trio = () => [driverOf(PF), driverOf(VF0), driverOf(VF1)];
const QMP = '{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n';
/** QEMU 7.2 (the system's, in the guest) with the device assigned, stopped before it runs (-S); asked over QMP. */
const qemu = (a) =>
  spawnSync('qemu-system-x86_64', ['-machine', 'q35,accel=tcg', '-nodefaults', '-display', 'none', '-S', '-device', `vfio-pci,host=${a}`, '-qmp', 'stdio'], { encoding: 'utf8', input: QMP, timeout: 90_000, killSignal: 'SIGKILL' });
/** A write as `echo > file` sees it: 'ok' or the errno. */
const attempt = (p, v) => {
  try {
    write(p, v);
    return 'ok';
  } catch (err) {
    return err.code ?? String(err);
  }
};

kase('SR-IOV: list and group-info agree with sysfs on the PF/VF relation, the groups and the VF drivers', () => {
  const r = vfioctl('list', '--json');
  expectCode('list exit code', r, 0);
  const listed = Object.fromEntries(r.json().groups.flatMap((g) => g.devices.map((d) => [d.address, { group: g.group, driver: d.driver, sriov: d.sriov }])));
  // sysfs: virtfnN on the PF, physfn on each VF; list reports the relation, not sriov_numvfs/totalvfs.
  expectEq('PF', listed[PF], { group: groupOf(PF), driver: 'igb', sriov: { role: 'pf', vfs: vfsOf(PF) } });
  for (const v of [VF0, VF1]) {
    expectEq(`VF ${v}`, listed[v], { group: groupOf(v), driver: 'igbvf', sriov: { role: 'vf', pf: link(`${DEVICES}/${v}/physfn`) } });
    const g = vfioctl('group-info', v, '--json');
    expectCode(`group-info ${v}`, g, 0);
    expectEq(`group-info ${v}`, [g.json().group, g.json().devices.map((d) => [d.address, d.driver])], [groupOf(v), [[v, 'igbvf']]]);
  }
  expectEq('group-info of the PF', vfioctl('group-info', PF, '--json').json().devices.map((d) => d.address), fs.readdirSync(`/sys/kernel/iommu_groups/${groupOf(PF)}/devices`));
  expectEq('sriov_numvfs / sriov_totalvfs', [numVfs(PF), totalVfs(PF)], [2, 7]);
  return { name: `SR-IOV: list and group-info agree with sysfs on the PF/VF relation, the groups (${[PF, VF0, VF1].map(groupOf).join(', ')}) and igbvf (sriov_numvfs 2 of sriov_totalvfs ${totalVfs(PF)}: list does not report them)` };
});

kase("SR-IOV: group='auto' naming VF0 moves only VF0; the PF and VF1 stay; the kernel says viable; QEMU 7.2 in the guest accepts it; reattach restores igbvf", () => {
  const xml = domain('vf0-auto', VF0);
  const r = vfioctl('detach', xml, '--json');
  expectCode('detach', r, 0);
  expectEq('moved', r.json().devices.filter((d) => d.action === 'moved').map((d) => d.address), [VF0]);
  expectEq('PF, VF0, VF1', trio(), ['igb', 'vfio-pci', 'igbvf']);
  expectEq('kernel verdict', kernelVerdict(groupOf(VF0)), 'viable');
  const q = qemu(VF0);
  const back = vfioctl('reattach', xml, '--json');
  if (q.status !== 0 || !/"status": "prelaunch"/.test(q.stdout)) throw new Error(`QEMU with ${VF0}: exit ${q.status ?? q.error?.code}: ${(q.stderr ?? '').trim().slice(0, 400)}`);
  expectCode('reattach', back, 0);
  expectEq('drivers after reattach', drivers(), before);
});

kase(`SR-IOV: a <forward mode='hostdev'> pool by <pf dev='IFACE'/> with group='auto' detaches every VF of the PF, a second detach changes nothing, reattach gives them back`, () => {
  const xml = pool('vf-pool', IFACE);
  const r = vfioctl('detach', xml, '--json');
  expectCode('detach', r, 0);
  expectEq('changed', r.json().changed, true);
  expectEq('PF, VF0, VF1', trio(), ['igb', 'vfio-pci', 'vfio-pci']);
  for (const v of [VF0, VF1]) expectEq(`kernel verdict for ${v}`, kernelVerdict(groupOf(v)), 'viable');
  const again = vfioctl('detach', xml, '--json');
  expectCode('second detach', again, 0);
  expectEq('second detach changed', again.json().changed, false);
  expectCode('reattach', vfioctl('reattach', xml), 0);
  expectEq('drivers after reattach', drivers(), before);
  return { name: `SR-IOV: a <forward mode='hostdev'> pool by <pf dev='${IFACE}'/> with group='auto' detaches both VFs (the PF stays on igb), a second detach changes nothing, reattach gives them back` };
});

kase('SR-IOV: the PF with VFs enabled is refused by check (exit 7, no write); on the real kernel igb\'s unbind takes the VFs away and vfio-pci then takes the PF; only a PF driver that leaves them (pci-pf-stub) gets the probe\'s EBUSY', () => {
  const xml = domain('pf-auto', PF);
  const c = vfioctl('check', xml);
  expectCode('check', c, 7);
  if (!/SR-IOV physical function with 2 virtual functions enabled/.test(c.stdout)) throw new Error(`check's report: ${c.stdout.trim()}`);
  expectEq('drivers after check', drivers(), before);
  // The writes a move of the PF would make, by hand: the unbind succeeds and removes both VFs.
  const seq = [attempt(`${DEVICES}/${PF}/driver_override`, 'vfio-pci'), attempt('/sys/bus/pci/drivers/igb/unbind', PF)];
  const gone = [VF0, VF1].filter((v) => !addresses().includes(v));
  seq.push(attempt('/sys/bus/pci/drivers_probe', PF));
  expectEq('override, igb/unbind, drivers_probe', seq, ['ok', 'ok', 'ok']);
  expectEq('VFs gone after igb/unbind', gone, [VF0, VF1]);
  expectEq('sriov_numvfs', numVfs(PF), 0);
  expectEq('PF driver', driverOf(PF), 'vfio-pci');
  write(`${DEVICES}/${PF}/driver_override`, '\n');
  write('/sys/bus/pci/drivers/vfio-pci/unbind', PF);
  write('/sys/bus/pci/drivers/igb/bind', PF);
  // A PF with sriov_numvfs 0 can be moved.
  expectCode('check of the PF with no VFs', vfioctl('check', xml), 0);
  expectCode('detach of the PF with no VFs', vfioctl('detach', xml), 0);
  expectEq('PF on vfio-pci', driverOf(PF), 'vfio-pci');
  expectCode('reattach of the PF', vfioctl('reattach', xml), 0);
  expectEq('PF back on igb', driverOf(PF), 'igb');
  // pci-pf-stub has no remove(): the VFs outlive its unbind, and vfio-pci's probe refuses the PF (EBUSY).
  if (spawnSync('modprobe', ['pci-pf-stub']).status !== 0) throw new Error('modprobe pci-pf-stub failed');
  write(`${DEVICES}/${PF}/driver_override`, 'pci-pf-stub');
  write('/sys/bus/pci/drivers/igb/unbind', PF);
  write('/sys/bus/pci/drivers_probe', PF);
  setNumVfs(PF, 2);
  const stub = [attempt('/sys/bus/pci/drivers/pci-pf-stub/unbind', PF), vfsOf(PF).length, attempt(`${DEVICES}/${PF}/driver_override`, 'vfio-pci'), attempt('/sys/bus/pci/drivers/vfio-pci/bind', PF), attempt('/sys/bus/pci/drivers_probe', PF), driverOf(PF)];
  expectEq('pci-pf-stub/unbind, VFs left, override, vfio-pci/bind, drivers_probe, PF driver', stub, ['ok', 2, 'ok', 'EBUSY', 'ok', null]);
  write(`${DEVICES}/${PF}/driver_override`, 'pci-pf-stub');
  write('/sys/bus/pci/drivers_probe', PF);
  setNumVfs(PF, 0);
  write(`${DEVICES}/${PF}/driver_override`, '\n');
  write('/sys/bus/pci/drivers/pci-pf-stub/unbind', PF);
  write('/sys/bus/pci/drivers/igb/bind', PF);
  setNumVfs(PF, 2);
  expectEq('drivers after putting everything back', drivers(), before);
});

// The kernel's rule (vfio_dev_viable): a member with no driver never blocks a group; /dev/vfio/N exists once a
// member is on vfio-pci. So an unbound VF's group is viable for both, before the kernel has a node to ask.
kase('SR-IOV: sriov_drivers_autoprobe 0: new VFs come up unbound; vfioctl plans override + drivers_probe only and agrees with the kernel on viability', () => {
  setNumVfs(PF, 0);
  write(`${DEVICES}/${PF}/sriov_drivers_autoprobe`, '0');
  write(`${DEVICES}/${PF}/sriov_numvfs`, '2');
  const [v0, v1] = vfsOf(PF);
  try {
    expectEq('VF drivers', [driverOf(v0), driverOf(v1)], [null, null]);
    const g = groupOf(v0);
    const mine = () => vfioctl('group-info', v0, '--json').json().viable;
    expectEq('viable (vfioctl, kernel) while unbound', [mine(), kernelVerdict(g)], [true, 'absent']);
    const xml = domain('vf0-unbound', v0);
    const dry = vfioctl('detach', xml, '--dry-run', '--json');
    expectCode('dry run', dry, 0);
    expectEq('planned writes', dry.json().writes.map((w) => [w.path, w.value.trim()]), [
      [`/sys/bus/pci/devices/${v0}/driver_override`, 'vfio-pci'],
      ['/sys/bus/pci/drivers_probe', v0],
    ]);
    expectCode('detach', vfioctl('detach', xml), 0);
    expectEq('VF drivers after detach', [driverOf(v0), driverOf(v1)], ['vfio-pci', null]);
    expectEq('viable (vfioctl, kernel) on vfio-pci', [mine(), kernelVerdict(g)], [true, 'viable']);
    expectCode('reattach', vfioctl('reattach', xml), 0);
    expectEq('VF drivers after reattach', [driverOf(v0), driverOf(v1)], [null, null]);
  } finally {
    write(`${DEVICES}/${PF}/sriov_numvfs`, '0');
    write(`${DEVICES}/${PF}/sriov_drivers_autoprobe`, '1');
  }
});

kase("SR-IOV: `echo 0 > sriov_numvfs` removes the VFs: list shows no VF, and the PF as a plain device (sriov null: list marks a PF only by its VFs)", () => {
  if (numVfs(PF) !== 0) setNumVfs(PF, 0);
  expectEq('virtfn links', vfsOf(PF), []);
  const listed = vfioctl('list', '--json').json().groups.flatMap((g) => g.devices);
  expectEq('VFs listed', listed.filter((d) => d.sriov?.role === 'vf').map((d) => d.address), []);
  expectEq('the PF', listed.find((d) => d.address === PF)?.sriov, null);
  expectEq('drivers', drivers(), Object.fromEntries(Object.entries(before).filter(([a]) => a !== VF0 && a !== VF1)));
});

fs.writeFileSync(path.join(OUT, 'sriov-cases.json'), JSON.stringify(results, null, 2));
process.exitCode = results.every((r) => r.pass) ? 0 : 1;

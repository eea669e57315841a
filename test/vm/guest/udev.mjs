// Runs inside the guest FIRST (guest/main.sh), while no host driver is loaded: persistence at boot with the
// host's real udev (systemd-udevd 252) on the real kernel. `vfioctl persist` writes its files into a writable
// /etc (an overlay, or a copy when overlayfs is missing, over the read-only 9p root); udevd runs with them and
// Debian's own rules; a pci-only coldplug (`udevadm trigger --action=add --subsystem-match=pci`, `settle`)
// plays the boot. Three boots on the same devices, each from the state the kernel booted in (no driver that
// udev loaded, no driver_override):
//   1. vfio-pci not loaded before the trigger;  2. vfio-pci loaded before it;
//   3. the record and rule name another device ID at the second NIC (another card in the slot).
// Afterwards the guest is as it booted (drivers, overrides, /etc), so main.sh's coldplug and the other cases
// run as they did without this file. One VMCASE line per case (see lib.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEVICES, addresses, driverOf, drivers, expectCode, expectEq, groupOf, kase, kernelVerdict, overrideOf, vfioctl, write } from './lib.mjs';

const OUT = process.argv[2];
const SCRATCH = '/run/vfioctl-udev';
const RULE = '/etc/udev/rules.d/60-vfioctl.rules';
const RECORD = '/etc/vfioctl/persist.json';
const ENV = { ...process.env, SYSTEMD_IGNORE_CHROOT: '1' };
const sh = (cmd) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8', env: ENV, timeout: 120_000 });
const must = (what, cmd) => {
  const r = sh(cmd);
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${`${r.stderr}${r.stdout}`.trim().slice(0, 400)}`);
  return r.stdout;
};
const attr = (a, f) => fs.readFileSync(`${DEVICES}/${a}/${f}`, 'latin1').trim();
const modules = () => fs.readFileSync('/proc/modules', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0]);
const loaded = (m) => modules().includes(m);

// The two e1000 (8086:100e) behind the PCIe-to-PCI bridge, found by their IDs: one IOMMU group with the bridge.
const [NIC1, NIC2] = addresses().filter((a) => attr(a, 'vendor') === '0x8086' && attr(a, 'device') === '0x100e');
const GROUP = NIC1 ? groupOf(NIC1) : null;
const atBoot = { drivers: drivers(), modules: modules(), runUdev: fs.existsSync('/run/udev'), runVfioctl: fs.existsSync('/run/vfioctl') };
const xml = path.join(OUT, 'udev-persist.xml');

/** The network functions' drivers (class 02): the two e1000 as given, every other as at boot or on its host driver. */
function expectedNics(nics) {
  const want = {};
  for (const a of addresses().filter((x) => attr(x, 'class').startsWith('0x02'))) {
    const id = `${attr(a, 'vendor')}:${attr(a, 'device')}`;
    if (a in nics) want[a] = nics[a];
    else if (atBoot.drivers[a] !== null) want[a] = atBoot.drivers[a]; // virtio-net: virtio-pci, from the initramfs
    else if (id === '0x8086:0x10d3') want[a] = 'e1000e';
    else if (id === '0x8086:0x10c9') want[a] = 'igb';
    else throw new Error(`a network function the case does not know: ${a} (${id})`);
  }
  return want;
}
const nicsNow = () => Object.fromEntries(Object.keys(expectedNics({ [NIC1]: null, [NIC2]: null })).map((a) => [a, driverOf(a)]));

/** A case that ends with `after()`, whether it passed or not (its error, if any, is reported after the case's). */
const thenRestore = (fn, after) => () => {
  let result;
  let error = null;
  try {
    result = fn();
  } catch (err) {
    error = err;
  }
  try {
    after();
  } catch (err) {
    error = error ? new Error(`${error.message}; then, restoring: ${err.message}`) : err;
  }
  if (error) throw error;
  return result;
};

function startUdev() {
  must('systemd-udevd --daemon', '/lib/systemd/systemd-udevd --daemon');
  must('udevadm control --ping', 'udevadm control --ping --timeout=30');
}
const commOf = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null; // gone meanwhile
  }
};
/** udevd (and its workers) still running: the guest has no other udevd, so these are the ones this file started. */
const udevds = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && commOf(p) === 'systemd-udevd');
function stopUdev() {
  if (udevds().length === 0) return;
  sh('udevadm control --exit --timeout=30');
  for (let i = 0; i < 100 && udevds().length > 0; i += 1) spawnSync('sleep', ['0.1']);
  const left = udevds();
  if (left.length > 0) throw new Error(`systemd-udevd still running (pids ${left.join(', ')}) after udevadm control --exit`);
}

/** The boot: udev's coldplug of the PCI bus, then settle. Returns the seconds it took. */
function coldplug() {
  const t0 = Date.now();
  startUdev();
  must('udevadm trigger', 'udevadm trigger --action=add --subsystem-match=pci');
  must('udevadm settle', 'udevadm settle --timeout=120');
  return (Date.now() - t0) / 1000;
}

/** Modules loaded since the start that this file cannot unload, and that drive no PCI device (/sys/module/M/drivers/pci:*). */
const leftovers = [];
const pciDriverModule = (m) => {
  try {
    return fs.readdirSync(`/sys/module/${m}/drivers`).some((d) => d.startsWith('pci:'));
  } catch {
    return false;
  }
};

/** Back to the state the kernel booted in: udevd gone, no driver_override, every module udev loaded unloaded. */
function asBooted() {
  stopUdev();
  if (!atBoot.runUdev) fs.rmSync('/run/udev', { recursive: true, force: true });
  for (const a of addresses()) if (overrideOf(a) !== '(null)') write(`${DEVICES}/${a}/driver_override`, '\n');
  const added = () => modules().filter((x) => !atBoot.modules.includes(x));
  // One modprobe for all (the newest first, as /proc/modules lists them), then one by one for what is left.
  if (added().length > 0) sh(`modprobe -r -q -a ${added().join(' ')}`);
  for (const m of added()) sh(`modprobe -r -q ${m}`);
  expectEq('drivers back as at boot', drivers(), atBoot.drivers);
  // The watchdog udev loads for the chipset's TCO device (iTCO_wdt) may refuse to go; it drives no PCI device.
  const stuck = added();
  const pci = stuck.filter(pciDriverModule);
  if (pci.length > 0) throw new Error(`PCI driver modules still loaded: ${pci.join(', ')}`);
  for (const m of stuck) if (!leftovers.includes(m)) leftovers.push(m);
  atBoot.modules.push(...stuck);
}

/** A writable /etc over the read-only root: an overlay on it (a tmpfs upper), or a copy of it bind-mounted. */
function writableEtc() {
  must('scratch', `mkdir -p ${SCRATCH} && mount -t tmpfs vfioctl-udev ${SCRATCH} && mkdir -p ${SCRATCH}/upper ${SCRATCH}/work`);
  if (sh(`modprobe -q overlay && mount -t overlay vfioctl-etc -o lowerdir=/etc,upperdir=${SCRATCH}/upper,workdir=${SCRATCH}/work /etc`).status === 0) return 'an overlay';
  must('copy /etc', `cp -a /etc ${SCRATCH}/etc 2>/dev/null; test -d ${SCRATCH}/etc/udev/rules.d && mount --bind ${SCRATCH}/etc /etc`);
  return 'a copy';
}

const expectBoot = (label, nics) => expectEq(`${label}: NIC drivers`, nicsNow(), expectedNics(nics));

let ready = false;
kase('udev (persist at boot): `vfioctl persist` of one e1000 with group=\'auto\' writes the rule, modules-load.d, the record and the boot unit into /etc, for both NICs of the group', () => {
  if (!NIC1 || !NIC2) throw new Error('no two 8086:100e NICs in the guest');
  const unbound = [NIC1, NIC2].map(driverOf);
  expectEq('NICs before anything (no host driver loaded yet)', unbound, [null, null]);
  if (loaded('vfio_pci') || loaded('e1000')) throw new Error(`modules already loaded: ${modules().join(' ')}`);
  const how = writableEtc();
  atBoot.modules = modules(); // with overlay, if it was loaded for /etc
  const [d, b, sf] = NIC1.split(':');
  const [s, f] = sf.split('.');
  fs.writeFileSync(xml, `<domain type='kvm'>\n  <name>udev-persist</name>\n  <devices>\n    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <driver name='vfio' group='auto'/>\n      <source>\n        <address domain='0x${d}' bus='0x${b}' slot='0x${s}' function='0x${f}'/>\n      </source>\n    </hostdev>\n  </devices>\n</domain>\n`);
  const r = vfioctl('persist', xml, '--json');
  expectCode('persist exit code', r, 0);
  expectEq('persisted', r.json().devices.map((x) => [x.address, x.group, x.mode]), [[NIC1, GROUP, 'auto'], [NIC2, GROUP, 'auto']]);
  const rule = fs.readFileSync(RULE, 'utf8');
  for (const a of [NIC1, NIC2]) if (!rule.includes(`KERNEL=="${a}", ATTR{vendor}=="0x8086", ATTR{device}=="0x100e"`)) throw new Error(`the rule has no guarded line for ${a}`);
  expectEq('modules-load.d', fs.readFileSync('/etc/modules-load.d/vfioctl.conf', 'utf8').split('\n').filter((l) => l && !l.startsWith('#')), ['vfio-pci']);
  ready = true;
  return { name: `udev (persist at boot): \`vfioctl persist\` of one e1000 with group='auto' writes its files into /etc (${how} over the read-only root), both NICs of group ${GROUP} (${NIC1}, ${NIC2}) in the rule, guarded by 8086:100e` };
});

/** One boot; vfio-pci loaded by hand before the trigger, or only by the rule's kmod load. */
function boot(vfioFirst) {
  const when = `vfio-pci ${vfioFirst ? 'loaded' : 'not loaded'} before the trigger`;
  const test = () => {
    if (!ready) throw new Error('persist did not write its files');
    if (vfioFirst) must('modprobe vfio-pci', 'modprobe vfio-pci');
    expectEq('vfio_pci loaded before the trigger', loaded('vfio_pci'), vfioFirst);
    const seconds = coldplug();
    expectBoot(when, { [NIC1]: 'vfio-pci', [NIC2]: 'vfio-pci' });
    expectEq('overrides', [overrideOf(NIC1), overrideOf(NIC2)], ['vfio-pci', 'vfio-pci']);
    expectEq('kernel verdict (VFIO_GROUP_GET_STATUS)', kernelVerdict(GROUP), 'viable');
    const v = vfioctl('persist', '--verify', '--json');
    expectCode('persist --verify', v, 0);
    expectEq('verify: devices', v.json().devices.map((x) => [x.address, x.state]), [[NIC1, 'held'], [NIC2, 'held']]);
    const e1000 = loaded('e1000') ? 'e1000 loaded by udev and skipped them' : 'e1000 never loaded';
    return { name: `udev boot, ${when}: both e1000 of group ${GROUP} on vfio-pci straight after settle (${seconds.toFixed(1)} s, ${e1000}), the other NICs on e1000e/igb, the kernel says viable, \`persist --verify\` exits 0` };
  };
  kase(`udev boot, ${when}: both e1000 of the group on vfio-pci, the other NICs on their host drivers, the kernel says viable, \`persist --verify\` exits 0`, thenRestore(test, asBooted));
}

boot(false);
boot(true);

kase("udev boot with a rule whose vendor:device do not match the second NIC: it stays on e1000, a line in the kernel log, the group not viable, `persist --verify` exits 14 naming it", thenRestore(() => {
  if (!ready) throw new Error('persist did not write its files');
  // Another card in the slot: the record and the rule were written for 8086:100f at NIC2 (what persist would write for one).
  const record = JSON.parse(fs.readFileSync(RECORD, 'utf8'));
  record.devices.find((x) => x.address === NIC2).device = '100f';
  fs.writeFileSync(RECORD, `${JSON.stringify(record, null, 2)}\n`);
  const rule = fs
    .readFileSync(RULE, 'utf8')
    .split('\n')
    .map((l) => (l.includes(`KERNEL=="${NIC2}"`) ? l.replace(/0x100e/g, '0x100f') : l.replace(`devices/${NIC2} 0x8086:0x100e`, `devices/${NIC2} 0x8086:0x100f`)));
  if (!rule.some((l) => l.includes(`devices/${NIC2} 0x8086:0x100f`))) throw new Error(`the rule's first line does not name ${NIC2}`);
  fs.writeFileSync(RULE, rule.join('\n'));
  coldplug();
  expectBoot('decoy', { [NIC1]: 'vfio-pci', [NIC2]: 'e1000' });
  expectEq('override of the second NIC', overrideOf(NIC2), '(null)');
  expectEq('kernel verdict (VFIO_GROUP_GET_STATUS)', kernelVerdict(GROUP), 'not-viable');
  const logged = must('dmesg', 'dmesg').split('\n').find((l) => l.includes(`vfioctl: ${NIC2} is 0x8086:0x100e`));
  if (!logged) throw new Error(`no kernel log line for ${NIC2}`);
  if (must('dmesg', 'dmesg').includes(`vfioctl: ${NIC1} is`)) throw new Error(`a kernel log line for ${NIC1}, which matched`);
  const v = vfioctl('persist', '--verify');
  expectCode('persist --verify', v, 14);
  if (!v.stderr.includes(`${NIC2}: the device there is 8086:100e`) || !v.stderr.includes('not the persisted 8086:100f')) throw new Error(`verify does not name ${NIC2}: ${v.stderr.trim()}`);
  return { name: `udev boot with a rule whose vendor:device do not match the second NIC (8086:100f persisted, 8086:100e there): it stays on e1000 with no override, the kernel log says why ("${logged.replace(/^\[[^\]]*\]\s*/, '').slice(0, 60)}…"), the group is not viable, \`persist --verify\` exits 14 naming it` };
}, asBooted));

kase('udev: the guest as it booted: udevd gone, /etc the read-only original, no driver_override, no PCI driver udev loaded', () => {
  let error = null;
  try {
    stopUdev();
  } catch (err) {
    error = err;
  }
  // /etc first, whatever else fails: the later cases must not see the persisted files.
  if (fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === '/etc')) must('umount /etc', 'umount /etc');
  sh(`umount ${SCRATCH}; rmdir ${SCRATCH}; modprobe -r -q overlay`);
  if (!atBoot.runVfioctl) fs.rmSync('/run/vfioctl', { recursive: true, force: true }); // persist's lock
  if (error) throw error;
  if (fs.existsSync(RECORD) || fs.existsSync(RULE)) throw new Error('/etc still has the persisted files');
  asBooted();
  expectEq('overrides', addresses().map(overrideOf).filter((o) => o !== '(null)'), []);
  return { name: `udev: the guest as it booted: udevd gone, /etc the read-only original, no driver_override, no PCI driver udev loaded${leftovers.length > 0 ? ` (still loaded, driving no PCI device: ${leftovers.join(', ')})` : ''}` };
});

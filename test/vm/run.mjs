#!/usr/bin/env node
// `npm run test:vm`: vfioctl on a real Linux kernel with an emulated IOMMU (QEMU q35 + intel-iommu, TCG),
// and the simulated kernel held to it. Recipe: test/vm/README.md. Steps:
//   1. install what is missing from Debian's archive (qemu-system-x86, a kernel, busybox-static, cpio, kmod,
//      libvirt's daemon, QEMU driver and client);
//   2. build an initramfs (busybox + the 9p modules) in test/vm/.work/;
//   3. boot the guest with the host's / read-only over 9p and a writable results share; the guest runs
//      test/vm/guest/main.sh → cases.mjs on its real /sys, then libvirtd with vfioctl's hook (libvirt-up.sh) and
//      real VM starts (libvirt.mjs), and prints one VMCASE line per case;
//   4. on the host, run the same write sequences on the simulated kernel loaded with the guest's snapshot and
//      compare every step (result, drivers, and how many interfaces each function has);
//   5. keep the guest's snapshot as the bundled host mock-sysfs/hosts/qemu-q35-iommu.json.
// A guest that hangs is killed after GUEST_TIMEOUT_S and fails the run; a machine that cannot boot a guest fails
// the run loudly. Never passes silently.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { sriovQemu } from './qemu10.mjs';
import { interfaceCounts, resolveStep, sequencesFor } from './sequences.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const WORK = path.join(HERE, '.work');
const OUT = path.join(WORK, 'out');
// Kept between runs (WORK is wiped at each): the QEMU with SR-IOV fetched by qemu10.mjs.
const CACHE = path.join(HERE, '.cache');
// A whole guest run is about 3-4 minutes under TCG on 2 cores (libvirtd's boot and the VM starts are most of
// it); the bound keeps test:vm, package installation included, under 10 minutes even when the guest hangs.
const GUEST_TIMEOUT_S = Number(process.env.VFIOCTL_VM_TIMEOUT ?? 420);
// The guest mounts a fresh tmpfs on /run (vfioctl's journal and lock live there) and on /tmp: a project under
// the host's /run would be hidden; one under /tmp keeps the host's /tmp visible instead (read-only).
if (REPO === '/run' || REPO.startsWith('/run/')) {
  process.stdout.write(`test:vm: the project is under /run (${REPO}), which the guest replaces with a tmpfs; clone it elsewhere.\n`);
  process.exit(1);
}
const keepTmp = REPO.startsWith('/tmp/');
const started = Date.now();

const log = (s) => process.stdout.write(`${s}\n`);
function die(message) {
  log(`\n!!! test:vm FAILED: ${message}`);
  process.exit(1);
}
const sh = (cmd, opts = {}) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
const have = (cmd) => sh(`command -v ${cmd}`).status === 0;

// 1. Packages -------------------------------------------------------------------------------------------
const kernels = () => (fs.existsSync('/boot') ? fs.readdirSync('/boot').filter((f) => /^vmlinuz-/.test(f)).sort() : []);
const need = [];
if (!have('qemu-system-x86_64')) need.push('qemu-system-x86');
if (kernels().length === 0) need.push('linux-image-amd64');
if (!fs.existsSync('/bin/busybox')) need.push('busybox-static');
if (!have('cpio')) need.push('cpio');
if (!have('modinfo')) need.push('kmod');
// libvirtd and its QEMU driver run inside the guest (guest/libvirt-up.sh); virsh drives them (guest/libvirt.mjs).
if (!have('libvirtd')) need.push('libvirt-daemon');
if (sh('ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so').status !== 0) need.push('libvirt-daemon-driver-qemu');
if (!have('virsh')) need.push('libvirt-clients');
if (need.length > 0) {
  log(`== installing from Debian's archive: ${need.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = sh(`apt-get install -y -qq --no-install-recommends ${need.join(' ')}`, { env });
  if (r.status !== 0) r = sh(`apt-get update -qq && apt-get install -y -qq --no-install-recommends ${need.join(' ')}`, { env });
  if (r.status !== 0) die(`could not install ${need.join(' ')}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
}
const kernelFile = kernels().at(-1);
if (!kernelFile) die('no kernel in /boot after installing linux-image-amd64');
const version = kernelFile.replace(/^vmlinuz-/, '');
// The guest's igb PF needs QEMU >= 8 (`-device igb`); Debian 12 ships 7.2. Without it the SR-IOV cases are
// skipped, loudly, and the rest runs; VFIOCTL_VM_SRIOV=require (CI) makes that a failure, =skip forces it.
const sriov = process.env.VFIOCTL_VM_SRIOV === 'skip' ? { error: 'VFIOCTL_VM_SRIOV=skip' } : sriovQemu(path.join(CACHE, 'qemu-sriov'), log);
if (sriov.error) {
  log(`\n!!! SR-IOV cases skipped: no SR-IOV-capable QEMU (${sriov.error})\n`);
  if (process.env.VFIOCTL_VM_SRIOV === 'require') die('VFIOCTL_VM_SRIOV=require, and no SR-IOV-capable QEMU could be had');
} else log(`== QEMU ${sriov.version} with igb ${sriov.fetched ? 'fetched into' : 'from'} ${path.relative(REPO, path.dirname(path.dirname(path.dirname(sriov.bin))))}`);

// 2. The bundle and the initramfs ------------------------------------------------------------------------
if (!fs.existsSync(path.join(REPO, 'dist/vfioctl.cjs'))) {
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts/build.mjs')], { cwd: REPO, stdio: 'inherit' });
  if (r.status !== 0) die('npm run build failed');
}
fs.rmSync(WORK, { recursive: true, force: true });
const initDir = path.join(WORK, 'initramfs');
for (const d of ['bin', 'proc', 'sys', 'dev', 'modules', 'host']) fs.mkdirSync(path.join(initDir, d), { recursive: true });
fs.mkdirSync(OUT, { recursive: true });
fs.copyFileSync('/bin/busybox', path.join(initDir, 'bin/busybox'));
fs.chmodSync(path.join(initDir, 'bin/busybox'), 0o755);
fs.copyFileSync(path.join(HERE, 'guest/init.sh'), path.join(initDir, 'init'));
fs.chmodSync(path.join(initDir, 'init'), 0o755);
const order = [];
for (const m of ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p']) {
  const r = sh(`modinfo -k ${version} -F filename ${m}`);
  const file = r.stdout.trim().split('\n')[0];
  if (r.status !== 0 || !file || file.startsWith('(builtin)') || !fs.existsSync(file)) continue; // built in, or not in this kernel
  const dest = path.join(initDir, 'modules', `${m}.ko`);
  if (file.endsWith('.xz')) sh(`xz -dc '${file}' > '${dest}'`);
  else if (file.endsWith('.zst')) sh(`zstd -dcq '${file}' -o '${dest}'`);
  else if (file.endsWith('.gz')) sh(`gzip -dc '${file}' > '${dest}'`);
  else fs.copyFileSync(file, dest);
  order.push(m);
}
fs.writeFileSync(path.join(initDir, 'modules.order'), `${order.join('\n')}\n`);
const initrd = path.join(WORK, 'initrd.gz');
if (sh(`cd '${initDir}' && find . | cpio -o -H newc --quiet | gzip -1 > '${initrd}'`).status !== 0) die('building the initramfs failed');
log(`== kernel ${version}, initramfs with ${order.length} modules (${((Date.now() - started) / 1000).toFixed(1)} s so far)`);

// 3. Boot --------------------------------------------------------------------------------------------------
const kvmUsable = fs.existsSync('/dev/kvm') && /\b(vmx|svm)\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
const qemu = [
  '-machine', `q35,accel=${kvmUsable && process.env.VFIOCTL_VM_KVM === '1' ? 'kvm' : 'tcg'},kernel-irqchip=split`,
  '-cpu', 'qemu64', '-m', '1024', '-smp', '1', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
  '-device', 'intel-iommu,intremap=on',
  '-kernel', `/boot/${kernelFile}`, '-initrd', initrd,
  '-append', `console=ttyS0 intel_iommu=on panic=-1 quiet vmtest=${path.join(HERE, 'guest/main.sh')} vmout=${OUT}${keepTmp ? ' vmtmp=keep' : ''} vmsriov=${sriov.error ? 0 : 1}`,
  '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
  '-fsdev', `local,id=fsout,path=${OUT},security_model=none,multidevs=remap`, '-device', 'virtio-9p-pci,fsdev=fsout,mount_tag=hostout',
  // a multifunction device on the root complex: two functions, groups of their own
  '-device', 'e1000e,bus=pcie.0,addr=0x5.0,multifunction=on,romfile=', '-device', 'e1000e,bus=pcie.0,addr=0x5.1,romfile=',
  // the classic: two conventional PCI NICs behind a PCIe-to-PCI bridge share one group with it
  '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x6', '-device', 'pcie-pci-bridge,id=br1,bus=rp1',
  '-device', 'e1000,bus=br1,addr=1,romfile=', '-device', 'e1000,bus=br1,addr=2,romfile=',
  // a single-device group behind a root port
  '-device', 'pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x7', '-device', 'e1000e,bus=rp2,romfile=',
  // three functions behind one root port: one group of three; edu has no Linux driver (an unbound endpoint)
  '-device', 'pcie-root-port,id=rp3,bus=pcie.0,chassis=3,addr=0x8',
  '-device', 'e1000e,bus=rp3,addr=0.0,multifunction=on,romfile=', '-device', 'virtio-net-pci,bus=rp3,addr=0.1,romfile=', '-device', 'edu,bus=rp3,addr=0.2',
  // an SR-IOV PF (82576, igb) alone behind a root port; its VFs appear on `echo N > sriov_numvfs` (guest/sriov.mjs)
  ...(sriov.error ? [] : ['-device', 'pcie-root-port,id=rp4,bus=pcie.0,chassis=4,addr=0x9', '-device', 'igb,bus=rp4,romfile=']),
  '-nic', 'none',
  ...(sriov.error ? [] : sriov.args),
];
log(`== booting the guest (TCG, QEMU ${sriov.error ? 'qemu-system-x86_64 of the system' : sriov.version}, timeout ${GUEST_TIMEOUT_S} s)`);
const boot = spawnSync('timeout', ['-k', '10', String(GUEST_TIMEOUT_S), sriov.error ? 'qemu-system-x86_64' : sriov.bin, ...qemu], { encoding: 'utf8', maxBuffer: 1 << 28 });
const console_ = `${boot.stdout ?? ''}${boot.stderr ?? ''}`;
fs.writeFileSync(path.join(WORK, 'console.log'), console_);
if (boot.error) die(`could not start QEMU: ${boot.error.message}`);
if (boot.status === 124 || boot.status === 137) die(`the guest did not finish within ${GUEST_TIMEOUT_S} s (console: ${path.join(WORK, 'console.log')}; libvirtd's log: ${path.join(OUT, 'libvirtd.log')}):\n${console_.split('\n').slice(-25).join('\n')}`);
if (!/VMHARNESS: guest up/.test(console_)) die(`the guest never came up (QEMU exit ${boot.status}); this machine cannot boot the test guest. Console tail:\n${console_.split('\n').slice(-25).join('\n')}`);
const bootSeconds = (Date.now() - started) / 1000;

const cases = [...console_.matchAll(/^VMCASE (PASS|FAIL) (.+?)(?: :: (.*))?$/gm)].map((m) => ({ pass: m[1] === 'PASS', name: m[2].trim(), reason: m[3]?.trim() }));
const rc = /VMTEST-RC=(\d+)/.exec(console_)?.[1];
log(`\n== cases on the real kernel (${version})`);
for (const c of cases) log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}${c.reason ? `\n        ${c.reason}` : ''}`);
if (cases.length === 0) die(`the guest reported no cases (exit marker ${rc ?? 'missing'}). Console tail:\n${console_.split('\n').slice(-25).join('\n')}`);

// 4. The differential ----------------------------------------------------------------------------------------
let compared = 0;
let agree = 0;
const differences = [];
const realFile = path.join(OUT, 'real.json');
const snapFile = path.join(OUT, 'guest-host.json');
if (fs.existsSync(realFile) && fs.existsSync(snapFile)) {
  const bundle = path.join(WORK, 'simulate.mjs');
  await build({ entryPoints: [path.join(HERE, 'host/simulate.ts')], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'error' });
  const { simulate } = await import(pathToFileURL(bundle).href);
  const real = JSON.parse(fs.readFileSync(realFile, 'utf8'));
  const roles = JSON.parse(fs.readFileSync(path.join(OUT, 'roles.json'), 'utf8'));
  const snapshot = JSON.parse(fs.readFileSync(snapFile, 'utf8'));
  const sequences = sequencesFor(roles).map((s) => ({ name: s.name, steps: s.steps.map((st) => resolveStep(st, roles)) }));
  const sim = simulate(snapshot, sequences, path.join(WORK, 'simulated-host'), (dir) => interfaceCounts(fs, dir));
  if (JSON.stringify(sim.initial) !== JSON.stringify(real.initial)) differences.push(`initial drivers differ:\n    real ${JSON.stringify(real.initial)}\n    sim  ${JSON.stringify(sim.initial)}`);
  if (JSON.stringify(sim.initialObserved) !== JSON.stringify(real.initialInterfaces)) differences.push(`initial interfaces differ:\n    real ${JSON.stringify(real.initialInterfaces)}\n    sim  ${JSON.stringify(sim.initialObserved)}`);
  real.sequences.forEach((seq, i) => {
    seq.steps.forEach((step, j) => {
      const s = sim.sequences[i].steps[j];
      compared += 1;
      const same = s.result === step.result && JSON.stringify(s.drivers) === JSON.stringify(step.drivers) && JSON.stringify(s.observed) === JSON.stringify(step.interfaces);
      if (same) agree += 1;
      else {
        const changed = Object.keys(step.drivers).filter((a) => step.drivers[a] !== s.drivers[a]).map((a) => `${a}: real ${step.drivers[a]}, simulated ${s.drivers[a]}`);
        const nets = Object.keys(step.interfaces).filter((a) => step.interfaces[a] !== s.observed[a]).map((a) => `${a}: real ${step.interfaces[a]}, simulated ${s.observed[a]}`);
        differences.push(`${seq.name}, step ${j + 1}: ${step.path} <- ${JSON.stringify(step.value.length > 40 ? `${step.value.slice(0, 20)}…(${step.value.length} bytes)` : step.value)}: real ${step.result}, simulated ${s.result}${changed.length ? `; drivers ${changed.join('; ')}` : ''}${nets.length ? `; interfaces ${nets.join('; ')}` : ''}`);
      }
    });
  });
  log(`\n== differential, simulated kernel vs real kernel: ${compared} steps compared, ${agree} agree`);
  for (const d of differences) log(`  DIFFERS  ${d}`);

  // 5. Keep the guest as a bundled simulated host.
  snapshot.name = 'qemu-q35-iommu';
  snapshot.summary = 'QEMU q35 guest with intel-iommu (the real-kernel tests): two e1000 behind a PCIe-to-PCI bridge in one group, a 3-function group with an unbound edu device, an igb SR-IOV PF with two igbvf VFs each in its own group, virtio 9p root';
  const bundled = path.join(REPO, 'mock-sysfs/hosts/qemu-q35-iommu.json');
  // The harness's own 9p share (REPO/test/vm/.work/out, mounted in the guest at this machine's path) is not
  // part of the guest as a host: its mount stays out of the bundled host, which must not carry this machine's
  // paths (the device and its tag stay: they are the guest's).
  snapshot.mounts = (snapshot.mounts ?? []).filter((m) => !m.target.startsWith(REPO));
  const text = `${JSON.stringify(snapshot, null, 2)}\n`;
  // A guest without the igb PF would drop SR-IOV from the bundled host: keep the bundled one then.
  if (sriov.error) log(`  (kept ${path.relative(REPO, bundled)}: this guest had no SR-IOV PF)`);
  else if (!fs.existsSync(bundled) || fs.readFileSync(bundled, 'utf8') !== text) {
    fs.writeFileSync(bundled, text);
    log(`  (updated ${path.relative(REPO, bundled)} from this guest)`);
  }
} else {
  differences.push('the guest wrote no snapshot or no real-kernel results');
}

const failed = cases.filter((c) => !c.pass);
if (sriov.error) log(`\n!!! SR-IOV cases skipped: no SR-IOV-capable QEMU (${sriov.error})`);
log(`\n== test:vm: ${cases.length - failed.length}/${cases.length} cases passed; differential ${agree}/${compared} steps agree; ${((Date.now() - started) / 1000).toFixed(1)} s (guest ${bootSeconds.toFixed(1)} s)`);
if (failed.length > 0 || differences.length > 0 || rc !== '0') die(`${failed.length} case(s) failed, ${differences.length} difference(s), guest exit ${rc ?? 'missing'}`);

// The cost of a VM start that vfioctl's libvirt hook adds (issue 15 §2, issue 21): the installed qemu hook
// script, run as libvirt runs it (its four arguments, the domain XML on stdin, libvirt's minimal environment),
// on a simulated host whose GPU is a 4-function IOMMU group, timed in rounds against `node -e 0`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const HOOK_HEADING = '## VM start: the libvirt hook';
const GPU = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const DOMAIN = { name: 'bench-gpu', uuid: 'b0b0b0b0-0000-4000-8000-000000000001' };
const PLAIN = { name: 'bench-plain', uuid: 'b0b0b0b0-0000-4000-8000-000000000002' };

/**
 * mock-sysfs/hosts/workstation.json with a Turing-style GPU of four functions (VGA on nouveau, HDMI audio,
 * a USB 3 controller on xhci_hcd, a USB-C UCSI controller on nvidia-gpu) in an IOMMU group of their own:
 * the root port above it is put in a group of its own, as on a host whose root ports have ACS.
 */
export function hookHost(repo) {
  const desc = JSON.parse(fs.readFileSync(path.join(repo, 'mock-sysfs/hosts/workstation.json'), 'utf8'));
  const gpu = desc.devices.find((d) => d.address === GPU[0]);
  const rootPort = desc.devices.find((d) => d.address === gpu.parent);
  rootPort.iommuGroup = 100;
  const fn = (n, device, cls, driver) => ({ ...gpu, address: GPU[n], device, class: cls, driver, multifunction: undefined, bootVga: undefined });
  desc.devices.push(fn(2, '1ad6', '0c0330', 'xhci_hcd'), fn(3, '1ad7', '0c8000', 'nvidia-gpu'));
  desc.drivers.push({ name: 'nvidia-gpu', module: 'i2c_nvidia_gpu', state: 'loaded', ids: [{ vendor: '10de', device: '1ad7' }] });
  desc.name = 'workstation-gpu4';
  desc.summary = 'workstation.json with a 4-function GPU (VGA, audio, USB, UCSI) alone in IOMMU group 1';
  return desc;
}

/** A domain as libvirt hands it to its hooks: name, UUID, and the GPU's first function with group='auto'. */
function domainXml({ name, uuid }, hostdevs) {
  const dev = (a) => {
    const [d, b, sf] = a.split(':');
    const [s, f] = sf.split('.');
    return `    <hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio' group='auto'/><source><address domain='0x${d}' bus='0x${b}' slot='0x${s}' function='0x${f}'/></source><alias name='hostdev0'/></hostdev>\n`;
  };
  return `<domain type='kvm' id='1'>\n  <name>${name}</name>\n  <uuid>${uuid}</uuid>\n  <memory unit='KiB'>1048576</memory>\n  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n${hostdevs.map(dev).join('')}  </devices>\n</domain>\n`;
}

const driverOf = (root, a) => {
  try {
    return path.basename(fs.readlinkSync(path.join(root, 'sys/bus/pci/devices', a, 'driver')));
  } catch {
    return null;
  }
};
const kernelWrites = (root) => JSON.parse(fs.readFileSync(path.join(root, '.vfioctl-sim/kernel.json'), 'utf8')).writes;

/**
 * Installs the hook into a temp libvirt directory, checks once that prepare begin moves the whole group and
 * release end gives it back (counting the simulated kernel's writes), then times, in rounds: node -e 0, the
 * hook for a domain without hostdev (prepare begin, and started begin as every other operation), and the
 * GPU domain's prepare begin and release end (in that order, so every round starts from the host's drivers).
 */
export function measureHook({ repo, bin, work, env, timeInterleaved, rounds }) {
  const descFile = path.join(work, 'hook-host.json');
  fs.writeFileSync(descFile, JSON.stringify(hookHost(repo)));
  const root = path.join(work, 'hook-host');
  const made = spawnSync(process.execPath, [bin, 'mock', 'create', descFile, root], { env });
  if (made.status !== 0) throw new Error(`mock create failed: ${made.stderr}`);
  const libvirt = path.join(work, 'etc-libvirt');
  fs.mkdirSync(libvirt);
  const inst = spawnSync(process.execPath, [bin, 'hook', 'install', '--libvirt-dir', libvirt], { env });
  if (inst.status !== 0) throw new Error(`hook install failed: ${inst.stderr}`);
  const script = path.join(libvirt, 'hooks', 'qemu.d', 'vfioctl');
  // libvirt's hook environment (its docs/hooks.rst): no node on PATH; VFIOCTL_ROOT points at the simulated host.
  const hookEnv = { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', USER: 'root', LOGNAME: 'root', VFIOCTL_ROOT: root };
  const gpuXml = domainXml(DOMAIN, [GPU[0]]);
  const plainXml = domainXml(PLAIN, []);
  const hook = (d, op, sub, input) => [script, [d.name, op, sub, '-'], { env: hookEnv, input }];
  const call = (...a) => {
    const [cmd, argv, opts] = hook(...a);
    const r = spawnSync(cmd, argv, { ...opts, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`hook ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  };
  const before = GPU.map((a) => driverOf(root, a));
  const w0 = kernelWrites(root);
  call(DOMAIN, 'prepare', 'begin', gpuXml);
  const moved = GPU.map((a) => driverOf(root, a));
  if (moved.some((d) => d !== 'vfio-pci')) throw new Error(`prepare begin left the group on ${moved.join(', ')}`);
  const w1 = kernelWrites(root);
  call(DOMAIN, 'release', 'end', gpuXml);
  const back = GPU.map((a) => driverOf(root, a));
  if (back.join() !== before.join()) throw new Error(`release end left the group on ${back.join(', ')}, not ${before.join(', ')}`);
  const w2 = kernelWrites(root);
  const t = timeInterleaved(
    {
      nodeFloor: [process.execPath, ['-e', '0']],
      plainPrepare: hook(PLAIN, 'prepare', 'begin', plainXml),
      plainOther: hook(PLAIN, 'started', 'begin', plainXml),
      prepare: hook(DOMAIN, 'prepare', 'begin', gpuXml),
      release: hook(DOMAIN, 'release', 'end', gpuXml),
    },
    rounds,
  );
  if (GPU.map((a) => driverOf(root, a)).join() !== before.join()) throw new Error('the rounds did not leave the group on its drivers');
  return { ...t, drivers: before, prepareWrites: w1 - w0, releaseWrites: w2 - w1 };
}

/** The section of bench/results.md for the hook, with its own machine line (`--only hook` rewrites only it). */
export function hookSection(h, { machine, rounds, command }) {
  const f = (ms) => `${ms.toFixed(1)} ms`;
  const x = (ms) => `${(ms / h.nodeFloor).toFixed(2)}x`;
  const startCost = h.plainPrepare + 2 * h.plainOther;
  return [
    HOOK_HEADING,
    '',
    `Run: \`${command}\` on ${machine}; median of ${rounds} rounds after one warm-up, each command once per round, wall clock of the whole process.`,
    `The installed hooks/qemu.d/vfioctl script, run with libvirt's arguments, the domain XML on stdin and libvirt's minimal environment, on a simulated host: mock-sysfs/hosts/workstation.json with a 4-function GPU (${h.drivers.join(', ')}) alone in its IOMMU group (generated by bench/hook.mjs). The domain names the GPU's first function with \`group='auto'\`: prepare begin moves all four to vfio-pci (${h.prepareWrites} writes to the simulated kernel, whose own work is included), release end gives them back (${h.releaseWrites} writes). A real kernel's driver unbind and probe (a GPU driver's can take seconds) come on top and are not vfioctl's.`,
    '',
    '| hook call | time | of node -e 0 |',
    '|---|---:|---:|',
    `| node -e 0 | ${f(h.nodeFloor)} | 1.00x |`,
    `| prepare begin, domain without hostdev | ${f(h.plainPrepare)} | ${x(h.plainPrepare)} |`,
    `| started begin (every other operation) | ${f(h.plainOther)} | ${x(h.plainOther)} |`,
    `| prepare begin, 4-device group moves | ${f(h.prepare)} | ${x(h.prepare)} |`,
    `| release end, 4-device group back | ${f(h.release)} | ${x(h.release)} |`,
    '',
    `libvirt runs the hook three times for a start (prepare begin, start begin, started begin) and twice for a stop (stopped end, release end). Every VM start pays about ${f(startCost)} (prepare begin without hostdev and two other operations); a start whose group moves pays ${f(h.prepare + 2 * h.plainOther)}, its stop ${f(h.release + h.plainOther)}.`,
    '',
  ];
}

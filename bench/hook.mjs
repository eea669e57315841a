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
 * A simulated host in DIR with the hook's environment for it; checks once, through the installed script, that
 * prepare begin moves the whole group and release end gives it back, counting the simulated kernel's writes.
 */
function hookHostIn(dir, { descFile, bin, env, script, gpuXml }) {
  const root = path.join(dir, 'hook-host');
  const made = spawnSync(process.execPath, [bin, 'mock', 'create', descFile, root], { env });
  if (made.status !== 0) throw new Error(`mock create failed: ${made.stderr}`);
  // libvirt's hook environment (its docs/hooks.rst): no node on PATH; VFIOCTL_ROOT points at the simulated host.
  const hookEnv = { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', USER: 'root', LOGNAME: 'root', VFIOCTL_ROOT: root };
  const call = (op, sub) => {
    const r = spawnSync(script, [DOMAIN.name, op, sub, '-'], { env: hookEnv, input: gpuXml, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`hook ${op} ${sub} failed (${r.status}): ${r.stderr}`);
  };
  const drivers = () => GPU.map((a) => driverOf(root, a));
  const before = drivers();
  const w0 = kernelWrites(root);
  call('prepare', 'begin');
  if (drivers().some((d) => d !== 'vfio-pci')) throw new Error(`prepare begin left the group on ${drivers().join(', ')}`);
  const w1 = kernelWrites(root);
  call('release', 'end');
  if (drivers().join() !== before.join()) throw new Error(`release end left the group on ${drivers().join(', ')}, not ${before.join(', ')}`);
  const back = () => drivers().join() === before.join();
  return { root, hookEnv, before, back, prepareWrites: w1 - w0, releaseWrites: kernelWrites(root) - w1 };
}

/**
 * Installs the hook into a temp libvirt directory and times, in rounds: node -e 0, the hook for a domain without
 * hostdev (prepare begin, and started begin as every other operation), and the GPU domain's prepare begin and
 * release end (in that order, so every round starts from the host's drivers) on two copies of the host: one in
 * WORK (on disk, as the other hosts of the bench) and, when /dev/shm is there, one on tmpfs, as a real host's
 * /sys and /run are in memory (the journal's fsyncs cost nothing there).
 */
export function measureHook({ repo, bin, work, env, timeInterleaved, rounds }) {
  const descFile = path.join(work, 'hook-host.json');
  fs.writeFileSync(descFile, JSON.stringify(hookHost(repo)));
  const libvirt = path.join(work, 'etc-libvirt');
  fs.mkdirSync(libvirt);
  const inst = spawnSync(process.execPath, [bin, 'hook', 'install', '--libvirt-dir', libvirt], { env });
  if (inst.status !== 0) throw new Error(`hook install failed: ${inst.stderr}`);
  const script = path.join(libvirt, 'hooks', 'qemu.d', 'vfioctl');
  const gpuXml = domainXml(DOMAIN, [GPU[0]]);
  const plainXml = domainXml(PLAIN, []);
  const disk = hookHostIn(work, { descFile, bin, env, script, gpuXml });
  let mem = null;
  if (fs.existsSync('/dev/shm')) {
    const shm = fs.mkdtempSync('/dev/shm/vfioctl-bench-');
    process.on('exit', () => fs.rmSync(shm, { recursive: true, force: true }));
    mem = hookHostIn(shm, { descFile, bin, env, script, gpuXml });
  }
  const hook = (host, d, op, sub, input) => [script, [d.name, op, sub, '-'], { env: host.hookEnv, input }];
  const t = timeInterleaved(
    {
      nodeFloor: [process.execPath, ['-e', '0']],
      plainPrepare: hook(disk, PLAIN, 'prepare', 'begin', plainXml),
      plainOther: hook(disk, PLAIN, 'started', 'begin', plainXml),
      prepare: hook(disk, DOMAIN, 'prepare', 'begin', gpuXml),
      release: hook(disk, DOMAIN, 'release', 'end', gpuXml),
      ...(mem ? { memPrepare: hook(mem, DOMAIN, 'prepare', 'begin', gpuXml), memRelease: hook(mem, DOMAIN, 'release', 'end', gpuXml) } : {}),
    },
    rounds,
  );
  if (!disk.back() || (mem && !mem.back())) throw new Error('the rounds did not leave the group on its drivers');
  return { memPrepare: null, memRelease: null, ...t, drivers: disk.before, prepareWrites: disk.prepareWrites, releaseWrites: disk.releaseWrites };
}

/** The section of bench/results.md for the hook, with its own machine line (`--only hook` rewrites only it). */
export function hookSection(h, { machine, rounds, command }) {
  const f = (ms) => `${ms.toFixed(1)} ms`;
  const x = (ms) => `${(ms / h.nodeFloor).toFixed(2)}x`;
  const startCost = h.plainPrepare + 2 * h.plainOther;
  const onMem = (disk, mem) => (mem === null ? f(disk) : `${f(disk)} (${f(mem)} on tmpfs)`);
  return [
    HOOK_HEADING,
    '',
    `Run: \`${command}\` on ${machine}; median of ${rounds} rounds after one warm-up, each command once per round, wall clock of the whole process.`,
    `The installed hooks/qemu.d/vfioctl script, run with libvirt's arguments, the domain XML on stdin and libvirt's minimal environment, on a simulated host: mock-sysfs/hosts/workstation.json with a 4-function GPU (${h.drivers.join(', ')}) alone in its IOMMU group (generated by bench/hook.mjs). The domain names the GPU's first function with \`group='auto'\`: prepare begin moves all four to vfio-pci (${h.prepareWrites} writes to the simulated kernel, whose own work is included), release end gives them back (${h.releaseWrites} writes). The host is timed on disk (os.tmpdir(), as the hosts above) and, in the same rounds, on tmpfs (/dev/shm), as a real host's /sys and /run (where the journal is fsynced after every write) are in memory. A real kernel's driver unbind and probe (a GPU driver's can take seconds) come on top and are not vfioctl's.`,
    '',
    '| hook call | time | of node -e 0 |',
    '|---|---:|---:|',
    `| node -e 0 | ${f(h.nodeFloor)} | 1.00x |`,
    `| prepare begin, domain without hostdev | ${f(h.plainPrepare)} | ${x(h.plainPrepare)} |`,
    `| started begin (every other operation) | ${f(h.plainOther)} | ${x(h.plainOther)} |`,
    `| prepare begin, 4-device group moves, host on disk | ${f(h.prepare)} | ${x(h.prepare)} |`,
    `| release end, 4-device group back, host on disk | ${f(h.release)} | ${x(h.release)} |`,
    ...(h.memPrepare === null
      ? []
      : [`| prepare begin, 4-device group moves, host on tmpfs | ${f(h.memPrepare)} | ${x(h.memPrepare)} |`, `| release end, 4-device group back, host on tmpfs | ${f(h.memRelease)} | ${x(h.memRelease)} |`]),
    '',
    `libvirt runs the hook three times for a start (prepare begin, start begin, started begin) and twice for a stop (stopped end, release end). Every VM start pays about ${f(startCost)} (prepare begin without hostdev and two other operations); a start whose group moves pays ${onMem(h.prepare + 2 * h.plainOther, h.memPrepare === null ? null : h.memPrepare + 2 * h.plainOther)}, its stop ${onMem(h.release + h.plainOther, h.memRelease === null ? null : h.memRelease + h.plainOther)}.`,
    '',
  ];
}

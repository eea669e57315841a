// Runs inside the QEMU guest after libvirt-up.sh: real libvirtd, real QEMU (TCG inside TCG), vfioctl's hook
// installed in libvirtd's hooks/qemu.d, on the guest's real /sys. One VMCASE line per case (see lib.mjs).
// The devices: the two e1000 NICs behind the PCIe-to-PCI bridge (one IOMMU group with the bridge), found by
// topology in roles.json (written by cases.mjs), never by number.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, DEVICES, drivers, expectCode, expectEq, groupOf, kase, results, vfioctl, write } from './lib.mjs';

const OUT = process.argv[2];
const NS = 'https://vfioctl.dev/xmlns/libvirt/1';
const STAMPS = '/run/vfioctl-vm/stamps';
const JOURNAL = '/run/vfioctl/journal.json';
const HOOK = '/etc/libvirt/hooks/qemu.d/vfioctl';
const roles = JSON.parse(fs.readFileSync(path.join(OUT, 'roles.json'), 'utf8'));
const { NIC1, NIC2, BRIDGE } = roles;
const GROUP = groupOf(NIC1);
const before = drivers();

/** A program with a hard time limit: a hang fails the case, not the whole run. */
function run(cmd, args, { input, timeoutS = 180 } = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: timeoutS * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 26 });
  const code = r.error?.code === 'ETIMEDOUT' ? `killed after ${timeoutS} s` : (r.status ?? r.signal);
  return { code, stdout: r.stdout ?? '', stderr: r.stderr ?? '', seconds: (Date.now() - t0) / 1000 };
}
const virsh = (...args) => run('virsh', ['-c', 'qemu:///system', ...args], { timeoutS: 120 });
/** virsh start, its output kept in OUT/NAME.start-N.txt (virsh's error carries the hook's line). */
let starts = 0;
function start(name) {
  const r = virsh('start', name);
  starts += 1;
  fs.writeFileSync(path.join(OUT, `${name}.start-${starts}.txt`), `exit ${r.code} after ${r.seconds.toFixed(1)} s\n${r.stdout}${r.stderr}`);
  return r;
}
const domstate = (name) => virsh('domstate', name).stdout.trim();
const journalDevices = () => (fs.existsSync(JOURNAL) ? JSON.parse(fs.readFileSync(JOURNAL, 'utf8')).devices : {});
const stamps = () => (fs.existsSync(STAMPS) ? fs.readFileSync(STAMPS, 'utf8').trim().split('\n') : []);
const fail = (what, r) => new Error(`${what}: exit ${r.code}: ${`${r.stderr}${r.stdout}`.trim().slice(0, 600)}`);

const hostdev = (address, mode) => {
  const [d, b, sf] = address.split(':');
  const [s, f] = sf.split('.');
  return `    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'${mode ? ` group='${mode}'` : ''}/>
      <source>
        <address domain='0x${d}' bus='0x${b}' slot='0x${s}' function='0x${f}'/>
      </source>
    </hostdev>
`;
};
/** The smallest domain that starts under TCG in the guest, with the group mode as the user writes it. */
const domainXml = (name, nics, mode, { disk, uuid } = {}) => `<domain type='qemu'>
  <name>${name}</name>
${uuid ? `  <uuid>${uuid}</uuid>\n` : ''}  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${disk ? `    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source file='${disk}'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n` : ''}    <controller type='usb' model='none'/>
${nics.map((a) => hostdev(a, mode)).join('')}    <memballoon model='none'/>
  </devices>
</domain>
`;

/** The user's file → `vfioctl metadata FILE` → `virsh define`. Returns what vfioctl printed. */
function define(name, nics, mode, extra = {}) {
  const file = path.join(OUT, `${name}.xml`);
  fs.writeFileSync(file, domainXml(name, nics, mode, extra));
  const meta = run(process.execPath, [BIN, 'metadata', file]);
  if (meta.code !== 0) throw fail('vfioctl metadata', meta);
  if (!meta.stdout.includes(NS)) throw new Error(`vfioctl metadata printed no element in ${NS}:\n${meta.stdout}`);
  if (/group=/.test(meta.stdout.replace(/<metadata>[\s\S]*<\/metadata>/, ''))) throw new Error(`vfioctl metadata left a group attribute:\n${meta.stdout}`);
  const defined = path.join(OUT, `${name}.defined.xml`);
  fs.writeFileSync(defined, meta.stdout);
  const r = virsh('define', defined);
  if (r.code !== 0) throw fail('virsh define', r);
  return meta.stdout;
}
/** virsh dumpxml keeps vfioctl's metadata element, with the mode. */
function expectKept(name, mode) {
  const dump = virsh('dumpxml', name);
  if (dump.code !== 0) throw fail('virsh dumpxml', dump);
  if (!dump.stdout.includes(NS) || !dump.stdout.includes(mode)) throw new Error(`virsh dumpxml lost vfioctl's metadata:\n${dump.stdout}`);
  const m = virsh('metadata', name, NS);
  if (m.code !== 0 || !m.stdout.includes(mode)) throw fail(`virsh metadata ${name} ${NS}`, m);
  return dump.stdout;
}
/** Opening the group's VFIO node from this process: EBUSY while QEMU holds it. */
function openGroup() {
  try {
    fs.closeSync(fs.openSync(`/dev/vfio/${GROUP}`, 'r+'));
    return 'opened';
  } catch (err) {
    return err.code;
  }
}
const nics = () => [drivers()[NIC1], drivers()[NIC2]];
const home = [before[NIC1], before[NIC2]];
/** Seconds between the stamp hooks around vfioctl's, for one call of DOMAIN OP SUBOP. */
function hookSeconds(domain, op, subop) {
  const at = (which) => stamps().map((l) => l.split(' ')).find((w) => w[0] === domain && w[1] === op && w[2] === subop && w[3] === which)?.[4];
  const [t0, t1] = [at('00-stamp'), at('zz-stamp')];
  if (t0 === undefined || t1 === undefined) throw new Error(`libvirt never ran the hooks for ${domain} ${op} ${subop}; stamps:\n${stamps().join('\n')}`);
  return Number(t1) - Number(t0);
}

// --- a, d: one running domain, a second one refused ------------------------------------------------------
let aStart = null;
kase(`a) group='auto' on ONE NIC of the bridge group (${NIC1}) via \`vfioctl metadata\` + virsh define: dumpxml keeps it; virsh start moves both NICs to vfio-pci, QEMU holds group ${GROUP}`, () => {
  if (!home.every((d) => d !== null && d !== 'vfio-pci')) throw new Error(`the NICs are not on a host driver before: ${home}`);
  define('vfioctl-a', [NIC1], 'auto');
  expectKept('vfioctl-a', 'auto');
  const started = start('vfioctl-a');
  if (started.code !== 0) throw fail('virsh start', started);
  aStart = started.seconds;
  expectEq('domstate', domstate('vfioctl-a'), 'running');
  expectEq('NICs while the domain runs', nics(), ['vfio-pci', 'vfio-pci']);
  expectEq('bridge', drivers()[BRIDGE], before[BRIDGE]);
  expectEq(`opening /dev/vfio/${GROUP} from another process`, openGroup(), 'EBUSY');
  const held = journalDevices();
  for (const a of [NIC1, NIC2]) if (!JSON.stringify(held[a] ?? null).includes('vfioctl-a')) throw new Error(`the journal does not give ${a} to vfioctl-a: ${JSON.stringify(held)}`);
  return { name: `a) group='auto' on ONE NIC of the bridge group via \`vfioctl metadata\` + virsh define: dumpxml keeps it; virsh start (${aStart.toFixed(1)} s) moves both NICs to vfio-pci, QEMU holds the group (EBUSY)` };
});

kase('d) a second domain naming the other NIC of that group is refused at start, naming the first; nothing moves', () => {
  if (aStart === null) throw new Error("needs case a's running domain");
  define('vfioctl-d', [NIC2], 'auto');
  const r = start('vfioctl-d');
  if (r.code === 0) {
    virsh('destroy', 'vfioctl-d');
    throw new Error('the second domain started');
  }
  // libvirt alone would let it through to QEMU (the device is already on vfio-pci), which fails on the busy
  // group without naming anyone: the refusal must be the hook's, and name the holder.
  if (!r.stderr.includes('Hook script execution failed') || !r.stderr.includes('vfioctl-a')) throw fail("virsh's error is not the hook's refusal naming vfioctl-a", r);
  expectEq('the first domain', domstate('vfioctl-a'), 'running');
  expectEq('NICs', nics(), ['vfio-pci', 'vfio-pci']);
  expectEq(`/dev/vfio/${GROUP}`, openGroup(), 'EBUSY');
  expectEq('journal', Object.keys(journalDevices()).sort(), [NIC1, NIC2]);
});

kase("g) `vfioctl reattach` by hand while the domain runs: refused at once (exit 12, QEMU named, `virsh destroy`), not a hang in vfio-pci's unbind; another domain's file: exit 7", () => {
  if (aStart === null) throw new Error("needs case a's running domain");
  const journal = JSON.stringify(journalDevices());
  // The user's own file for a (no <uuid>: the name decides): ownership passes, and the group is in use.
  const own = run(process.execPath, [BIN, 'reattach', path.join(OUT, 'vfioctl-a.xml')], { timeoutS: 60 });
  expectEq('reattach of the running domain\'s file: exit', own.code, 12);
  for (const part of [`(IOMMU group ${GROUP}): /dev/vfio/${GROUP} is held open by qemu`, '(pid ', '`virsh destroy vfioctl-a`']) {
    if (!own.stderr.includes(part)) throw fail(`the refusal lacks ${JSON.stringify(part)}`, own);
  }
  const all = run(process.execPath, [BIN, 'reattach', '--all'], { timeoutS: 60 });
  expectEq('reattach --all: exit', all.code, 12);
  // d's file names NIC2 for domain vfioctl-d: the journal holds it for vfioctl-a.
  const other = run(process.execPath, [BIN, 'reattach', path.join(OUT, 'vfioctl-d.xml')], { timeoutS: 60 });
  expectEq("reattach of another domain's file: exit", other.code, 7);
  if (!other.stderr.includes("for domain 'vfioctl-a'")) throw fail('the refusal does not name vfioctl-a', other);
  expectEq('the domain', domstate('vfioctl-a'), 'running');
  expectEq('NICs', nics(), ['vfio-pci', 'vfio-pci']);
  expectEq('journal', JSON.stringify(journalDevices()), journal);
  return { name: `g) \`vfioctl reattach\` by hand while the domain runs: exit 12 in ${own.seconds.toFixed(1)} s naming QEMU and \`virsh destroy vfioctl-a\` (--all too), nothing moved; another domain's file: exit 7 naming vfioctl-a` };
});

kase('a) virsh destroy: both NICs back on their driver (release end), the journal holds no device', () => {
  if (aStart === null) throw new Error("needs case a's running domain");
  const r = virsh('destroy', 'vfioctl-a');
  if (r.code !== 0) throw fail('virsh destroy', r);
  expectEq('NICs', nics(), home);
  expectEq('drivers', drivers(), before);
  expectEq('journal', journalDevices(), {});
});

kase("f) the hook's time in a VM start", () => {
  if (aStart === null) throw new Error("needs case a's start");
  const prepare = hookSeconds('vfioctl-a', 'prepare', 'begin');
  const release = hookSeconds('vfioctl-a', 'release', 'end');
  const other = hookSeconds('vfioctl-a', 'start', 'begin');
  return { name: `f) the hook's time (TCG in TCG): prepare begin ${prepare.toFixed(1)} s of a ${aStart.toFixed(1)} s virsh start; release end ${release.toFixed(1)} s; start begin (nothing to do) ${other.toFixed(1)} s` };
});

// --- b: manual, refused --------------------------------------------------------------------------------
kase("b) the same domain with group='manual': virsh start fails with vfioctl's message, nothing moves", () => {
  const uuid = virsh('domuuid', 'vfioctl-a').stdout.trim();
  define('vfioctl-a', [NIC1], 'manual', { uuid });
  const dump = expectKept('vfioctl-a', 'manual');
  // What vfioctl says to libvirt, asked directly (a refusal writes nothing), must reach virsh's error.
  const own = run(HOOK, ['vfioctl-a', 'prepare', 'begin', '-'], { input: dump });
  if (own.code === 0) throw new Error(`the hook accepted group='manual' on a group with ${NIC2} on ${before[NIC2]}`);
  const line = own.stderr.trim().split('\n').at(-1);
  const r = start('vfioctl-a');
  if (r.code === 0) {
    virsh('destroy', 'vfioctl-a');
    throw new Error('the domain started');
  }
  if (!line || !r.stderr.includes(line)) throw fail(`virsh's error lacks the hook's line ${JSON.stringify(line)}`, r);
  expectEq('drivers', drivers(), before);
  expectEq('journal', journalDevices(), {});
  virsh('undefine', 'vfioctl-a');
});

// --- c: QEMU's start fails after prepare begin ------------------------------------------------------------
kase('c) a start that fails after prepare begin (a disk that does not exist): the devices are back', () => {
  const missing = '/var/lib/libvirt/images/vfioctl-missing.img';
  define('vfioctl-c', [NIC1], 'auto', { disk: missing });
  const r = start('vfioctl-c');
  if (r.code === 0) {
    virsh('destroy', 'vfioctl-c');
    throw new Error('the domain started');
  }
  if (!r.stderr.includes(missing)) throw fail('virsh start failed, but not for the missing disk', r);
  hookSeconds('vfioctl-c', 'prepare', 'begin'); // it did run: the failure came after it
  hookSeconds('vfioctl-c', 'release', 'end');
  expectEq('drivers', drivers(), before);
  expectEq('journal', journalDevices(), {});
  virsh('undefine', 'vfioctl-c');
});

// --- e: QEMU's own verdict, without libvirt ---------------------------------------------------------------
const QMP = '{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n';
const qemu = (addrs) =>
  run('qemu-system-x86_64', ['-machine', 'q35,accel=tcg', '-nodefaults', '-display', 'none', '-S', ...addrs.flatMap((a) => ['-device', `vfio-pci,host=${a}`]), '-qmp', 'stdio'], { input: QMP, timeoutS: 90 });

kase("e) QEMU's own verdict: vfio-pci on a half-moved group is refused (not viable), accepted after `vfioctl detach`", () => {
  write(`${DEVICES}/${NIC1}/driver_override`, 'vfio-pci');
  write(`/sys/bus/pci/drivers/${before[NIC1]}/unbind`, NIC1);
  write('/sys/bus/pci/drivers_probe', NIC1);
  const half = qemu([NIC1]);
  write(`${DEVICES}/${NIC1}/driver_override`, '\n');
  write('/sys/bus/pci/drivers/vfio-pci/unbind', NIC1);
  write(`/sys/bus/pci/drivers/${before[NIC1]}/bind`, NIC1);
  if (half.code === 0 || !/not viable/.test(half.stderr)) throw fail('QEMU with one NIC moved by hand', half);
  expectEq('drivers after the half-moved try', drivers(), before);

  const file = path.join(OUT, 'qemu-direct.xml');
  fs.writeFileSync(file, domainXml('qemu-direct', [NIC1], 'auto'));
  expectCode('vfioctl detach', vfioctl('detach', file), 0);
  const whole = qemu([NIC1, NIC2]);
  expectCode('vfioctl reattach', vfioctl('reattach', file), 0);
  if (whole.code !== 0 || !/"status": "prelaunch"/.test(whole.stdout)) throw fail('QEMU with the group detached by vfioctl', whole);
  expectEq('drivers after reattach', drivers(), before);
  return { name: `e) QEMU's own verdict: vfio-pci on a half-moved group refused ("not viable", ${half.seconds.toFixed(1)} s), both NICs accepted after \`vfioctl detach\` (QMP prelaunch, ${whole.seconds.toFixed(1)} s)` };
});

// Leave nothing running; keep libvirt's per-domain logs for a failed run.
for (const name of virsh('list', '--name').stdout.split('\n').filter(Boolean)) virsh('destroy', name);
for (const f of fs.existsSync('/var/log/libvirt/qemu') ? fs.readdirSync('/var/log/libvirt/qemu') : []) fs.copyFileSync(path.join('/var/log/libvirt/qemu', f), path.join(OUT, `qemu-${f}`));
fs.writeFileSync(path.join(OUT, 'libvirt-cases.json'), JSON.stringify(results, null, 2));
process.exitCode = results.every((r) => r.pass) ? 0 : 1;

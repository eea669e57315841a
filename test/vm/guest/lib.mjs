// Helpers shared by the guest's case files (cases.mjs, libvirt.mjs): the guest's sysfs read independently of
// vfioctl, vfioctl run through bin/, the kernel's own viability verdict, and the VMCASE reporting.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BIN = path.resolve(HERE, '../../../bin/vfioctl');
export const DEVICES = '/sys/bus/pci/devices';

export function vfioctl(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--root', '/'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

// --- the guest's sysfs, read independently of vfioctl ---------------------------------------------------
export const link = (p) => {
  try {
    return path.basename(fs.readlinkSync(p));
  } catch {
    return null;
  }
};
export const addresses = () => fs.readdirSync(DEVICES).sort();
export const driverOf = (a) => link(`${DEVICES}/${a}/driver`);
export const groupOf = (a) => {
  const g = link(`${DEVICES}/${a}/iommu_group`);
  return g === null ? null : Number(g);
};
export const overrideOf = (a) => fs.readFileSync(`${DEVICES}/${a}/driver_override`, 'utf8').trim();
export const drivers = () => Object.fromEntries(addresses().map((a) => [a, driverOf(a)]));
export const write = (p, v) => fs.writeFileSync(p, v);

/** The kernel's verdict: 'viable', 'not-viable', or 'absent' (no /dev/vfio/N: no member on vfio-pci). */
export function kernelVerdict(group) {
  const r = spawnSync('python3', [path.join(HERE, 'vfio-status.py'), String(group)], { encoding: 'utf8' });
  const out = r.stdout.trim();
  if (r.status !== 0) throw new Error(`VFIO_GROUP_GET_STATUS failed: ${r.stderr.trim()}`);
  return out === 'absent' ? 'absent' : out === '1' ? 'viable' : 'not-viable';
}

// --- cases -----------------------------------------------------------------------------------------------
export const results = [];
/** Runs one case; prints `VMCASE PASS name` or `VMCASE FAIL name :: reason`. It fails when it throws or returns
 * a string (the reason); it may return `{ name }` to carry a measurement in its name. */
export function kase(name, fn) {
  let reason = null;
  let shown = name;
  const t0 = Date.now();
  try {
    const r = fn();
    if (typeof r === 'string') reason = r;
    else if (typeof r?.name === 'string') shown = r.name;
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  const seconds = (Date.now() - t0) / 1000;
  results.push({ name: shown, pass: reason === null, reason, seconds });
  shown += ` [${seconds.toFixed(1)} s]`;
  process.stdout.write(reason === null ? `VMCASE PASS ${shown}\n` : `VMCASE FAIL ${shown} :: ${reason.replace(/\n/g, ' | ')}\n`);
  return reason === null;
}
export const expectEq = (what, got, want) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
};
/** An exit code, with the program's own words when it is not the one expected. */
export const expectCode = (what, r, want) => {
  if (r.code !== want) throw new Error(`${what}: got ${r.code}, want ${want}: ${`${r.stderr ?? ''}`.trim().slice(0, 600)}`);
};

// --- SR-IOV (the igb PF of QEMU >= 8; run.mjs puts vmsriov=1 on the kernel command line when it has one) ---
export const SRIOV = /(^|\s)vmsriov=1(\s|$)/.test(fs.readFileSync('/proc/cmdline', 'utf8'));
const attr = (a, f) => fs.readFileSync(`${DEVICES}/${a}/${f}`, 'latin1').trim();
/** The 82576 PF (8086:10c9), found by its IDs. */
export const igbPf = () => addresses().find((a) => attr(a, 'vendor') === '0x8086' && attr(a, 'device') === '0x10c9' && fs.existsSync(`${DEVICES}/${a}/sriov_totalvfs`));
export const numVfs = (pf) => Number(attr(pf, 'sriov_numvfs'));
export const totalVfs = (pf) => Number(attr(pf, 'sriov_totalvfs'));
/** The PF's VFs in virtfnN order, from its links. */
export const vfsOf = (pf) =>
  fs
    .readdirSync(`${DEVICES}/${pf}`)
    .filter((e) => /^virtfn\d+$/.test(e))
    .sort((x, y) => Number(x.slice(6)) - Number(y.slice(6)))
    .map((e) => link(`${DEVICES}/${pf}/${e}`));
/** `echo N > sriov_numvfs`, then the VFs' drivers the way udev would load them (modprobe of their modaliases). */
export function setNumVfs(pf, n) {
  const t0 = Date.now();
  write(`${DEVICES}/${pf}/sriov_numvfs`, String(n));
  const vfs = vfsOf(pf);
  if (vfs.length > 0) spawnSync('modprobe', ['-a', '-q', '-b', ...vfs.map((v) => attr(v, 'modalias'))]);
  return (Date.now() - t0) / 1000;
}

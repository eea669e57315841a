import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useSimulatedHosts, simulatedWrites } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { report, Tally } from './campaign.js';

/**
 * Host trees that lie or are broken: vfioctl reads them with care (O_NOFOLLOW, links resolved inside the
 * root, IDs parsed strictly) and says what is wrong, with exit 13 and never a stack trace or a write.
 */
const simulatedHost = useSimulatedHosts();
const tally = new Tally();
afterAll(() => report(tally.summary('hostile host trees')));

const NIC = '0000:01:00.0';
const dev = (root: string, ...p: string[]): string => path.join(root, 'sys/devices/pci0000:00/0000:00:1c.0', NIC, ...p);
/** Removes every device's uevent file (a tree made by hand or by an older vfioctl), then spoils the tree. */
const noUevent = (root: string, spoil: () => void): void => {
  const devices = path.join(root, 'sys/bus/pci/devices');
  for (const d of fs.readdirSync(devices)) fs.rmSync(path.join(devices, d, 'uevent'), { force: true });
  spoil();
};
/** The same, and the NIC has no config file either: its IDs come from the vendor and device files. */
const noIdFiles = (root: string, spoil: () => void): void =>
  noUevent(root, () => {
    fs.rmSync(dev(root, 'config'));
    spoil();
  });
const replaceLink = (link: string, target: string): void => {
  fs.rmSync(link, { force: true });
  fs.symlinkSync(target, link);
};

const spoilers: [string, (root: string) => void, RegExp][] = [
  ['a symlink loop where a device should be', (r) => replaceLink(path.join(r, 'sys/bus/pci/devices', NIC), NIC), /symlink loop/],
  ["an iommu_group link pointing outside the tree", (r) => replaceLink(dev(r, 'iommu_group'), '/etc'), /outside .*not trustworthy/],
  ['a device link pointing outside sys/devices', (r) => replaceLink(path.join(r, 'sys/bus/pci/devices', NIC), '/usr'), /outside .*not trustworthy/],
  // IDs and the driver come from uevent when there is one; a tree without it (hand-made, or from an older
  // vfioctl) is read from the separate files and the driver link.
  ['a tree without uevent or config, and a missing vendor file', (r) => noIdFiles(r, () => fs.rmSync(dev(r, 'vendor'))), /has no vendor file/],
  ['a tree without uevent, and an empty class file', (r) => noUevent(r, () => fs.writeFileSync(dev(r, 'class'), '')), /class holds '', not a 6-digit hex ID/],
  ['a tree without uevent or config, and garbage in vendor', (r) => noIdFiles(r, () => fs.writeFileSync(dev(r, 'vendor'), '0xZZ;rm -rf /\n')), /vendor holds '0xZZ;rm -rf \/', not a 4-digit hex ID/],
  ['a vendor file that is a symlink to a secret', (r) => noIdFiles(r, () => replaceLink(dev(r, 'vendor'), '/etc/shadow')), /symlink/],
  ['a uevent file that is a symlink to a secret', (r) => replaceLink(dev(r, 'uevent'), '/etc/shadow'), /symlink/],
  ['a tree without uevent, and a driver link naming an odd driver', (r) => noUevent(r, () => {
    const odd = path.join(r, 'sys/bus/pci/drivers', 'e1000e;reboot');
    fs.mkdirSync(odd);
    replaceLink(dev(r, 'driver'), path.relative(dev(r), odd));
  }), /not a valid driver name/],
  ['a uevent naming an odd driver', (r) => fs.writeFileSync(dev(r, 'uevent'), fs.readFileSync(dev(r, 'uevent'), 'latin1').replace(/^DRIVER=.*$/m, 'DRIVER=e1000e;reboot')), /uevent DRIVER= line of 0000:01:00.0 names 'e1000e;reboot', which is not a valid driver name/],
  ['a group number that is not a number', (r) => {
    fs.mkdirSync(path.join(r, 'sys/kernel/iommu_groups/x1/devices'), { recursive: true });
    replaceLink(dev(r, 'iommu_group'), path.relative(dev(r), path.join(r, 'sys/kernel/iommu_groups/x1')));
  }, /not a group number/],
  ['a group directory listing a non-address', (r) => fs.writeFileSync(path.join(r, 'sys/kernel/iommu_groups/2/devices/evil'), ''), /holds 'evil', which is not a PCI address/],
];

describe('hostile host trees: a clear error, exit 13, no crash, no write', () => {
  it.each(spoilers)('%s', async (name, spoil, message) => {
    const h = simulatedHost(tinyHost());
    spoil(h.root);
    const xml = tempFile('x.xml', domainXml('x', [{ address: NIC, group: 'auto' }]));
    const results = [
      await runCli(['group-info', NIC, '--root', h.root]),
      await runCli(['list', '--root', h.root]),
      await runCli(['detach', xml, '--root', h.root]),
    ];
    const first = results[0]!;
    const ok =
      results.every((r) => r.code !== 1 && !/internal error|\bat .*\.(m?js|ts):\d+/.test(r.stderr)) &&
      first.code === 13 &&
      message.test(first.stderr) &&
      simulatedWrites(h.root).every((w) => w.path.startsWith('/sys/bus/pci/'));
    tally.record(name, ok, results.map((r) => `exit ${r.code}: ${r.stderr.trim()}`).join(' | '));
    expect(results.map((r) => r.code)).not.toContain(1);
    expect(first.code).toBe(13);
    expect(first.stderr).toMatch(message);
  });
});

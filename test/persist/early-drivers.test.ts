import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import type { HostDescription } from '../../src/mock/description.js';
import { json, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

// qemu-q35-iommu: the e1000e 0000:03:00.0 is alone in its group; 0000:00:05.0, 00:05.1 and 04:00.0 are e1000e
// too (8086:10d3). Group 10 holds the two e1000 (8086:100e) behind a PCIe-to-PCI bridge.
const simHost = useSimulatedHosts();
const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n';
const FEDORA = 'NAME="Fedora Linux"\nID=fedora\nPRETTY_NAME="Fedora Linux 40 (Server Edition)"\n';

/** The bundled host with some drivers built into the kernel (`module: null`) and an os-release. */
function host(builtin: string[], osRelease?: string): HostDescription {
  const d = structuredClone(loadHostDescription('qemu-q35-iommu'));
  for (const drv of d.drivers) if (builtin.includes(drv.name)) drv.module = null;
  return { ...d, osRelease };
}
const solo = (): string => tempFile('solo.xml', domainXml('solo', [{ address: '0000:03:00.0', group: 'auto' }]));
const pair = (): string => tempFile('pair.xml', domainXml('pair', [{ address: '0000:02:01.0', group: 'auto' }]));
const notes = (root: string, xml: string): string[] => json(runBin(['persist', xml, '--dry-run', '--json', '--root', root])).notes;

describe('persist: host drivers that bind before the udev rule', () => {
  it('a built-in host driver: says so, with vfio-pci.ids= for Debian and the devices that share the IDs', () => {
    const h = simHost(host(['e1000e'], DEBIAN));
    expect(fs.readFileSync(path.join(h.root, 'lib/modules/6.1.0-57-amd64/modules.builtin'), 'utf8')).toContain('kernel/drivers/pci/e1000e.ko\n');
    const r = runBin(['persist', solo(), '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'note: 0000:03:00.0: its host driver e1000e is built into the kernel (/lib/modules/6.1.0-57-amd64/modules.builtin): it binds the device while the kernel starts, before any udev rule or initramfs, so the rule cannot keep it off. ' +
        'As a last resort, add vfio-pci.ids=8086:10d3 to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then `update-grub`: it takes every device with the IDs 8086:10d3, here also 0000:00:05.0, 0000:00:05.1, 0000:04:00.0, which would lose e1000e too. ' +
        '(vfio-pci is a module on this kernel and loads only after e1000e has bound: then only a kernel with e1000e as a module helps.)\n',
    );
  });

  it('a built-in host driver on Fedora, with vfio-pci built in too: grubby, and no other device shares the IDs', () => {
    const h = simHost(host(['e1000', 'vfio-pci'], FEDORA));
    const n = notes(h.root, pair());
    expect(n.filter((x) => x.includes('built into the kernel'))).toEqual(
      ['0000:02:01.0', '0000:02:02.0'].map(
        (a) =>
          `${a}: its host driver e1000 is built into the kernel (/lib/modules/6.1.0-57-amd64/modules.builtin): it binds the device while the kernel starts, before any udev rule or initramfs, so the rule cannot keep it off. ` +
          'As a last resort, `grubby --update-kernel=ALL --args="vfio-pci.ids=8086:100e"`: it takes every device with the IDs 8086:100e, no other device on this host now. (vfio-pci is built into this kernel too, so it can claim the IDs while the kernel starts.)',
      ),
    );
  });

  it('a driver the initramfs loads (dracut on Fedora, initramfs-tools on Debian): the configuration that puts vfio-pci and the rule there', () => {
    const fedora = simHost(host([], FEDORA));
    fs.mkdirSync(path.join(fedora.root, 'etc/dracut.conf.d'), { recursive: true });
    fs.writeFileSync(path.join(fedora.root, 'etc/dracut.conf.d/net.conf'), 'add_drivers+=" e1000e igb "\n');
    const [f] = notes(fedora.root, solo()).filter((x) => x.includes('initramfs ('));
    expect(f).toContain('0000:03:00.0: its host driver e1000e is loaded from the initramfs (/etc/dracut.conf.d/net.conf), before the rule on the root filesystem runs, so it may bind first. On Fedora Linux 40 (Server Edition), put vfio-pci and the rule into the initramfs with a dracut configuration, then `dracut -f`:\n');
    expect(f).toContain('force_drivers+=" vfio-pci "\ninstall_items+=" /etc/udev/rules.d/60-vfioctl.rules "\n');

    const debian = simHost(host([], DEBIAN));
    fs.mkdirSync(path.join(debian.root, 'etc/initramfs-tools'), { recursive: true });
    fs.writeFileSync(path.join(debian.root, 'etc/initramfs-tools/modules'), '# modules\ne1000e\n');
    const [d] = notes(debian.root, solo()).filter((x) => x.includes('initramfs ('));
    expect(d).toContain('loaded from the initramfs (/etc/initramfs-tools/modules)');
    expect(d).toContain('/etc/initramfs-tools/hooks/vfioctl (chmod 755), then `update-initramfs -u`:\n#!/bin/sh\n');
    expect(d).toContain('manual_add_modules vfio-pci\nmkdir -p "$DESTDIR/etc/udev/rules.d"\ncp /etc/udev/rules.d/60-vfioctl.rules "$DESTDIR/etc/udev/rules.d/"\n');
  });

  it('host drivers that are modules, not in the initramfs configuration: no such note', () => {
    const h = simHost(host([], DEBIAN));
    expect(notes(h.root, solo()).filter((x) => x.includes('initramfs') || x.includes('built into'))).toEqual([]);
  });
});

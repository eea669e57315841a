import type { Element } from '@xmldom/xmldom';
import type { Assignment, LibvirtDocument, NotHandled } from './assignment.js';
import { attr, fail, onlyChild, parseDev, parseDriver, parseManaged, parsePciAddress, ref, selectElements, selectString } from './elements.js';

/**
 * A libvirt domain: every `<hostdev mode='subsystem' type='pci'>` and `<interface type='hostdev'>` under
 * /domain/devices. Other hostdevs (USB, SCSI, mdev, capabilities) are reported as not handled.
 */
const seedHostdevGroupError = (v: string): string => `Unknown PCI device group management method <driver group='${v}'/> has been specified`;

const NOT_HANDLED: Record<string, string> = {
  usb: 'USB hostdevs are not handled by vfioctl (only PCI devices have IOMMU groups)',
  scsi: 'SCSI hostdevs are not handled by vfioctl (only PCI devices have IOMMU groups)',
  scsi_host: 'vhost-scsi hostdevs are not handled by vfioctl (only PCI devices have IOMMU groups)',
  mdev: 'mediated devices (mdev) are not handled by vfioctl: their parent stays on its host driver',
};

export function parseDomain(root: Element, file: string): LibvirtDocument {
  const name = selectString('string(/domain/name)', root).trim();
  const assignments: Assignment[] = [];
  const notHandled: NotHandled[] = [];
  for (const el of selectElements('/domain/devices/hostdev', root)) {
    const r = ref(file, el);
    const mode = attr(el, 'mode') ?? 'subsystem';
    const type = attr(el, 'type');
    if (mode === 'capabilities') {
      notHandled.push({ source: r, reason: 'capabilities hostdevs (block, char, net devices of the host) are not PCI assignment' });
      continue;
    }
    if (mode !== 'subsystem') fail(r, `mode='${mode}' is not valid: libvirt knows mode='subsystem' and mode='capabilities'.`);
    if (type === undefined) fail(r, `it has no type attribute (type='pci' for PCI device assignment).`);
    if (type !== 'pci') {
      const reason = NOT_HANDLED[type];
      if (!reason) fail(r, `type='${type}' is not a hostdev type libvirt knows.`);
      notHandled.push({ source: r, reason });
      continue;
    }
    const managed = parseManaged(r, el);
    const driver = parseDriver(file, onlyChild(file, el, 'driver', false), seedHostdevGroupError);
    const source = onlyChild(file, el, 'source', true)!;
    const address = onlyChild(file, source, 'address', true)!;
    assignments.push({ kind: 'hostdev', source: r, managed, driverName: driver.name, groupMode: driver.groupMode, groupModeExplicit: driver.groupModeExplicit, target: { type: 'address', address: parsePciAddress(file, address) } });
  }
  for (const el of selectElements("/domain/devices/interface[@type='hostdev']", root)) {
    const r = ref(file, el);
    const managed = parseManaged(r, el);
    const driver = parseDriver(file, onlyChild(file, el, 'driver', false), seedHostdevGroupError);
    // The seed's docs: group on an interface only "when the interface element has managed='yes' set".
    if (driver.groupModeExplicit && !managed) {
      fail(r, `<driver group='${driver.groupMode}'/> on an <interface type='hostdev'> requires managed='yes' on the interface (libvirt only manages the group of a managed interface).`, `Write <interface type='hostdev' managed='yes'>.`);
    }
    const source = onlyChild(file, el, 'source', true)!;
    const address = onlyChild(file, source, 'address', false);
    if (!address) {
      const dev = attr(source, 'dev');
      if (dev !== undefined) parseDev(file, source);
      fail(ref(file, source), `an <interface type='hostdev'> names its PCI device with <address type='pci' .../> inside <source>.`);
    }
    assignments.push({ kind: 'interface', source: r, managed, driverName: driver.name, groupMode: driver.groupMode, groupModeExplicit: driver.groupModeExplicit, target: { type: 'address', address: parsePciAddress(file, address) } });
  }
  return { kind: 'domain', name, file, assignments, notHandled };
}

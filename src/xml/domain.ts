import type { Element } from '@xmldom/xmldom';
import { printable } from '../errors.js';
import type { Assignment, LibvirtDocument, NotHandled, SourceRef } from './assignment.js';
import { DEVICE_DRIVER_MESSAGES, parseDriverElement } from './driver-element.js';
import { attr, children, fail, onlyChild, parseManaged, parsePciAddress, ref } from './elements.js';

/**
 * A libvirt domain: every `<hostdev mode='subsystem' type='pci'>` and `<interface type='hostdev'>` under
 * /domain/devices. Other hostdevs (USB, SCSI, vhost-scsi, mdev, capabilities) are reported as not handled.
 * Only the host side is read: a hostdev's own `<address>` (outside `<source>`) is where the guest sees it.
 */
const ONLY_PCI = '(only PCI devices have IOMMU groups)';
const NOT_HANDLED: Record<string, string> = {
  usb: `USB hostdevs are not handled by vfioctl ${ONLY_PCI}`,
  scsi: `SCSI hostdevs are not handled by vfioctl ${ONLY_PCI}`,
  scsi_host: `vhost-scsi hostdevs are not handled by vfioctl ${ONLY_PCI}`,
  mdev: 'mediated devices (mdev) are not handled by vfioctl: their parent device stays on its host driver',
};
const CAPABILITIES = "mode='capabilities' hostdevs (host block, character and network devices) are not handled by vfioctl: they are not PCI assignment";

export function parseDomain(root: Element, file: string): LibvirtDocument {
  const name = children(root, 'name')[0]?.textContent?.trim() ?? '';
  const assignments: Assignment[] = [];
  const notHandled: NotHandled[] = [];
  const readingNotes: string[] = [];
  // In document order, so reports list devices as the file does. A plain walk, not XPath: xpath's
  // node-set ordering is quadratic, and a 4 MiB file holds twenty thousand hostdevs.
  for (const el of deviceElements(root)) {
    const r = ref(file, el);
    if (el.tagName === 'hostdev') {
      const reason = notHandledReason(r, el);
      if (reason) notHandled.push({ source: r, reason });
      else assignments.push(deviceAssignment('hostdev', r, el, file, readingNotes));
      continue;
    }
    const a = deviceAssignment('interface', r, el, file, readingNotes);
    // The libvirt proposal's docs: group on an interface only "when the interface element has managed='yes' set"
    // (docs/group-modes.md).
    if (a.groupModeExplicit && !a.managed) {
      fail(
        r,
        `<driver group='${a.groupMode}'/> on an <interface type='hostdev'> requires managed='yes' on the interface (libvirt manages the group only of an interface it manages).`,
        "Write <interface type='hostdev' managed='yes'>, or remove the group attribute and detach the group yourself.",
      );
    }
    assignments.push(a);
  }
  return { kind: 'domain', name, file, assignments, notHandled, ...(readingNotes.length > 0 ? { readingNotes } : {}) };
}

/** The elements parseDomain makes assignments of (in a document it accepted): PCI hostdevs and hostdev interfaces. */
export function assignedDeviceElements(root: Element): Element[] {
  return deviceElements(root).filter((el) => el.tagName === 'interface' || ((attr(el, 'mode') ?? 'subsystem') === 'subsystem' && attr(el, 'type') === 'pci'));
}

/** The <hostdev> and <interface type='hostdev'> children of /domain/devices. */
function deviceElements(root: Element): Element[] {
  const out: Element[] = [];
  for (const devices of children(root, 'devices')) {
    for (let n = devices.firstChild; n; n = n.nextSibling) {
      if (n.nodeType !== 1) continue;
      const el = n as Element;
      if (el.tagName === 'hostdev' || (el.tagName === 'interface' && attr(el, 'type') === 'hostdev')) out.push(el);
    }
  }
  return out;
}

/** undefined for a PCI hostdev (vfioctl handles it); the reason otherwise; an error for what libvirt would refuse. */
function notHandledReason(r: SourceRef, el: Element): string | undefined {
  const mode = attr(el, 'mode') ?? 'subsystem'; // libvirt's default
  if (mode === 'capabilities') return CAPABILITIES;
  if (mode !== 'subsystem') fail(r, `mode='${printable(mode)}' is not a hostdev mode: libvirt knows mode='subsystem' and mode='capabilities'.`);
  const type = attr(el, 'type');
  if (type === undefined) fail(r, "it has no type attribute; PCI device assignment is <hostdev mode='subsystem' type='pci'>.");
  if (type === 'pci') return undefined;
  const reason = NOT_HANDLED[type];
  if (!reason) fail(r, `type='${printable(type)}' is not a hostdev type libvirt knows (pci, usb, scsi, scsi_host, mdev).`);
  return reason;
}

/** The parts `<hostdev>` and `<interface type='hostdev'>` share: managed, `<driver>`, and `<source><address/></source>`. */
function deviceAssignment(kind: 'hostdev' | 'interface', r: SourceRef, el: Element, file: string, readingNotes: string[]): Assignment {
  const managed = parseManaged(r, el);
  const driver = parseDriverElement(file, onlyChild(file, el, 'driver', false), DEVICE_DRIVER_MESSAGES);
  const source = onlyChild(file, el, 'source', true)!;
  const address = onlyChild(file, source, 'address', false);
  if (!address) {
    fail(
      ref(file, source),
      `it has no <address>; vfioctl finds the host's PCI device by <address domain= bus= slot= function=/> inside <source>.`,
      "Write <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>.",
    );
  }
  return {
    kind,
    source: r,
    managed,
    driverName: driver.name,
    groupMode: driver.groupMode,
    groupModeExplicit: driver.groupModeExplicit,
    groupModeSource: driver.groupModeExplicit ? 'attribute' : 'default',
    groupModeRef: driver.groupModeRef,
    target: { type: 'address', address: parsePciAddress(file, address, readingNotes) },
  };
}

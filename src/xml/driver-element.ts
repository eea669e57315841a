import type { Element } from '@xmldom/xmldom';
import { printable } from '../errors.js';
import type { GroupMode, SourceRef } from './assignment.js';
import { attr, fail, ref } from './elements.js';

/**
 * `<driver name= group=>` of a `<hostdev>`, an `<interface type='hostdev'>` or a network's `<forward>`, read
 * with the rules of the libvirt proposal vfioctl follows (docs/group-modes.md, "The attribute"): the parser rejects
 * every group value but `manual` and `auto` (its enum's `default` entry included) with the messages below, quoted verbatim; the RNG and the
 * docs offer `group` only together with `name='vfio'`; no attribute means manual.
 */
export interface DriverSpec {
  name: 'vfio' | 'kvm' | 'xen' | undefined;
  groupMode: GroupMode;
  groupModeExplicit: boolean;
  /** The `<driver>` element, when it has a group attribute. */
  groupModeRef?: SourceRef;
}

/** libvirt's messages for a bad name= or group= value; they differ between devices and networks. */
export interface DriverMessages {
  unknownName: (value: string) => string;
  unknownGroup: (value: string) => string;
}

/** virDomainHostdevDefParseXMLSubsys, used for `<hostdev>` and `<interface type='hostdev'>` alike. */
export const DEVICE_DRIVER_MESSAGES: DriverMessages = {
  unknownName: (v) => `Unknown PCI device <driver name='${v}'/> has been specified`,
  unknownGroup: (v) => `Unknown PCI device group management method <driver group='${v}'/> has been specified`,
};

/** virNetworkForwardDefParseXML; `network` is the network's <name>. */
export function networkDriverMessages(network: string): DriverMessages {
  return {
    unknownName: (v) => `Unknown forward <driver name='${v}'/> in network ${network}`,
    unknownGroup: (v) => `Unknown forward <driver group='${v}'/> in network ${network}`,
  };
}

export function parseDriverElement(file: string, driver: Element | undefined, messages: DriverMessages): DriverSpec {
  if (!driver) return { name: undefined, groupMode: 'manual', groupModeExplicit: false };
  const r = ref(file, driver);
  // libvirt reads name= before group=, so a file wrong in both gets the name message, as libvirt gives it.
  const nameText = attr(driver, 'name');
  let name: DriverSpec['name'];
  if (nameText !== undefined) {
    if (nameText !== 'vfio' && nameText !== 'kvm' && nameText !== 'xen') fail(r, messages.unknownName(printable(nameText)));
    name = nameText;
  }
  const group = attr(driver, 'group');
  if (group === undefined) return { name, groupMode: 'manual', groupModeExplicit: false };
  if (group !== 'manual' && group !== 'auto') fail(r, messages.unknownGroup(printable(group)));
  if (name !== 'vfio') {
    fail(
      r,
      `group='${group}' is only valid with <driver name='vfio'/>${name ? `, not name='${name}'` : ''}: IOMMU group management belongs to VFIO device assignment.`,
      `Write <driver name='vfio' group='${group}'/>.`,
    );
  }
  return { name, groupMode: group, groupModeExplicit: true, groupModeRef: r };
}

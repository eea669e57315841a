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
  /** `<driver iommufd='yes'/>` (libvirt 12.1): QEMU opens /dev/iommu and the device's vfio cdev. */
  iommufd?: boolean;
  /** `<driver model=>` (libvirt >= 10.0): the vfio driver to bind, a variant or `vfio-pci`; and where it is written. */
  model?: { name: string; ref: SourceRef };
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
  const spec = parseNameAndGroup(file, driver, messages);
  const model = parseModel(file, driver, spec.name);
  const iommufd = attr(driver, 'iommufd');
  if (iommufd !== undefined && iommufd !== 'yes' && iommufd !== 'no') fail(ref(file, driver), `iommufd='${printable(iommufd)}' is not 'yes' or 'no'.`);
  return { ...spec, ...(model ? { model } : {}), ...(iommufd === 'yes' ? { iommufd: true } : {}) };
}

/**
 * `model=` names the vfio driver (libvirt >= 10.0: `mlx5_vfio_pci`, or `vfio-pci` for the generic one); libvirt
 * takes it with name='vfio' or no name. `iommufd=` (libvirt 12.1) is accepted as it is: it changes what QEMU
 * opens, not which driver holds the device.
 */
function parseModel(file: string, driver: Element, name: DriverSpec['name']): DriverSpec['model'] {
  const model = attr(driver, 'model');
  if (model === undefined) return undefined;
  const r = ref(file, driver);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$/.test(model)) fail(r, `model='${printable(model)}' is not a kernel driver name.`, "Write <driver model='vfio-pci'/> or the name of a vfio-pci variant driver, such as mlx5_vfio_pci.");
  if (name !== undefined && name !== 'vfio') fail(r, `model='${model}' is only valid with <driver name='vfio'/>, not name='${name}': it names the VFIO driver to bind.`);
  return { name: model, ref: r };
}

function parseNameAndGroup(file: string, driver: Element, messages: DriverMessages): DriverSpec {
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

import type { PciAddress } from '../pci/address.js';
import type { InterfaceName } from '../pci/interface-name.js';

/**
 * What a libvirt XML document asks for, as typed values. Produced by src/xml (pure: text in, this out,
 * no filesystem access); resolved against a host by src/plan. Nothing here has touched a path yet, and
 * every address and interface name in it has been validated.
 */
export type GroupMode = 'manual' | 'auto';

/**
 * Where an assignment's group mode came from, by precedence (src/xml/group-mode.ts): the `<driver group=>`
 * attribute, a `<vfioctl:device>` entry of the vfioctl metadata, that element's `default`, or nothing ('manual').
 */
export type GroupModeSource = 'attribute' | 'metadata-device' | 'metadata-default' | 'default';

/** Where in the user's file an assignment came from, for messages: "<hostdev> at domain.xml:14". */
export interface SourceRef {
  file: string;
  line: number;
  element: string; // 'hostdev' | 'interface' | 'forward' | 'address' | 'pf' ...
}

export type AssignmentTarget =
  | { type: 'address'; address: PciAddress }
  /** <pf dev='IF'/> in a hostdev network: every virtual function of that PF. */
  | { type: 'pf'; dev: InterfaceName }
  /** <interface dev='IF'/> in a hostdev network pool: the PCI device behind that netdev. */
  | { type: 'netdev'; dev: InterfaceName };

export interface Assignment {
  kind: 'hostdev' | 'interface' | 'network';
  source: SourceRef;
  managed: boolean;
  /** <driver name=...>; undefined when absent (libvirt then picks the backend). */
  driverName: 'vfio' | 'kvm' | 'xen' | undefined;
  /** 'manual' when neither the attribute nor the vfioctl metadata gives one. */
  groupMode: GroupMode;
  /** True unless groupModeSource is 'default': the user chose the mode somewhere. */
  groupModeExplicit: boolean;
  groupModeSource: GroupModeSource;
  /** The element that gave the mode: the `<driver>`, the `<vfioctl:device>` or the `<vfioctl:groups>`; none for 'default'. */
  groupModeRef?: SourceRef;
  target: AssignmentTarget;
}

/** A device element vfioctl understands but does not handle (USB, SCSI, mdev hostdevs): information only. */
export interface NotHandled {
  source: SourceRef;
  reason: string;
}

export interface LibvirtDocument {
  kind: 'domain' | 'network';
  /** <name> of the domain or network ('' when absent). */
  name: string;
  file: string;
  assignments: Assignment[];
  notHandled: NotHandled[];
  /** How libvirt reads something written in a way that may surprise (a leading 0 is octal); present only when there is one. */
  readingNotes?: string[];
  /** For a network whose forward mode is not hostdev: the mode, to say it is not a hostdev network. */
  forwardMode?: string;
}

import { expect } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { AssignmentTarget, LibvirtDocument } from '../../src/xml/index.js';
import { formatAddress } from '../../src/pci/address.js';

/**
 * Small libvirt documents with the interesting part left open, laid out on fixed lines so tests can assert the
 * FILE:LINE: of each message: in hostdevDomain the <hostdev> is on line 4, its <driver> on 5 and the <address>
 * on 7; in interfaceDomain the <interface> is on line 4, its <driver> on 5; in hostdevNetwork the <forward> is on
 * line 3, its <driver> on 4 and the first pool entry on 5.
 */
export const ADDRESS = "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>";

export function hostdevDomain({ driver = "<driver name='vfio'/>", address = ADDRESS, attrs = "managed='yes'" } = {}): string {
  return `<domain type='kvm'>
  <name>vm</name>
  <devices>
    <hostdev mode='subsystem' type='pci' ${attrs}>
      ${driver}
      <source>
        ${address}
      </source>
    </hostdev>
  </devices>
</domain>
`;
}

export function interfaceDomain({ driver = "<driver name='vfio'/>", attrs = "managed='yes'" } = {}): string {
  return `<domain type='kvm'>
  <name>vm</name>
  <devices>
    <interface type='hostdev' ${attrs}>
      ${driver}
      <source>
        <address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x0'/>
      </source>
    </interface>
  </devices>
</domain>
`;
}

export function hostdevNetwork({ driver = "<driver name='vfio'/>", pool = "<pf dev='ens1f0'/>", forward = "mode='hostdev' managed='yes'", name = 'passthrough' } = {}): string {
  return `<network>
  <name>${name}</name>
  <forward ${forward}>
    ${driver}
    ${pool}
  </forward>
</network>
`;
}

/** Escapes text for a single-quoted attribute value. */
export const attrText = (s: string): string => s.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');

/** The InputError fn throws; fails the test if it returns or throws anything else. */
export function inputErrorOf(fn: () => unknown): InputError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected an InputError').toBeInstanceOf(InputError);
  return thrown as InputError;
}

/** The one assignment's target, as a short string: '0000:01:00.0', 'pf ens1f0', 'netdev ens1f0v2'. */
export function shownTarget(t: AssignmentTarget): string {
  return t.type === 'address' ? formatAddress(t.address) : `${t.type} ${t.dev}`;
}

/** One row per assignment, the fields a user sees in a report. */
export function rows(doc: LibvirtDocument): unknown[][] {
  return doc.assignments.map((a) => [a.kind, a.source.element, a.source.line, shownTarget(a.target), a.managed, a.driverName, a.groupMode, a.groupModeExplicit]);
}

import { afterEach } from 'vitest';
import type { SysfsWrite } from '../../src/host/layout.js';
import type { Kernel } from '../../src/kernel/kernel.js';
import { HostReader } from '../../src/host/reader.js';
import { parseAddress } from '../../src/pci/address.js';
import { openWriteSession, type WriteSession } from '../../src/run/session.js';
import { parseLibvirtXml, type LibvirtDocument } from '../../src/xml/index.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';
import { domainXml } from '../helpers/xml.js';

/** In-process helpers for the tests of src/run/: a simulated workstation, write sessions on it, its drivers. */
export const GPU = '0000:01:00.0';
export const AUDIO = '0000:01:00.1';

const open: (SimHost | WriteSession)[] = [];
afterEach(() => {
  while (open.length) {
    const o = open.pop()!;
    if ('cleanup' in o) o.cleanup();
    else o.close();
  }
});

/** The bundled workstation: the GPU (nouveau) and its audio function (snd_hda_intel) in group 1. */
export function workstation(): string {
  const h = makeSimulatedHost('workstation');
  open.push(h);
  return h.root;
}

/** The GPU passthrough of examples/gpu-passthrough.xml: group='auto' on the GPU. */
export function gpuDomain(): LibvirtDocument {
  return parseLibvirtXml(domainXml('vm', [{ address: GPU, group: 'auto' }]), 'vm.xml');
}

/** A write session (lock, journal, simulated kernel), closed after the test; `kernel` wraps its kernel. */
export function session(root: string, wrap?: (k: Kernel) => Kernel): WriteSession {
  const s = openWriteSession(root, 'test', 0);
  open.push(s);
  return wrap ? { ...s, kernel: wrap(s.kernel) } : s;
}

/** A kernel that calls `after(n)` once the n-th write (1-based) of this process has taken effect. */
export function watched(kernel: Kernel, after: (n: number, w: SysfsWrite) => void): Kernel {
  let n = 0;
  return {
    kind: kernel.kind,
    get performed() {
      return kernel.performed;
    },
    loadModule: (name) => kernel.loadModule(name),
    chown: (node, uid, gid, mode) => kernel.chown(node, uid, gid, mode),
    probeGroupNode: (node) => kernel.probeGroupNode(node),
    write(w) {
      kernel.write(w);
      after(++n, w);
    },
  };
}

/** The process died right after a write had taken effect (SIGKILL: no rollback runs). */
export class Crash extends Error {}

export function driverOf(root: string, addr: string): string | null {
  return new HostReader(root).device(parseAddress(addr)).driver;
}

export function overrideOf(root: string, addr: string): string | null {
  return new HostReader(root).device(parseAddress(addr)).driverOverride;
}

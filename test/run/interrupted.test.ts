import { describe, expect, it } from 'vitest';
import { runDetach } from '../../src/run/detach.js';
import { dryRunReattach, runReattach } from '../../src/run/reattach.js';
import { AUDIO, Crash, driverOf, GPU, gpuDomain, overrideOf, session, watched, workstation } from './workstation.js';

/**
 * A detach killed mid-way (no rollback runs, as after SIGKILL): the journal describes the half-moved tree,
 * and `reattach --all` or a second detach finishes the job from the journal and the live tree.
 */
function crashAfter(root: string, writes: number): void {
  // The process is gone after the crash: no write of a rollback reaches the kernel either.
  let dead = false;
  const s = session(root, (k) => {
    const w = watched(k, (n) => {
      if (n === writes) {
        dead = true;
        throw new Crash(`killed after write ${n}`);
      }
    });
    return {
      kind: k.kind,
      performed: k.performed,
      loadModule: (name) => k.loadModule(name),
      chown: (node, uid, gid, mode) => k.chown(node, uid, gid, mode),
      probeGroupNode: (node) => k.probeGroupNode(node),
      write(x) {
        if (dead) throw new Crash('dead');
        w.write(x);
      },
    };
  });
  try {
    expect(() => runDetach(gpuDomain(), s, false, 'detach vm.xml')).toThrow(/killed after write/);
  } finally {
    s.close();
  }
}
const shown = (ws: { path: string; value: string }[]) => ws.map((w) => `${w.path} <- ${JSON.stringify(w.value)}`);

describe('after a detach was killed after its 3rd write (both overrides set, the audio function unbound)', () => {
  it('the journal holds both originals and the operation, 2 of 6 steps marked done', () => {
    const root = workstation();
    crashAfter(root, 3);
    expect([driverOf(root, GPU), driverOf(root, AUDIO)]).toEqual(['nouveau', null]);
    const j = session(root).journal.data;
    expect(Object.fromEntries(Object.entries(j.devices).map(([a, d]) => [a, d.driver]))).toEqual({ [GPU]: 'nouveau', [AUDIO]: 'snd_hda_intel' });
    expect(j.operation).toMatchObject({ command: 'detach vm.xml', done: 2 });
    expect(j.operation!.steps).toHaveLength(6);
  });

  it('reattach --all restores both devices: overrides cleared, the audio function bound back', () => {
    const root = workstation();
    crashAfter(root, 3);
    const s = session(root);
    const dry = dryRunReattach(s.journal, s.host, null);
    const r = runReattach(s, null, 'reattach --all');
    expect(r.notes).toEqual(["Completing an interrupted 'detach vm.xml' (2 of 6 writes had been done)."]);
    expect(shown(r.writes)).toEqual([
      '/sys/bus/pci/devices/0000:01:00.0/driver_override <- "\\n"',
      '/sys/bus/pci/devices/0000:01:00.1/driver_override <- "\\n"',
      '/sys/bus/pci/drivers/snd_hda_intel/bind <- "0000:01:00.1"',
    ]);
    expect(dry.writes).toEqual(r.writes);
    expect([driverOf(root, GPU), driverOf(root, AUDIO)]).toEqual(['nouveau', 'snd_hda_intel']);
    expect([overrideOf(root, GPU), overrideOf(root, AUDIO)]).toEqual([null, null]);
    expect(s.journal.data).toMatchObject({ devices: {}, operation: null });
  });

  it('a second detach writes only what is missing and keeps the first originals', () => {
    const root = workstation();
    crashAfter(root, 3);
    const s = session(root);
    const r = runDetach(gpuDomain(), s, false, 'detach again.xml');
    expect(shown(r.writes)).toEqual([
      '/sys/bus/pci/drivers/nouveau/unbind <- "0000:01:00.0"',
      '/sys/bus/pci/drivers_probe <- "0000:01:00.0"',
      '/sys/bus/pci/drivers_probe <- "0000:01:00.1"',
    ]);
    expect([driverOf(root, GPU), driverOf(root, AUDIO)]).toEqual(['vfio-pci', 'vfio-pci']);
    expect(Object.values(s.journal.data.devices).map((d) => [d.driver, d.by])).toEqual([
      ['nouveau', 'detach vm.xml'],
      ['snd_hda_intel', 'detach vm.xml'],
    ]);
  });
});

describe('after a detach was killed after its last write, before it could finish', () => {
  it('reattach --all takes both devices off vfio-pci and back to their drivers', () => {
    const root = workstation();
    crashAfter(root, 6);
    expect([driverOf(root, GPU), driverOf(root, AUDIO)]).toEqual(['vfio-pci', 'vfio-pci']);
    const r = runReattach(session(root), null, 'reattach --all');
    expect(r.notes).toEqual(["Completing an interrupted 'detach vm.xml' (5 of 6 writes had been done)."]);
    expect([driverOf(root, GPU), driverOf(root, AUDIO)]).toEqual(['nouveau', 'snd_hda_intel']);
    expect(r.devices.map((d) => [d.address, d.from, d.to, d.action])).toEqual([
      [GPU, 'vfio-pci', 'nouveau', 'restored'],
      [AUDIO, 'vfio-pci', 'snd_hda_intel', 'restored'],
    ]);
  });
});

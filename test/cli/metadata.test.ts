import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { VFIOCTL_NS } from '../../src/xml/index.js';
import { BIN, fixture, json, runBin, type CliResult } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';

/**
 * `vfioctl metadata FILE` through bin/, and the round trip through real virsh (libvirt-clients) with its
 * in-process test driver (test:///default: it forgets everything between invocations, so each case is one
 * invocation with commands separated by ';'). virsh is required, not optional: .ci/run installs it.
 */
const host = makeSimulatedHost('qemu-q35-iommu');
afterAll(() => host.cleanup());

const xml = (name: string): string => fixture('xml', name);

/** bin/vfioctl with `input` on its standard input. */
function runBinWithInput(args: string[], input: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '' }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Each assignment's [address, mode, where the mode came from], as `vfioctl check - --json` reads the XML. */
function modesRead(text: string): [string, string, string][] {
  const r = runBinWithInput(['check', '-', '--json', '--root', host.root], text);
  expect(r.stderr).toBe('');
  return json(r).assignments.map((a: any) => [a.devices[0], a.groupMode, a.groupModeSource]);
}

const virshPresent = spawnSync('virsh', ['--version'], { encoding: 'utf8' }).status === 0;

function virsh(commands: string): string {
  if (!virshPresent) {
    throw new Error('virsh is not installed: these tests define domains with real virsh (Debian: apt-get install libvirt-clients; .ci/run installs it).');
  }
  const r = spawnSync('virsh', ['-q', '-c', 'test:///default', commands], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`virsh '${commands}' failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
}

describe('vfioctl metadata FILE', () => {
  it("prints the file with group='auto' moved into the metadata, exit 0; check reads the same modes from it", () => {
    const r = runBin(['metadata', xml('bridge-nic-auto.xml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const original = fs.readFileSync(xml('bridge-nic-auto.xml'), 'utf8');
    expect(r.stdout).toBe(
      original.replace("<driver name='vfio' group='auto'/>", "<driver name='vfio'/>").replace('</name>\n', `</name>\n  <metadata>\n    <vfioctl:groups xmlns:vfioctl="${VFIOCTL_NS}" default="auto"/>\n  </metadata>\n`),
    );
    expect(modesRead(r.stdout)).toEqual([['0000:02:01.0', 'auto', 'metadata-default']]);
  });

  it("reads '-' from standard input and names it <stdin> in its errors", () => {
    const text = fs.readFileSync(xml('two-nics-mixed-modes.xml'), 'utf8');
    expect(runBinWithInput(['metadata', '-'], text).stdout).toBe(runBin(['metadata', xml('two-nics-mixed-modes.xml')]).stdout);
    const bad = runBinWithInput(['metadata', '-'], text.replace("group='manual'", "group='sometimes'"));
    expect(bad.code).toBe(3);
    expect(bad.stderr).toBe("vfioctl: <stdin>:16: <driver>: Unknown PCI device group management method <driver group='sometimes'/> has been specified\n");
    expect(bad.stdout).toBe('');
  });

  it('a conflict between the attribute and the metadata: exit 3, both places named, nothing printed', () => {
    const text = fs
      .readFileSync(xml('bridge-nic-auto.xml'), 'utf8')
      .replace('</name>\n', `</name>\n<metadata><groups xmlns="${VFIOCTL_NS}"><device address="02:01.0" group="manual"/></groups></metadata>\n`);
    const r = runBin(['metadata', tempFile('vm.xml', text)]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^vfioctl: \S+vm\.xml:11: <driver>: group='auto' here, but the vfioctl metadata gives 0000:02:01\.0 group="manual" at \S+vm\.xml:4; one device has one group mode\.\n/);
  });

  it("check names where each mode came from: an entry, the default, nothing", () => {
    const text = fs
      .readFileSync(xml('two-nics-mixed-modes.xml'), 'utf8')
      .replace('</name>\n', `</name>\n<metadata><groups xmlns="${VFIOCTL_NS}" default="auto"><device address="0000:02:01.0" group="auto"/></groups></metadata>\n`)
      .replace('<driver name="vfio" group="auto"/>', '<driver name="vfio"/>');
    const r = runBinWithInput(['check', '-', '--root', host.root], text);
    expect(r.stdout.split('\n').slice(1, 4)).toEqual([
      "  <hostdev> at <stdin>:10 (managed=yes, group='auto' from its vfioctl metadata entry at <stdin>:3): 0000:02:01.0 in IOMMU group 10",
      "  <hostdev> at <stdin>:16 (managed=yes, group='manual' from <driver group=> at <stdin>:17): 0000:03:00.0 in IOMMU group 11",
      "  <hostdev> at <stdin>:22 (managed=yes, group='auto' from the vfioctl metadata default at <stdin>:3): 0000:00:05.1 in IOMMU group 4",
    ]);
  });

  it('a file that does not exist: exit 4', () => {
    const r = runBin(['metadata', '/nonexistent/vm.xml']);
    expect([r.code, r.stderr]).toEqual([4, 'vfioctl: Cannot read /nonexistent/vm.xml: it does not exist.\n']);
  });
});

describe('with real virsh (libvirt 9.0 test driver)', () => {
  it('virsh define keeps what vfioctl metadata wrote, and vfioctl reads the same modes back from dumpxml', () => {
    for (const name of ['bridge-nic-auto.xml', 'two-nics-mixed-modes.xml']) {
      const before = modesRead(fs.readFileSync(xml(name), 'utf8'));
      const defined = tempFile(name, runBin(['metadata', xml(name)]).stdout);
      const domain = /<name>([^<]+)<\/name>/.exec(fs.readFileSync(defined, 'utf8'))![1]!;
      const dumped = virsh(`define ${defined}; dumpxml ${domain}`);
      expect(dumped).toContain(`<vfioctl:groups xmlns:vfioctl="${VFIOCTL_NS}"`);
      expect(dumped).not.toContain('group=\'');
      const after = modesRead(dumped);
      expect(after.map(([a, m]) => [a, m])).toEqual(before.map(([a, m]) => [a, m]));
      expect(before.map(([, , s]) => s)).not.toContain('metadata-device');
    }
  });

  it('without vfioctl metadata, virsh define drops the attribute: that is why the metadata exists', () => {
    const dumped = virsh(`define ${xml('bridge-nic-auto.xml')}; dumpxml bridge-nic`);
    expect(modesRead(dumped)).toEqual([['0000:02:01.0', 'manual', 'default']]);
  });

  it("virsh metadata DOM URI --key vfioctl --set '<groups default=\"auto\"/>' is read as the default auto", () => {
    const plain = tempFile('plain.xml', runBin(['metadata', xml('bridge-nic-auto.xml')]).stdout.replace(/ *<metadata>[^]*<\/metadata>\n/, ''));
    const dumped = virsh(`define ${plain}; metadata bridge-nic ${VFIOCTL_NS} --key vfioctl --set '<groups default="auto"/>'; dumpxml bridge-nic`);
    expect(dumped).toContain(`<vfioctl:groups xmlns:vfioctl="${VFIOCTL_NS}" default="auto"/>`);
    expect(modesRead(dumped.slice(dumped.indexOf('<domain')))).toEqual([['0000:02:01.0', 'auto', 'metadata-default']]);
    const entry = virsh(`define ${plain}; metadata bridge-nic ${VFIOCTL_NS} --key vfioctl --set '<groups><device address="0000:02:01.0" group="auto"/></groups>'; dumpxml bridge-nic`);
    expect(modesRead(entry.slice(entry.indexOf('<domain')))).toEqual([['0000:02:01.0', 'auto', 'metadata-device']]);
  });

  it('a hostdev network: net-define keeps the metadata, and vfioctl reads its pool as auto', () => {
    const net = `<network>\n  <name>nics</name>\n  <forward mode='hostdev' managed='yes'>\n    <driver name='vfio' group='auto'/>\n    <address type='pci' domain='0x0000' bus='0x02' slot='0x01' function='0x0'/>\n  </forward>\n</network>\n`;
    const moved = tempFile('net.xml', runBin(['metadata', tempFile('net-in.xml', net)]).stdout);
    const dumped = virsh(`net-define ${moved}; net-dumpxml nics`);
    expect(dumped).toContain(`<vfioctl:groups xmlns:vfioctl="${VFIOCTL_NS}" default="auto"/>`);
    expect(modesRead(dumped.slice(dumped.indexOf('<network')))).toEqual([['0000:02:01.0', 'auto', 'metadata-default']]);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { CONF, drivers, etcFiles, NODE, RECORD, RULE, runBinWithInput, UNIT, VFIOCTL, WANTS } from './persist-sim.js';

// qemu-q35-iommu: IOMMU group 10 is a PCIe-to-PCI bridge (0000:01:00.0) with two e1000 NICs behind it
// (0000:02:01.0, 0000:02:02.0; 8086:100e, subsystem 1af4:1100).
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const simHost = useSimulatedHosts();
const vmA = (): string => tempFile('vm-a.xml', domainXml('vm-a', [{ address: NIC1, group: 'auto' }]));

/** What a user reads in the rule after persisting vm-a: literally. */
const RULE_VM_A = `# Written by vfioctl persist from /etc/vfioctl/persist.json; vfioctl unpersist removes it. Do not edit.
# Any PCI device appearing: every persisted device present, unbound, with its IDs gets driver_override=vfio-pci
# before any driver module is loaded (so a driver loaded for another device cannot take it first).
ACTION=="add", SUBSYSTEM=="pci", RUN+="/bin/sh -c 'h() { read v < $$1/vendor; read d < $$1/device; read sv < $$1/subsystem_vendor; read sd < $$1/subsystem_device; [ -e $$1/driver ] || case $$v:$$d:$$sv:$$sd in $$2) echo vfio-pci > $$1/driver_override ;; esac; }; h /sys/bus/pci/devices/0000:02:01.0 0x8086:0x100e:0x1af4:0x1100 2>/dev/null; h /sys/bus/pci/devices/0000:02:02.0 0x8086:0x100e:0x1af4:0x1100 2>/dev/null'"
# Each device: driver_override=vfio-pci when it appears, only with the IDs persisted, then vfio-pci loaded
# and the device probed. Another card at the address is left alone and logged to the kernel log (dmesg).
# IOMMU group 10, group='auto'
ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:02:01.0", ATTR{vendor}=="0x8086", ATTR{device}=="0x100e", ATTR{subsystem_vendor}=="0x1af4", ATTR{subsystem_device}=="0x1100", ATTR{driver_override}="vfio-pci", RUN{builtin}+="kmod load vfio-pci", RUN+="/bin/sh -c 'echo $kernel > /sys/bus/pci/drivers_probe'", GOTO="vfioctl_end"
ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:02:01.0", RUN+="/bin/sh -c 'echo vfioctl: $kernel is $attr{vendor}:$attr{device} subsystem $attr{subsystem_vendor}:$attr{subsystem_device}, not the persisted 0x8086:0x100e subsystem 0x1af4:0x1100, so it was left to its driver > /dev/kmsg'"
ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:02:02.0", ATTR{vendor}=="0x8086", ATTR{device}=="0x100e", ATTR{subsystem_vendor}=="0x1af4", ATTR{subsystem_device}=="0x1100", ATTR{driver_override}="vfio-pci", RUN{builtin}+="kmod load vfio-pci", RUN+="/bin/sh -c 'echo $kernel > /sys/bus/pci/drivers_probe'", GOTO="vfioctl_end"
ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:02:02.0", RUN+="/bin/sh -c 'echo vfioctl: $kernel is $attr{vendor}:$attr{device} subsystem $attr{subsystem_vendor}:$attr{subsystem_device}, not the persisted 0x8086:0x100e subsystem 0x1af4:0x1100, so it was left to its driver > /dev/kmsg'"
LABEL="vfioctl_end"
`;

const CONF_TEXT = `# Written by vfioctl persist; vfioctl unpersist removes it. Do not edit.
# vfio-pci at boot: it binds the devices whose driver_override names it (/etc/udev/rules.d/60-vfioctl.rules).
vfio-pci
`;

const UNIT_TEXT = `# Written by vfioctl persist; vfioctl unpersist removes it. Do not edit.
[Unit]
Description=vfioctl: check that the persisted IOMMU groups are on vfio-pci
After=systemd-udev-trigger.service systemd-udev-settle.service systemd-modules-load.service
ConditionPathExists=/etc/vfioctl/persist.json

[Service]
Type=oneshot
ExecStartPre=-udevadm settle --timeout=120
ExecStart=${NODE} ${VFIOCTL} persist --verify

[Install]
WantedBy=multi-user.target
`;

function recordDevice(address: string, file: string): object {
  return {
    address,
    vendor: '8086',
    device: '100e',
    subsystemVendor: '1af4',
    subsystemDevice: '1100',
    group: 10,
    mode: 'auto',
    source: { file, kind: 'domain', name: 'vm-a' },
    since: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
  };
}

describe('vfioctl persist FILE, on a simulated host', () => {
  it('writes exactly the record, the rule, modules-load.d, the unit and its enable link, and moves nothing now', () => {
    const h = simHost('qemu-q35-iommu');
    const xml = vmA();
    const before = drivers(h.root);
    const r = runBin(['persist', xml, '--root', h.root]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`Persisted from ${xml} (domain 'vm-a'), on vfio-pci from boot:\n  ${NIC1}  8086:100e (subsystem 1af4:1100)  IOMMU group 10, group='auto'\n  ${NIC2}`);
    const files = etcFiles(h.root);
    expect(Object.keys(files).sort()).toEqual([CONF, WANTS, UNIT, RULE, RECORD].sort());
    expect(files[RULE]).toBe(RULE_VM_A);
    expect(files[CONF]).toBe(CONF_TEXT);
    expect(files[UNIT]).toBe(UNIT_TEXT);
    expect(files[WANTS]).toBe(`-> ${UNIT}`);
    expect(JSON.parse(files[RECORD]!)).toEqual({ version: 1, verify: { node: NODE, vfioctl: VFIOCTL }, devices: [recordDevice(NIC1, xml), recordDevice(NIC2, xml)] });
    expect(fs.statSync(path.join(h.root, RULE)).mode & 0o777).toBe(0o644);
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(drivers(h.root)).toEqual(before);
  });

  it('a second persist writes the same bytes and says nothing changed', () => {
    const h = simHost('qemu-q35-iommu');
    const xml = vmA();
    expect(runBin(['persist', xml, '--root', h.root]).code).toBe(0);
    const first = etcFiles(h.root);
    const mtime = fs.statSync(path.join(h.root, RECORD)).mtimeMs;
    const again = json(runBin(['persist', xml, '--json', '--root', h.root]));
    expect(again.changed).toBe(false);
    expect(again.files.map((f: any) => f.action)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(etcFiles(h.root)).toEqual(first);
    expect(fs.statSync(path.join(h.root, RECORD)).mtimeMs).toBe(mtime);
  });

  it('refuses a device the host needs with detach\'s message and exit 6, and writes no file', () => {
    const h = simHost('workstation');
    const xml = tempFile('igpu.xml', domainXml('igpu', [{ address: '0000:00:02.0', group: 'auto' }]));
    const persist = runBin(['persist', xml, '--root', h.root]);
    const detach = runBin(['detach', xml, '--dry-run', '--root', h.root]);
    expect(persist.code).toBe(6);
    expect(persist.stderr).toMatch(/^vfioctl: Nothing was persisted for .*igpu\.xml, because:\n {2}- 0000:00:02\.0: it is the boot GPU \(boot_vga=1\) driven by i915/);
    expect(persist.stderr).toBe(detach.stderr.replace('Nothing was detached', 'Nothing was persisted'));
    expect(etcFiles(h.root)).toEqual({});
    expect(fs.existsSync(path.join(h.root, 'etc'))).toBe(false);
  });

  it('with --force persists it, and says it took what the host needs', () => {
    const h = simHost('workstation');
    const xml = tempFile('igpu.xml', domainXml('igpu', [{ address: '0000:00:02.0', group: 'auto' }]));
    const r = runBin(['persist', xml, '--force', '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/note: --force: taking 0000:00:02\.0: it is the boot GPU/);
    expect(etcFiles(h.root)[RULE]).toContain('KERNEL=="0000:00:02.0", ATTR{vendor}=="0x8086", ATTR{device}=="0x3e92", ATTR{subsystem_vendor}=="0x1462", ATTR{subsystem_device}=="0x7b17"');
  });

  it("refuses a group='manual' group that would not be viable, exit 7, no file", () => {
    const h = simHost('qemu-q35-iommu');
    const xml = tempFile('manual.xml', domainXml('vm-m', [{ address: NIC1, group: 'manual' }]));
    const r = runBin(['persist', xml, '--root', h.root]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^vfioctl: Nothing was persisted for .*manual\.xml, because:\n {2}- IOMMU group 10 would not be viable with group='manual': members in the way: 0000:02:02\.0 \(it is bound to the host driver e1000\)/);
    expect(etcFiles(h.root)).toEqual({});
  });

  it('--dry-run prints every file with its content, writes nothing, and a real run then writes those bytes', () => {
    const h = simHost('qemu-q35-iommu');
    const xml = vmA();
    const human = runBin(['persist', xml, '--dry-run', '--root', h.root]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`--- ${RULE} (would write)\n${RULE_VM_A}--- ${CONF} (would write)\n${CONF_TEXT}--- ${UNIT} (would write)\n${UNIT_TEXT}--- ${WANTS} (would link) -> ${UNIT}\nDry run: nothing was written.\n`);
    expect(human.stdout).toContain(`--- ${RECORD} (would write)\n{\n  "version": 1,`);
    const dry = json(runBin(['persist', xml, '--dry-run', '--json', '--root', h.root]));
    expect(etcFiles(h.root)).toEqual({});
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(dry).toMatchObject({ changed: true, dryRun: true });
    expect(runBin(['persist', xml, '--root', h.root]).code).toBe(0);
    const written = etcFiles(h.root);
    const sinceless = (t: string): string => t.replace(/"since": "[^"]+"/g, '"since": T');
    expect(dry.files.map((f: any) => [f.path, f.action, f.content === undefined ? `-> ${f.target}` : f.path === RECORD ? sinceless(f.content) : f.content])).toEqual(
      [RECORD, RULE, CONF, UNIT, WANTS].map((p) => [p, 'would-write', p === RECORD ? sinceless(written[p]!) : written[p]]),
    );
    // After the real run, a dry run shows the files as they are, unchanged.
    const after = json(runBin(['persist', xml, '--dry-run', '--json', '--root', h.root]));
    expect(after.changed).toBe(false);
    expect(after.files.map((f: any) => f.content ?? `-> ${f.target}`)).toEqual([RECORD, RULE, CONF, UNIT, WANTS].map((p) => written[p]));
  });

  it("reads the XML from standard input with '-', recorded as <stdin>", () => {
    const h = simHost('qemu-q35-iommu');
    const r = runBinWithInput(['persist', '-', '--json', '--root', h.root], domainXml('vm-a', [{ address: NIC1, group: 'auto' }]));
    expect(r.code).toBe(0);
    expect(json(r).devices.map((d: any) => [d.address, d.source])).toEqual([
      [NIC1, { file: '<stdin>', kind: 'domain', name: 'vm-a' }],
      [NIC2, { file: '<stdin>', kind: 'domain', name: 'vm-a' }],
    ]);
    expect(etcFiles(h.root)[RULE]).toBe(RULE_VM_A);
  });

  it('never writes over a file at its paths that it did not write, nor through a directory that leads out of the root', () => {
    const h = simHost('qemu-q35-iommu');
    const xml = vmA();
    fs.mkdirSync(path.join(h.root, 'etc/udev/rules.d'), { recursive: true });
    fs.writeFileSync(path.join(h.root, RULE), 'SUBSYSTEM=="net", RUN+="/usr/local/bin/mine"\n');
    const r = runBin(['persist', xml, '--root', h.root]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`${path.join(h.root, RULE)} exists and was not written by vfioctl persist; vfioctl does not replace or remove it, and wrote nothing.`);
    expect(Object.keys(etcFiles(h.root))).toEqual([RULE]);

    const h2 = simHost('qemu-q35-iommu');
    const outside = fs.mkdtempSync(path.join(path.dirname(h2.root), 'outside-'));
    fs.rmSync(path.join(h2.root, 'etc'), { recursive: true, force: true }); // the host's os-release goes with it
    fs.symlinkSync(outside, path.join(h2.root, 'etc'));
    const r2 = runBin(['persist', xml, '--root', h2.root]);
    expect(r2.code).toBe(6);
    expect(r2.stderr).toContain('would be written outside the host root');
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('needs a file, --list or --verify, one of them', () => {
    const h = simHost('qemu-q35-iommu');
    for (const args of [['persist'], ['persist', vmA(), '--list'], ['persist', '--list', '--verify']]) {
      const r = runBin([...args, '--root', h.root]);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toBe('vfioctl: persist needs one of: a domain or network XML file, --list, or --verify.\n');
    }
  });
});

describe('vfioctl persist --list', () => {
  it('lists each persisted device with its IDs, group, mode, source and time; --json gives the record', () => {
    const h = simHost('qemu-q35-iommu');
    expect(runBin(['persist', '--list', '--root', h.root]).stdout).toBe('Nothing is persisted on this host.\n');
    const xml = vmA();
    runBin(['persist', xml, '--root', h.root]);
    const human = runBin(['persist', '--list', '--root', h.root]);
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^0000:02:01\\.0  8086:100e \\(subsystem 1af4:1100\\)  IOMMU group 10  group='auto'  domain 'vm-a' from ${xml}  since \\d{4}-`)),
      expect.stringMatching(/^0000:02:02\.0  8086:100e/),
      '',
    ]);
    const j = json(runBin(['persist', '--list', '--json', '--root', h.root]));
    expect(j).toEqual({ devices: [recordDevice(NIC1, xml), recordDevice(NIC2, xml)], verify: { node: NODE, vfioctl: VFIOCTL } });
  });
});

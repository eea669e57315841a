import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();

describe('detach --dry-run --owner with a journal it cannot read', () => {
  it('says so in a note, with why, instead of listing the nodes as if vfioctl held nothing; the real run stops on it', () => {
    const h = host('workstation');
    fs.mkdirSync(path.join(h.root, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(h.root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nqemu:x:107:36:QEMU:/:/usr/sbin/nologin\n');
    fs.writeFileSync(path.join(h.root, 'etc/group'), 'root:x:0:\nkvm:x:36:qemu\n');
    const file = path.join(h.root, 'run/vfioctl/journal.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{ not json');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    const note = `The journal ${file} is damaged: it is not JSON. The nodes of devices vfioctl already holds are not listed, and the detach itself would stop on it.`;
    const j = json(runBin(['detach', xml, '--dry-run', '--owner', 'qemu', '--json', '--root', h.root]));
    expect(j.notes).toContain(note);
    expect(j.nodes.paths).toEqual(['/dev/vfio/1']);
    const text = runBin(['detach', xml, '--dry-run', '--owner', 'qemu', '--root', h.root]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(note);
    expect(simulatedWrites(h.root)).toEqual([]);
    const real = runBin(['detach', xml, '--owner', 'qemu', '--root', h.root]);
    expect(real.code).toBe(13);
    expect(real.stderr).toContain(`The journal ${file} is damaged: it is not JSON.`);
  });
});

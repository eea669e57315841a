// A QEMU that emulates an SR-IOV device (`-device igb`, QEMU >= 8.0) for the real-kernel guest, without
// installing it: Debian's backports suite in a private apt sources list with private state and cache
// directories (the machine's own apt sources and dpkg database are never changed), `apt-get download` of
// qemu-system-x86, qemu-system-data and qemu-system-common, `dpkg-deb -x` into test/vm/.cache/ (kept between
// runs; run.mjs wipes only test/vm/.work/). Run it as `BIN -L DATA -L /usr/share/seabios`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const PACKAGES = ['qemu-system-x86', 'qemu-system-data', 'qemu-system-common'];
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 300_000, ...opts });
const tail = (r) => `${r.error?.message ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');

/** The Debian archive URL the machine's own apt sources use for its release (deb822 or one-line), else Debian's. */
export function debianMirror(codename) {
  const files = ['/etc/apt/sources.list', ...(fs.existsSync('/etc/apt/sources.list.d') ? fs.readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`) : [])];
  for (const f of files.filter((x) => /\.(sources|list)$/.test(x) && fs.existsSync(x))) {
    const text = fs.readFileSync(f, 'utf8');
    if (f.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k) => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
        if (field('Enabled')[0] === 'no' || !field('Types').includes('deb')) continue;
        if (field('Suites').includes(codename) && field('Components').includes('main')) return field('URIs')[0];
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
        if (m && m[2] === codename && m[3].split(/\s+/).includes('main')) return m[1];
      }
    }
  }
  return 'http://deb.debian.org/debian';
}

/** QEMU's version, e.g. [10, 0], or null when the binary does not run. */
function versionOf(bin) {
  const m = /QEMU emulator version (\d+)\.(\d+)/.exec(run(bin, ['--version']).stdout ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * A QEMU with `-device igb`: { bin, args (the -L data directories), version, fetched } from the cache, or
 * fetched into it; or { error } saying why not (no network, no backports suite, a binary that does not run).
 */
export function sriovQemu(cacheDir, log) {
  const root = path.join(cacheDir, 'root');
  const bin = path.join(root, 'usr/bin/qemu-system-x86_64');
  const usable = () => {
    const v = fs.existsSync(bin) ? versionOf(bin) : null;
    if (!v || v[0] < 8) return null;
    const igb = run(bin, ['-L', path.join(root, 'usr/share/qemu'), '-L', '/usr/share/seabios', '-device', 'igb,help']);
    return igb.status === 0 ? v : null;
  };
  const found = usable();
  if (found) return { bin, args: ['-L', path.join(root, 'usr/share/qemu'), '-L', '/usr/share/seabios'], version: found.join('.'), fetched: false };

  const codename = /^VERSION_CODENAME=(\S+)$/m.exec(fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '')?.[1];
  if (!codename) return { error: 'no VERSION_CODENAME in /etc/os-release (not Debian?)' };
  const suite = `${codename}-backports`;
  const mirror = debianMirror(codename);
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const apt = path.join(cacheDir, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'parts', 'debs']) fs.mkdirSync(path.join(apt, d), { recursive: true });
  const list = path.join(apt, 'sources.list');
  fs.writeFileSync(list, `deb [signed-by=${KEYRING}] ${mirror} ${suite} main\n`);
  const opts = [
    ['Dir::Etc::SourceList', list],
    ['Dir::Etc::SourceParts', path.join(apt, 'parts')],
    ['Dir::State', apt],
    ['Dir::State::Lists', path.join(apt, 'lists')],
    ['Dir::Cache', path.join(apt, 'cache')],
    ['APT::Sandbox::User', 'root'],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  log(`== fetching QEMU with SR-IOV (igb) from ${mirror} ${suite} into ${path.relative(process.cwd(), cacheDir) || cacheDir} (not installed)`);
  const update = run('apt-get', ['-qq', ...opts, 'update']);
  if (update.status !== 0) return { error: `apt-get update of ${suite} failed: ${tail(update)}` };
  const debs = path.join(apt, 'debs');
  const download = run('apt-get', ['-qq', ...opts, 'download', ...PACKAGES.map((p) => `${p}/${suite}`)], { cwd: debs });
  if (download.status !== 0) return { error: `apt-get download from ${suite} failed: ${tail(download)}` };
  for (const deb of fs.readdirSync(debs).filter((f) => f.endsWith('.deb'))) {
    const x = run('dpkg-deb', ['-x', path.join(debs, deb), root]);
    if (x.status !== 0) return { error: `dpkg-deb -x ${deb} failed: ${tail(x)}` };
  }
  fs.rmSync(debs, { recursive: true, force: true });
  const v = usable();
  if (!v) return { error: `the QEMU fetched from ${suite} does not run or has no igb device (${run(bin, ['--version']).stderr?.trim() ?? ''})` };
  return { bin, args: ['-L', path.join(root, 'usr/share/qemu'), '-L', '/usr/share/seabios'], version: v.join('.'), fetched: true };
}

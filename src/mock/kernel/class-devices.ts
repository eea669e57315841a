import fs from 'node:fs';
import path from 'node:path';
import { simDir } from './sim-state.js';
import { confined } from './confined.js';

/**
 * The class devices a PCI driver creates when it binds and removes when it lets go: network interfaces
 * (DEV/net/IF: register_netdev in probe, unregister_netdev in remove), the disks behind a storage
 * controller (DEV/hostN/.../block/sdX), and virtio-pci's virtio device with its own (DEV/virtioN/net,
 * DEV/virtioN/block). When e1000e lets go of a NIC, eno1 is gone from sys/class/net and so are its routes;
 * vfio-pci and pci-stub create none.
 *
 * The simulated kernel keeps what it removed in .vfioctl-sim/parked/ADDRESS, and brings it back when the
 * same driver binds again: the interface as a fresh netdev is, down and without addresses or routes (what
 * a network manager might then configure is not the kernel's doing).
 */
const CLASS_DEVICE_DIR = /^(net|host[0-9]+|virtio[0-9]+)$/;

interface Parked {
  driver: string;
  entries: string[];
}

function parkedDir(root: string, address: string): string {
  return path.join(simDir(root), 'parked', address);
}

/**
 * The device's remove(): its class devices leave the tree, with their sys/class links and routes. Resumable:
 * parked.json is written before anything moves, so a run killed halfway parks the rest when the unbind is
 * written again (the `driver` link is still there until unlinkDriver, sim-tree.ts).
 */
export function removeClassDevices(root: string, devDir: string, address: string, driver: string): void {
  const tree = confined(root);
  const entries = fs.readdirSync(devDir).filter((e) => CLASS_DEVICE_DIR.test(e));
  if (entries.length === 0) return;
  const { interfaces, disks } = classDevicesUnder(entries.map((e) => path.join(devDir, e)));
  for (const name of interfaces) tree.unlink(path.join(root, 'sys', 'class', 'net', name));
  for (const name of disks) tree.unlink(path.join(root, 'sys', 'class', 'block', name));
  dropRoutes(root, new Set(interfaces));
  const parked = parkedDir(root, address);
  const earlier = readParked(parked);
  const resumed = earlier?.driver === driver;
  if (!resumed) tree.removeTree(parked);
  tree.mkdirs(parked);
  const all = resumed ? [...new Set([...earlier.entries, ...entries])] : entries;
  tree.writeFile(path.join(parked, 'parked.json'), JSON.stringify({ driver, entries: all } satisfies Parked));
  for (const e of entries) tree.rename(path.join(devDir, e), path.join(parked, e));
}

/**
 * The driver's probe(): what the same driver had created comes back; another driver (vfio-pci) creates none.
 * Called before the `driver` link is made, as probe() runs before the driver core links the device; a run
 * killed halfway finishes when the bind is written again (what is already back is left where it is).
 */
export function restoreClassDevices(root: string, devDir: string, address: string, driver: string): void {
  const tree = confined(root);
  const parked = parkedDir(root, address);
  const meta = readParked(parked);
  if (meta === undefined || meta.driver !== driver) return; // nothing parked (or the materializer's first binds)
  for (const e of meta.entries) if (fs.existsSync(path.join(parked, e))) tree.rename(path.join(parked, e), path.join(devDir, e));
  const { interfaces, disks, netDirs, diskDirs } = classDevicesUnder(meta.entries.map((e) => path.join(devDir, e)).filter((d) => fs.existsSync(d)));
  interfaces.forEach((name, i) => {
    tree.writeFile(path.join(netDirs[i]!, 'operstate'), 'down\n');
    tree.symlink(netDirs[i]!, path.join(root, 'sys', 'class', 'net', name));
  });
  disks.forEach((name, i) => tree.symlink(diskDirs[i]!, path.join(root, 'sys', 'class', 'block', name)));
  tree.removeTree(parked);
}

function readParked(parked: string): Parked | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(parked, 'parked.json'), 'utf8')) as Parked;
  } catch {
    return undefined;
  }
}

/** Interfaces (DIR/net/IF) and disks with their partitions (DIR/block/sdX/sdXN) below the given directories. */
function classDevicesUnder(dirs: string[]): { interfaces: string[]; netDirs: string[]; disks: string[]; diskDirs: string[] } {
  const out = { interfaces: [] as string[], netDirs: [] as string[], disks: [] as string[], diskDirs: [] as string[] };
  const visit = (dir: string): void => {
    const base = path.basename(dir);
    if (base === 'net') {
      for (const n of fs.readdirSync(dir)) {
        out.interfaces.push(n);
        out.netDirs.push(path.join(dir, n));
      }
    } else if (base === 'block') {
      for (const disk of fs.readdirSync(dir)) {
        out.disks.push(disk);
        out.diskDirs.push(path.join(dir, disk));
        for (const p of fs.readdirSync(path.join(dir, disk), { withFileTypes: true })) {
          if (p.isDirectory() && fs.existsSync(path.join(dir, disk, p.name, 'partition'))) {
            out.disks.push(p.name);
            out.diskDirs.push(path.join(dir, disk, p.name));
          }
        }
      }
    } else {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) visit(path.join(dir, e.name));
    }
  };
  for (const d of dirs) visit(d);
  return out;
}

/** unregister_netdev() takes the interface's routes and addresses with it. */
function dropRoutes(root: string, interfaces: Set<string>): void {
  if (interfaces.size === 0) return;
  // proc/net/route: Iface first (after its header line); ipv6_route: the 10th field; if_inet6: the 6th.
  const files: [string, (fields: string[]) => string | undefined][] = [
    ['route', (f) => f[0]],
    ['ipv6_route', (f) => f[9]],
    ['if_inet6', (f) => f[5]],
  ];
  for (const [name, ifaceOf] of files) {
    const file = path.join(root, 'proc', 'net', name);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const kept = text.split('\n').filter((line) => {
      const iface = ifaceOf(line.trim().split(/\s+/));
      return iface === undefined || !interfaces.has(iface);
    });
    confined(root).writeFile(file, kept.join('\n'));
  }
}

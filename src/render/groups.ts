import type { DeviceReport, GroupReport } from '../plan/group-report.js';
import type { Output } from './output.js';

/** Human rendering of group-info and list. */
export function renderGroup(out: Output, g: GroupReport): void {
  const c = out.color;
  const verdict = g.viable ? c.green('viable for VFIO') : c.red('not viable for VFIO');
  out.stdout(`${c.bold(`IOMMU group ${g.group}`)}: ${verdict}\n`);
  for (const d of g.devices) out.stdout(renderDevice(out, d));
  for (const m of g.nonPci) {
    out.stdout(`  ${m.name}  non-PCI ${m.bus ?? ''}${m.bus ? ' ' : ''}device  driver: ${m.driver ? c.cyan(m.driver) : c.dim('no driver')}  (vfioctl does not move it)\n`);
  }
  if (g.heldBy) out.stdout(`  ${c.cyan('Held by vfioctl for')} ${g.heldBy.kind} '${g.heldBy.name}'${g.heldBy.uuid ? ` (${g.heldBy.uuid})` : ''}: its libvirt hook moved it and gives it back when it stops.\n`);
  if (!g.viable) {
    out.stdout(`  ${c.yellow('In the way:')} ${g.blockers.map((b) => `${b.address} (${b.reason})`).join('; ')}\n`);
  }
  out.stdout(renderAuto(out, g));
}

/** check's verdict on group='auto' for this group: what it would move, or why check would refuse. */
function renderAuto(out: Output, g: GroupReport): string {
  const c = out.color;
  if (!g.autoWouldSucceed && g.autoWouldMove.length === 0 && g.autoBlockers.length === 1) return `  ${c.dim(`group='auto': ${g.autoBlockers[0]}`)}\n`;
  if (!g.autoWouldSucceed) {
    const tried = g.autoWouldMove.length > 0 ? ` (it would move ${g.autoWouldMove.join(', ')})` : '';
    return `  ${c.yellow(`group='auto' would not succeed`)}${tried}:\n${g.autoBlockers.map((b) => `    - ${b}\n`).join('')}`;
  }
  if (g.autoWouldMove.length === 0) return '';
  const stay = g.bridgesStay.length > 0 ? `; bridges stay: ${g.bridgesStay.join(', ')}` : '';
  const block = g.bridgesBlock.length > 0 ? `; bridges stay but keep the group from being viable: ${g.bridgesBlock.join(', ')}` : '';
  return `  group='auto' would move to vfio-pci: ${g.autoWouldMove.join(', ')}${stay}${block}\n`;
}

function renderDevice(out: Output, d: DeviceReport): string {
  const c = out.color;
  const vendor = d.vendorName ?? d.vendor;
  const device = d.deviceName ?? d.device;
  const names = d.vendorName || d.deviceName ? `${vendor} ${device} ` : '';
  const driver = d.driver ? c.cyan(d.driver) : c.dim('no driver');
  let line = `  ${d.address}  ${d.className} [${d.class.slice(0, 4)}]: ${names}[${d.vendor}:${d.device}]  driver: ${driver}`;
  if (d.driverOverride) line += `  override: ${d.driverOverride}`;
  const flags: string[] = [];
  if (d.bridge) flags.push('bridge');
  if (d.bootVga) flags.push('boot VGA');
  if (d.held) flags.push('held by vfioctl');
  for (const n of d.net) flags.push(`net ${n.name} ${n.up ? 'up' : n.operstate}${n.defaultRoute ? ', default route' : ''}`);
  for (const b of d.block) flags.push(b.swap ? `${b.device} swap` : `${b.device} mounted at ${b.mountpoint}`);
  if (d.sriov?.role === 'pf') flags.push(`SR-IOV PF, ${d.sriov.vfs.length} VFs`);
  if (d.sriov?.role === 'vf') flags.push(`SR-IOV VF of ${d.sriov.pf}`);
  if (d.vfio) flags.push(`opens ${[d.vfio.group, d.vfio.cdev ? `or ${d.vfio.cdev} with /dev/iommu` : d.vfio.iommu ? 'no vfio cdev' : 'no vfio cdev, no /dev/iommu'].filter(Boolean).join(', ')}`);
  if (!d.bridge) flags.push(d.reset.methods?.length ? `reset: ${d.reset.methods.join(', ')}` : d.reset.resettable ? 'resettable' : 'no reset method');
  if (flags.length > 0) line += `  (${flags.join('; ')})`;
  line += '\n';
  for (const need of d.hostNeeds) line += `      ${c.yellow('host needs it:')} ${need}\n`;
  return line;
}

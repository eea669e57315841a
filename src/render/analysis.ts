import type { Analysis, AssignmentReport, MemberPlan } from '../plan/analyze.js';
import { renderWarnings, type Output } from './output.js';

/** What check says a detach does with a member; `already` names the vfio driver it is on (vfio-pci or a variant). */
function fateText(m: MemberPlan): string {
  const text: Record<MemberPlan['fate'], string> = {
    move: 'move',
    already: `already on ${m.driver ?? 'vfio-pci'}`,
    'bridge-stays': 'bridge, stays',
    'bridge-blocks': 'bridge, blocks',
    stays: 'stays',
  };
  return text[m.fate];
}

/** "group='auto' from the vfioctl metadata default at vm.xml:3": the mode and where it came from. */
function modeNote(s: AssignmentReport): string {
  const at = s.groupModeRef ? ` at ${s.groupModeRef.file}:${s.groupModeRef.line}` : '';
  const from: Record<AssignmentReport['groupModeSource'], string> = {
    attribute: `from <driver group=>${at}`,
    'metadata-device': `from its vfioctl metadata entry${at}`,
    'metadata-default': `from the vfioctl metadata default${at}`,
    default: 'by default',
  };
  return `group='${s.groupMode}' ${from[s.groupModeSource]}`;
}

/** "yes", or "no" and, when the detach refuses (the planner makes viableAfter false then), that it does. */
function afterDetach(g: Analysis['groups'][number], a: Analysis, c: Output['color']): string {
  if (g.viableAfter) return c.green('yes');
  return `${c.red('no')}${a.blockers.length > 0 ? ' (the detach refuses: see the blockers)' : ''}`;
}

/** Human rendering of `check`. */
export function renderAnalysis(out: Output, a: Analysis, code: number): void {
  const c = out.color;
  renderWarnings(out, a.warnings);
  out.stdout(`${c.bold(`${a.document.kind} '${a.document.name}'`)} (${a.document.file}): ${a.assignments.length} PCI assignment${a.assignments.length === 1 ? '' : 's'}\n`);
  for (const s of a.assignments) {
    const groups = s.groups.length > 0 ? ` in IOMMU group ${s.groups.join(', ')}` : '';
    out.stdout(`  ${s.label} (managed=${s.managed ? 'yes' : 'no'}, ${modeNote(s)}): ${s.devices.join(', ') || 'no device found'}${groups}\n`);
  }
  for (const g of a.groups) {
    out.stdout(`\n  ${c.bold(`IOMMU group ${g.group}`)} (group='${g.mode}'): viable now: ${g.viableNow ? 'yes' : 'no'}; after detach: ${afterDetach(g, a, c)}\n`);
    for (const m of g.members) {
      const to = m.fate === 'move' ? ` → ${m.target ?? 'no vfio driver (see the blockers)'}` : '';
      const fate = m.fate === 'move' ? c.cyan(fateText(m)) : fateText(m);
      const names = [m.vendorName, m.deviceName].filter((n) => n !== null).join(' ');
      out.stdout(`    ${fate.padEnd(m.fate === 'move' ? 6 + (fate.length - 4) : 6)}  ${m.address}${names ? `  ${names}` : ''}  ${m.driver ?? 'no driver'}${to}${m.requested ? '  [named in the XML]' : ''}\n`);
      for (const n of m.hostNeeds) out.stdout(`        ${c.yellow('host needs it:')} ${n}\n`);
    }
    for (const m of g.nonPci) out.stdout(`    ${'stays'.padEnd(6)}  ${m.name}  ${m.driver ?? 'no driver'}  [non-PCI ${m.bus ?? ''}${m.bus ? ' ' : ''}device]\n`);
  }
  if (a.opens) out.stdout(`\n  ${a.opens}\n`);
  if (a.notes.length > 0) {
    out.stdout('\n  Notes:\n');
    for (const n of a.notes) out.stdout(`    - ${n}\n`);
  }
  if (a.blockers.length > 0) {
    out.stdout(`\n  ${c.red('Blockers:')}\n`);
    for (const b of a.blockers) out.stdout(`    - ${b.message}\n`);
    out.stdout(`\n${c.red('A detach would fail')} (exit ${code}).\n`);
  } else {
    const n = a.moves.length;
    out.stdout(`\n${c.green('A detach would succeed')}: ${n === 0 ? 'nothing to move' : `${n} device${n === 1 ? '' : 's'} to ${[...new Set(a.moves.map((m) => m.target))].join(', ')}`}.\n`);
  }
}

import type { Host } from '../host/host.js';
import type { SysfsWrite } from '../host/layout.js';
import type { LibvirtDocument } from '../xml/assignment.js';
import { analyze, type Analysis } from './analyze.js';
import { exitCodeFor } from './blocker-error.js';
import type { RecordedInterfaces } from './resolve.js';
import { planDetachWrites } from './writes.js';

/** What `vfioctl check` reports: the analysis a detach would make, its verdict, and the writes it would make. */
export interface CheckVerdict {
  analysis: Analysis;
  /** 0 when a detach would succeed, else the exit code of the error a detach would end with. */
  exitCode: number;
  /** The writes of a detach, in order; none when it would fail. */
  writes: SysfsWrite[];
}

/** Plans a detach of the document without --force and without writing anything. */
export function checkDetach(doc: LibvirtDocument, host: Host, recorded?: RecordedInterfaces): CheckVerdict {
  const analysis = analyze(doc, host, { force: false, recorded });
  const exitCode = exitCodeFor(analysis.blockers);
  const writes = exitCode === 0 ? planDetachWrites(analysis.moves, host.reader.layout).map((s) => s.write) : [];
  return { analysis, exitCode, writes };
}

import type { CheckVerdict } from '../plan/check.js';
import { toHostWrite } from '../host/layout.js';

/** `check --json` (README): the verdict, the analysis with its moves as addresses, and the writes. */
export function checkJson(v: CheckVerdict): object {
  const { analysis, exitCode } = v;
  const { warnings, ...rest } = analysis;
  return {
    ...(warnings.length > 0 ? { warnings } : {}),
    ok: exitCode === 0,
    exitCode,
    ...rest,
    moves: analysis.moves.map((m) => m.dev.name),
    writes: v.writes.map(toHostWrite),
  };
}

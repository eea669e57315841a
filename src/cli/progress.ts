import type { Output } from '../render/output.js';
import { isTerminal } from '../render/terminal.js';
import type { SessionProgress } from '../run/session.js';

/**
 * What a writing command says on stderr while it works, when stderr is a terminal: who holds the lock, once,
 * while we wait for it; on a real host, each device as it reaches its new driver (a real unbind can take
 * seconds). VFIOCTL_PROGRESS=always says it whatever stderr is, also on a simulated host (tests, demos);
 * VFIOCTL_PROGRESS=never never does.
 */
export function cliProgress(out: Output, env: NodeJS.ProcessEnv): SessionProgress | undefined {
  const forced = env.VFIOCTL_PROGRESS === 'always';
  if (env.VFIOCTL_PROGRESS === 'never' || (!forced && !isTerminal(2))) return undefined;
  return {
    onLockWait: (lockFile, holder) => out.stderr(`vfioctl: waiting for ${lockFile}, held by ${holder} ...\n`),
    onDeviceMoved: (m) => {
      if (m.kernel !== 'linux' && !forced) return;
      out.stderr(`vfioctl: [${m.index}/${m.total}] ${m.device}: ${m.from ?? 'no driver'} -> ${m.to ?? 'no driver'}\n`);
    },
  };
}

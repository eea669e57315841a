import type { Command } from 'commander';
import { ExitCode } from '../errors.js';

/**
 * What every command's --help ends with: examples of that command, then where the exit codes and the
 * environment are documented. The global options (--root, --color, --no-color) are commander's own "Global Options"
 * section (showGlobalOptions in src/cli/program.ts). test/cli/help.test.ts asserts every command has examples,
 * so a new command comes with them.
 */
const EXAMPLES: Record<string, string[]> = {
  '': ['vfioctl list', 'vfioctl check vm.xml && sudo vfioctl detach vm.xml', 'vfioctl mock create workstation /tmp/ws && vfioctl list --root /tmp/ws'],
  list: ['vfioctl list', 'vfioctl list --json --root hv01.json'],
  'group-info': ['vfioctl group-info 01:00.0', 'vfioctl group-info 01:00   # every function of the slot', 'vfioctl group-info eno1   # the NIC behind an interface', 'vfioctl group-info pci_0000_01_00_1 --json --root /tmp/ws'],
  check: ['vfioctl check /etc/libvirt/qemu/vm1.xml', 'virsh dumpxml vm1 | vfioctl check - --root hv01.json --json'],
  detach: ['sudo vfioctl detach vm1.xml --dry-run', 'sudo vfioctl detach vm1.xml --json', 'sudo vfioctl detach vm1.xml --owner alice:kvm'],
  reattach: ['sudo vfioctl reattach vm1.xml', 'sudo vfioctl reattach --all   # after a crash: completes from the journal'],
  status: ['vfioctl status', 'vfioctl status --json --root /tmp/ws --libvirt-dir /tmp/ws-libvirt   # a simulated host'],
  persist: ['sudo vfioctl persist vm1.xml --dry-run', 'sudo vfioctl persist --verify', 'vfioctl persist --list --json'],
  unpersist: ['sudo vfioctl unpersist vm1.xml', 'sudo vfioctl unpersist 0000:01:00.0', 'sudo vfioctl unpersist --all'],
  metadata: ['vfioctl metadata vm1.xml > vm1-defined.xml && virsh define vm1-defined.xml'],
  snapshot: ['vfioctl snapshot --name hv01 -o hv01.json   # then, in CI: vfioctl check vm.xml --root hv01.json', 'vfioctl snapshot --root /tmp/ws | jq .devices'],
  hook: ['sudo vfioctl hook install', 'vfioctl hook status --json'],
  'hook install': ['sudo vfioctl hook install', 'sudo vfioctl hook install --legacy --libvirt-dir /etc/libvirt'],
  'hook uninstall': ['sudo vfioctl hook uninstall'],
  'hook status': ['vfioctl hook status', 'vfioctl hook status --json --libvirt-dir /etc/libvirt'],
  'hook run': ["vfioctl hook run qemu vm1 prepare begin - < vm1.xml   # as libvirt runs it"],
  mock: ['vfioctl mock list', 'vfioctl mock create workstation /tmp/ws'],
  'mock list': ['vfioctl mock list', 'vfioctl mock list --json'],
  'mock create': ['vfioctl mock create workstation /tmp/ws && vfioctl list --root /tmp/ws', 'vfioctl mock create ./hv01.json /tmp/hv01'],
  completion: ['source <(vfioctl completion bash)   # this shell', "vfioctl completion bash | sudo tee /etc/bash_completion.d/vfioctl", 'vfioctl completion zsh > "${fpath[1]}/_vfioctl"'],
};

const WHERE_DOCUMENTED =
  `Exit codes: 0 done, 1 a bug, 2 usage, 3 to ${Math.max(...Object.values(ExitCode))} one per kind of failure; the table is in README.md\n` +
  '("Exit codes") and in the man page (man 8 vfioctl, EXIT STATUS), with the environment variables\n' +
  'vfioctl reads ($VFIOCTL_ROOT, $VFIOCTL_PCI_IDS, $NO_COLOR, $FORCE_COLOR, ...: man 8 vfioctl, ENVIRONMENT).\n';

/** The command's path below the program: '' for vfioctl itself, 'hook install' for a subcommand's subcommand. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Adds the examples and the pointer to the exit codes to the help of the program and of every command below it. */
export function addHelpFooters(program: Command): void {
  const visit = (cmd: Command): void => {
    const examples = EXAMPLES[commandPath(cmd)] ?? [];
    const lines = examples.length ? `\nExamples:\n${examples.map((e) => `  $ ${e}\n`).join('')}` : '';
    cmd.addHelpText('after', `${lines}\n${WHERE_DOCUMENTED}`);
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}

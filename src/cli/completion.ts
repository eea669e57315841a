import type { Command, Option } from 'commander';
import { listBundledHosts } from '../mock/hosts.js';
import type { Output } from '../render/output.js';

/**
 * `vfioctl completion bash|zsh`: the shell completion script, generated from the commander program itself,
 * so every command and option the CLI has is completed, and nothing it does not have. What it cannot know
 * in advance is looked up when completing, in the shell: the PCI addresses of the host (--root's, else
 * $VFIOCTL_ROOT's, else /'s sys/bus/pci/devices) and files. The bundled host names are written in: they
 * come with this installation of vfioctl. zsh runs the same function through its bashcompinit.
 */
export type Shell = 'bash' | 'zsh';

/** What a positional argument or an option's value is, by the name commander gives it. */
function valueKind(name: string, choices: readonly string[] | undefined): string {
  if (choices?.length) return `choice:${choices.join(' ')}`;
  if (name === 'address') return 'pci';
  if (name === 'file') return 'file';
  if (name === 'host') return 'host';
  if (name === 'dir') return 'dir';
  return 'none';
}

function optionFlags(o: Option): string[] {
  return [o.short, o.long].filter((f): f is string => Boolean(f));
}

interface CaseArm {
  pattern: string;
  value: string;
}

/** The case arms of the script's lookup functions, for the program and every command below it. */
function caseArms(program: Command): { subcommands: CaseArm[]; options: CaseArm[]; optionValues: CaseArm[]; positionals: CaseArm[] } {
  const arms = { subcommands: [] as CaseArm[], options: [] as CaseArm[], optionValues: [] as CaseArm[], positionals: [] as CaseArm[] };
  const visit = (cmd: Command, path: string): void => {
    const subs = cmd.commands.map((c) => c.name());
    if (subs.length) arms.subcommands.push({ pattern: path, value: subs.join(' ') });
    arms.options.push({ pattern: path, value: [...cmd.options.flatMap(optionFlags), '--help'].join(' ') });
    for (const o of cmd.options) {
      if (!o.required && !o.optional) continue;
      const name = /<([a-z-]+)>|\[([a-z-]+)\]/.exec(o.flags);
      // --root takes a host directory or a snapshot .json.
      const kind = o.long === '--root' ? 'root' : valueKind(name?.[1] ?? name?.[2] ?? '', o.argChoices);
      for (const f of optionFlags(o)) arms.optionValues.push({ pattern: `${path}|${f}`, value: kind });
    }
    cmd.registeredArguments.forEach((a, i) => {
      if (!a.variadic) arms.positionals.push({ pattern: `${path}|${i}`, value: valueKind(a.name(), a.argChoices) });
    });
    for (const sub of cmd.commands) visit(sub, `${path} ${sub.name()}`.trim());
  };
  visit(program, '');
  return arms;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A shell function that prints the value of the arm its key matches, and fails when none does. */
function caseFunction(name: string, arms: CaseArm[], key: string): string {
  const lines = arms.map((a) => `    ${quote(a.pattern)}) echo ${quote(a.value)} ;;`);
  return `${name}() {\n  case ${key} in\n${lines.join('\n')}\n    *) return 1 ;;\n  esac\n}\n`;
}

export function completionScript(shell: Shell, program: Command, hosts: string[]): string {
  const arms = caseArms(program);
  const globals = program.options.filter((o) => o.long !== '--version').flatMap(optionFlags);
  const lookups = [
    caseFunction('_vfioctl_subcommands', arms.subcommands, '"$1"'),
    caseFunction('_vfioctl_options', arms.options, '"$1"'),
    // An option of the command, else one of the program's (global: valid after any command).
    caseFunction('_vfioctl_option_value_of', arms.optionValues, '"$1"'),
    '_vfioctl_option_value() { _vfioctl_option_value_of "$1|$2" || _vfioctl_option_value_of "|$2"; }\n',
    caseFunction('_vfioctl_positional', arms.positionals, '"$1|$2"'),
  ];
  const head =
    shell === 'zsh'
      ? '#compdef vfioctl\n# vfioctl completion for zsh: vfioctl completion zsh > "${fpath[1]}/_vfioctl" (then start a new shell).\n' +
        '# It runs the bash completion function through zsh\'s bashcompinit.\nautoload -U +X bashcompinit && bashcompinit\n'
      : '# vfioctl completion for bash: source <(vfioctl completion bash), or install it for every shell with\n' +
        '#   vfioctl completion bash | sudo tee /usr/share/bash-completion/completions/vfioctl\n';
  return `${head}${lookups.join('')}_vfioctl_globals=${quote(globals.join(' '))}\n_vfioctl_hosts=${quote(hosts.join(' '))}\n${BASH_FUNCTION}`;
}

/**
 * The completion function: finds the command path and the word's role, then asks the lookups above.
 * Written with \${ for the shell's ${ (String.raw keeps the backslash, replaced once below).
 */
const BASH_FUNCTION = String.raw`_vfioctl_candidates() { # KIND CUR ROOT: one candidate per line
  local d IFS=$' \t\n'
  case "$1" in
    choice:*) compgen -W "\${1#choice:}" -- "$2" ;;
    pci)
      for d in "$3"/sys/bus/pci/devices/*; do
        [ -e "$d" ] || continue
        d="\${d##*/}"
        case "$d" in "$2"*) echo "$d" ;; esac
        # lspci's short form (BB:SS.F) of domain 0000, once something is typed
        [ -n "$2" ] && case "\${d#0000:}" in "$d") ;; "$2"*) echo "\${d#0000:}" ;; esac
      done ;;
    host) compgen -W "$_vfioctl_hosts" -- "$2"; compgen -f -X '!*.json' -- "$2"; compgen -d -- "$2" ;;
    file) compgen -f -- "$2" ;;
    dir) compgen -d -- "$2" ;;
    root) compgen -d -- "$2"; compgen -f -X '!*.json' -- "$2" ;;
  esac
}

_vfioctl() {
  local i w cur kind cmd="" root="\${VFIOCTL_ROOT:-/}" expect="" nargs=0
  local -a words=()
  # bash splits words at ':' and '=' (COMP_WORDBREAKS): join 0000 : 01 : 00.0 back into the address
  # vfioctl sees, and --root = DIR into --root=DIR.
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [ \${#words[@]} -gt 0 ] && [[ "$w" == [:=] || "\${words[\${#words[@]}-1]}" == *[:=] ]]; then
      words[\${#words[@]}-1]+="$w"
    else
      words+=("$w")
    fi
  done
  cur="\${words[\${#words[@]}-1]}"
  for ((i = 0; i < \${#words[@]} - 1; i++)); do
    w="\${words[i]}"
    if [ -n "$expect" ]; then
      [ "$expect" = root ] && root="$w"
      expect=""
    elif [ "$w" = --root ]; then expect=root
    elif [ "\${w#--root=}" != "$w" ]; then root="\${w#--root=}"
    elif [ "\${w#-}" != "$w" ]; then
      [ "\${w#*=}" = "$w" ] && [ -n "$(_vfioctl_option_value "$cmd" "$w")" ] && expect=value
    elif [[ " $(_vfioctl_subcommands "$cmd") " == *" $w "* ]]; then cmd="\${cmd:+$cmd }$w"
    else nargs=$((nargs + 1))
    fi
  done
  if [ -n "$expect" ]; then
    kind="$(_vfioctl_option_value "$cmd" "\${words[\${#words[@]}-2]}")"
  elif [ "\${cur#-}" != "$cur" ]; then
    kind="choice:$(_vfioctl_options "$cmd")\${cmd:+ $_vfioctl_globals}"
  elif [ -n "$(_vfioctl_subcommands "$cmd")" ]; then
    kind="choice:$(_vfioctl_subcommands "$cmd") help"
  else
    kind="$(_vfioctl_positional "$cmd" "$nargs")"
  fi
  [ "$kind" = file ] || [ "$kind" = dir ] || [ "$kind" = host ] || [ "$kind" = root ] && type compopt >/dev/null 2>&1 && compopt -o filenames 2>/dev/null
  COMPREPLY=()
  while IFS= read -r w; do COMPREPLY+=("$w"); done < <(_vfioctl_candidates "$kind" "$cur" "$root")
  # bash (not zsh) replaces only what follows the word's last ':': drop what precedes it from each candidate.
  if [[ "$cur" == *:* && "\${COMP_WORDBREAKS-}" == *:* ]]; then
    local before="\${cur%"\${cur##*:}"}"
    COMPREPLY=("\${COMPREPLY[@]#"$before"}")
  fi
  return 0
}
complete -F _vfioctl vfioctl
`.replaceAll('\\${', '${');

export function completionCommand(shell: Shell, program: Command, out: Output): number {
  let hosts: string[] = [];
  try {
    hosts = listBundledHosts().map((h) => h.name);
  } catch {
    hosts = []; // no bundled hosts installed: complete host description files only
  }
  out.stdout(completionScript(shell, program, hosts));
  return 0;
}

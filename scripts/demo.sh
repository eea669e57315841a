#!/usr/bin/env bash
# The README's first command: on a scratch simulated host (never the real one, never the repository's
# files), show the IOMMU groups, then detach the whole group of the workstation's GPU with group='auto'.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# The bundle is built by `npm run build` (and by `npm pack`), not by `npm ci`: build it when it is missing.
[ -f "$here/dist/vfioctl.cjs" ] || (cd "$here" && node scripts/build.mjs)
vfioctl() { node "$here/bin/vfioctl" "$@"; }
scratch="$(mktemp -d "${TMPDIR:-/tmp}/vfioctl-demo.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
host="$scratch/workstation"
xml="$here/examples/gpu-passthrough.xml"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step vfioctl mock create workstation "$host"
vfioctl mock create workstation "$host"
step vfioctl list --root "$host"
vfioctl list --root "$host"
step vfioctl check "$xml" --root "$host"
vfioctl check "$xml" --root "$host"
step vfioctl detach "$xml" --root "$host" --dry-run
vfioctl detach "$xml" --root "$host" --dry-run
step vfioctl detach "$xml" --root "$host"
vfioctl detach "$xml" --root "$host"
step vfioctl group-info 01:00.0 --root "$host"
vfioctl group-info 01:00.0 --root "$host"
step vfioctl reattach "$xml" --root "$host"
vfioctl reattach "$xml" --root "$host"
printf '\nThe scratch host %s is removed on exit.\n' "$host"

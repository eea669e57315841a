#!/bin/sh
# Runs inside the guest (root, chrooted into the host's read-only root, no systemd, no dbus): gives libvirtd the
# writable places it needs, installs vfioctl's hook into a writable copy of /etc/libvirt (libvirtd reads its hooks
# when it starts, so before it starts), starts `libvirtd -d` and waits until it answers. Prints one VMCASE line.
# Usage: libvirt-up.sh OUT VFIOCTL_BIN
out="$1"
bin="$2"
scratch=/run/vfioctl-vm
case_name="libvirtd with its QEMU driver up in the guest, vfioctl's hook installed with \`vfioctl hook install\`"
fail() {
  echo "VMCASE FAIL $case_name :: $*"
  exit 1
}
t0=$(date +%s.%N)
secs() { awk "BEGIN { printf \"%.1f\", $2 - $1 }"; }

# /var: the host has no /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt; /var/run and /var/lock must
# still lead to the guest's /run.
mount -t tmpfs var /var || fail "mount tmpfs on /var"
mkdir -p /run/lock /var/tmp /var/lib/libvirt/qemu /var/cache/libvirt/qemu /var/log/libvirt/qemu /run/libvirt
ln -s /run /var/run && ln -s /run/lock /var/lock || fail "links /var/run, /var/lock"
mkdir -p "$scratch"

# A libvirt-qemu user and group: without them libvirtd's QEMU driver does not start, even with user = "root".
cp /etc/passwd /etc/group "$scratch/" || fail "copy /etc/passwd, /etc/group"
grep -q '^libvirt-qemu:' "$scratch/passwd" || echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >>"$scratch/passwd"
grep -q '^libvirt-qemu:' "$scratch/group" || echo 'libvirt-qemu:x:64055:' >>"$scratch/group"
grep -q '^libvirt:' "$scratch/group" || echo 'libvirt:x:64056:' >>"$scratch/group"
mount --bind "$scratch/passwd" /etc/passwd && mount --bind "$scratch/group" /etc/group || fail "bind-mount passwd, group"

# A writable /etc/libvirt: the host's, copied, with a configuration for a daemon without systemd, dbus or cgroups.
cp -a /etc/libvirt "$scratch/etc-libvirt" && mount --bind "$scratch/etc-libvirt" /etc/libvirt || fail "writable /etc/libvirt"
cat >/etc/libvirt/libvirtd.conf <<CONF
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$out/libvirtd.log"
CONF
cat >/etc/libvirt/qemu.conf <<'CONF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
stdio_handler = "file"
cgroup_controllers = [ ]
CONF

install=$(node "$bin" hook install --libvirt-dir /etc/libvirt 2>&1) || fail "vfioctl hook install: $install"
[ -x /etc/libvirt/hooks/qemu.d/vfioctl ] || fail "vfioctl hook install wrote no executable hooks/qemu.d/vfioctl: $install"
# Two timestamp hooks around vfioctl's (libvirt runs hooks/qemu.d/* in name order, each with the domain XML on
# stdin): the time between them at `prepare begin` is what vfioctl adds to a VM start.
for name in 00-stamp zz-stamp; do
  cat >"/etc/libvirt/hooks/qemu.d/$name" <<STAMP
#!/bin/sh
cat >/dev/null
echo "\$1 \$2 \$3 $name \$(date +%s.%N)" >>$scratch/stamps
STAMP
  chmod 755 "/etc/libvirt/hooks/qemu.d/$name"
done

libvirtd -d || fail "libvirtd -d exited $?"
i=0
until [ -S /run/libvirt/libvirt-sock ]; do
  i=$((i + 1))
  [ $i -gt 300 ] && fail "no /run/libvirt/libvirt-sock after 30 s; $(tail -3 "$out/libvirtd.log" 2>/dev/null)"
  sleep 0.1
done
t1=$(date +%s.%N)
# The first call waits for the QEMU driver's capability probe (10-18 s under TCG).
version=$(timeout 120 virsh -c qemu:///system version 2>&1) || fail "virsh version: $version"
t2=$(date +%s.%N)
echo "VMCASE PASS $case_name ($(echo "$version" | sed -n 's/^Using library: *//p; s/^Running hypervisor: *//p' | tr '\n' ',' | sed 's/,$//; s/,/, /'); socket after $(secs "$t0" "$t1") s, first virsh version after $(secs "$t1" "$t2") s)"

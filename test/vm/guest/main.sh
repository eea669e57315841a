#!/bin/sh
# Runs inside the guest, chrooted into the host's root. First, while no host driver is loaded, persistence at
# boot with the host's real systemd-udevd (udev.mjs; it leaves the guest as it booted). Then load the host
# drivers the way udev would at boot (udev is not running then), load vfio-pci, and run the cases on the real
# kernel: vfioctl alone (cases.mjs), reset methods, --owner and the absent vfio cdev (modern.mjs), SR-IOV when the guest has an igb PF (sriov.mjs; vmsriov=1 on the kernel command line), then with real
# libvirtd and QEMU (libvirt-up.sh, libvirt.mjs).
out="$1"
here="$(dirname "$0")"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp NO_COLOR=1
rc=0
node "$here/udev.mjs" "$out" || rc=1
modprobe -a -q -b $(cat /sys/bus/pci/devices/*/modalias) 2>/dev/null
modprobe vfio-pci || echo "VMCASE FAIL modprobe-vfio-pci: modprobe vfio-pci failed"
node "$here/cases.mjs" "$out" || rc=1
node "$here/modern.mjs" "$out" || rc=1
if grep -qw vmsriov=1 /proc/cmdline; then node "$here/sriov.mjs" "$out" || rc=1; fi
if sh "$here/libvirt-up.sh" "$out" "$here/../../../bin/vfioctl"; then
  node "$here/libvirt.mjs" "$out" || rc=1
else
  rc=1
fi
exit $rc

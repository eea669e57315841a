#!/bin/sh
# Runs inside the guest, chrooted into the host's root: load the host drivers the way udev would at boot
# (there is no udev here), load vfio-pci, then run the cases on the real kernel.
out="$1"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp NO_COLOR=1
modprobe -a -q -b $(cat /sys/bus/pci/devices/*/modalias) 2>/dev/null
modprobe vfio-pci || echo "VMCASE FAIL modprobe-vfio-pci: modprobe vfio-pci failed"
exec node "$(dirname "$0")/cases.mjs" "$out"

#!/bin/busybox sh
# /init of the harness's initramfs: mount the host's root read-only over 9p, run the test script named on the
# kernel command line in a chroot there (so the guest uses the host's node and the project's bundle), print
# its exit code as a marker, power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod "/modules/$m.ko" 2>/dev/null; done
for w in $(cat /proc/cmdline); do
  case "$w" in vmtest=*) test="${w#vmtest=}" ;; vmout=*) out="${w#vmout=}" ;; vmtmp=*) tmp="${w#vmtmp=}" ;; esac
done
mkdir -p /host
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host; then
  echo "VMHARNESS: cannot mount the host's root over 9p"; poweroff -f
fi
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
# A fresh /tmp, unless the project itself lives under the host's /tmp (a scratch clone): then keep it visible.
[ "$tmp" = keep ] || mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
mount -t 9p -o trans=virtio,version=9p2000.L hostout "/host$out" || echo "VMHARNESS: cannot mount the results share"
echo "VMHARNESS: guest up, running $test"
chroot /host /bin/sh "$test" "$out"
echo "VMTEST-RC=$?"
sync
poweroff -f

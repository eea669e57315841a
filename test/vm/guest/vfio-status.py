# The kernel's own viability verdict for an IOMMU group: VFIO_GROUP_GET_STATUS on /dev/vfio/N.
# Prints 1 (viable), 0 (not viable), or "absent" when the group has no VFIO node (no member on vfio-pci).
import fcntl, os, struct, sys

path = "/dev/vfio/" + sys.argv[1]
if not os.path.exists(path):
    print("absent")
    sys.exit(0)
fd = os.open(path, os.O_RDWR)
try:
    res = fcntl.ioctl(fd, (ord(";") << 8) | 103, struct.pack("II", 8, 0))  # VFIO_GROUP_GET_STATUS
    print(struct.unpack("II", res)[1] & 1)
finally:
    os.close(fd)

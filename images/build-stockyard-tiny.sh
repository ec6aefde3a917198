#!/usr/bin/env bash
# Builds the stockyard-tiny guest image from Debian packages only.
#
# Usage: images/build-stockyard-tiny.sh [OUT_DIR]     (default: images/out)
#
# Output in OUT_DIR:
#   stockyard-tiny.img   a hybrid ISO 9660 image (isolinux + MBR) that boots as a plain
#                        raw *disk*: register it with disk_format=raw. This is the image
#                        the libvirt driver boots (qcow2 overlay on top, BIOS boot).
#   vmlinuz, initrd.img  the same kernel and initramfs, for AMI-style direct kernel boot.
#
# The guest is a Debian cloud kernel plus a busybox initramfs: busybox init runs
# images/rootfs/etc/init.d/rcS which reads the config drive (label config-2), sets the
# hostname, installs root's public keys, configures the NICs of the instance's ports from
# network_data.json (usr/share/stockyard/netconf; the others by DHCP), starts dropbear and
# prints "STOCKYARD-READY <hostname>" on the serial console. acpid turns libvirt's ACPI
# power button into a clean poweroff, so shutdown and soft reboot work.
#
# Idempotent: nothing is rebuilt when the outputs are newer than this script and rootfs/.
# Needs: apt-get (download only), dpkg-deb, cpio, gzip, xorriso, depmod (kmod).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mkdir -p "${1:-$HERE/out}" && cd "${1:-$HERE/out}" && pwd)
IMG="$OUT/stockyard-tiny.img"

newest_input=$(find "$HERE/build-stockyard-tiny.sh" "$HERE/rootfs" -type f -printf '%T@\n' \
  | sort -n | tail -n 1)
if [ -f "$IMG" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] \
  && [ "$(stat -c %Y "$IMG")" -ge "${newest_input%.*}" ]; then
  echo "$IMG is up to date"
  exit 0
fi

for tool in apt-get dpkg-deb cpio gzip xorriso depmod; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (scripts/install-libvirt)" >&2; exit 1; }
done

WORK="$OUT/.work"
rm -rf "$WORK"
mkdir -p "$WORK/debs" "$WORK/x" "$WORK/root" "$WORK/iso/isolinux"
trap 'rm -rf "$WORK"' EXIT

# The newest cloud kernel the archive knows, resolved through the meta-package.
KPKG=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/.*Depends: \(linux-image-[^ ]*\)/\1/p' | head -n 1)
[ -n "$KPKG" ] || { echo "no linux-image-cloud-amd64 in apt's lists (apt-get update?)" >&2; exit 1; }
(cd "$WORK/debs" && apt-get download -q "$KPKG" busybox-static dropbear-bin isolinux syslinux-common \
  2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for deb in "$WORK"/debs/*.deb; do dpkg-deb -x "$deb" "$WORK/x"; done
X="$WORK/x"
KVER=$(basename "$(ls -d "$X"/lib/modules/*)")

R="$WORK/root"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,mnt,lib64,lib/x86_64-linux-gnu}
cp "$X/bin/busybox" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list-full); do
  [ -e "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done
ln -sf /bin/busybox "$R/init"

# dropbear is dynamic: copy it with the shared libraries it links (same Debian release).
for bin in dropbear dropbearkey; do
  src=$(find "$X/usr" -name "$bin" -type f | head -n 1)
  cp "$src" "$R/usr/sbin/$bin"
  if ldd "$src" | grep -q 'not found'; then
    echo "$bin needs libraries missing on this host (install dropbear-bin: scripts/install-libvirt)" >&2
    exit 1
  fi
  for lib in $(ldd "$src" | grep -oE '/[^ ]+\.so[^ ]*'); do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
  done
done

# Kernel modules named in rootfs/etc/modules, with their dependencies.
depmod -b "$X" "$KVER"
while read -r mod; do
  [ -n "$mod" ] || continue
  modprobe -d "$X" -S "$KVER" --show-depends "$mod" 2>/dev/null | awk '$1 == "insmod" {print $2}'
done < "$HERE/rootfs/etc/modules" | sort -u | while read -r ko; do
  rel=${ko#"$X"}
  mkdir -p "$R$(dirname "$rel")"
  cp "$ko" "$R$rel"
done
cp "$X/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KVER/"
depmod -b "$R" "$KVER"

cp -a "$HERE/rootfs/." "$R/"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
printf '/bin/sh\n' > "$R/etc/shells"

(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet | gzip -6) > "$WORK/initrd.img"
cp "$X/boot/vmlinuz-$KVER" "$WORK/vmlinuz"

ISO="$WORK/iso"
cp "$WORK/vmlinuz" "$WORK/initrd.img" "$ISO/"
cp "$X/usr/lib/ISOLINUX/isolinux.bin" "$X/usr/lib/syslinux/modules/bios/ldlinux.c32" "$ISO/isolinux/"
cat > "$ISO/isolinux/isolinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT stockyard
PROMPT 0
TIMEOUT 0
LABEL stockyard
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0,115200 panic=5 rdinit=/init
EOF
xorriso -as mkisofs -quiet -o "$WORK/stockyard-tiny.img" -V STOCKYARD_TINY \
  -isohybrid-mbr "$X/usr/lib/ISOLINUX/isohdpfx.bin" \
  -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 \
  -boot-info-table "$ISO"

mv "$WORK/vmlinuz" "$WORK/initrd.img" "$OUT/"
mv "$WORK/stockyard-tiny.img" "$IMG"
echo "built $IMG ($(du -h "$IMG" | cut -f1)), kernel $KVER"

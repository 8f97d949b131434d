#!/bin/sh
# /init (PID 1) of the VM test image. It says on the serial console which medium booted it and
# what the config-2 drive holds, so a test can tell a booted disk image from a booted ISO and
# check the meta data, user data and network data a host was given. The ACPI power button
# (Redfish GracefulShutdown) powers it off cleanly.
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "METAL3-TEST-IMAGE $*"; }

source=$(sed -n 's/.*metal3\.source=\([^ ]*\).*/\1/p' /proc/cmdline)
say "booted source=${source:-unknown} uptime=$(cut -d' ' -f1 /proc/uptime)"
while read -r module; do insmod "$module" 2>/dev/null; done </modules.load

# The power button: acpid runs /etc/acpi/PWRF/00000080 on a press.
mkdir -p /etc/acpi/PWRF
cat >/etc/acpi/PWRF/00000080 <<'SH'
#!/bin/sh
echo "METAL3-TEST-IMAGE power-button" >/dev/console
sync
poweroff -f
SH
chmod +x /etc/acpi/PWRF/00000080
acpid -f -c /etc/acpi -l /tmp/acpid.log &

# Block devices appear a moment after their drivers load; wait for them (bounded).
for _ in 1 2 3 4 5 6 7 8 9 10; do
  ls /sys/block | grep -q -e '^vd' -e '^sd' -e '^sr' && break
  sleep 0.2
done
say "disks $(ls /sys/block | grep -v -e '^loop' -e '^ram' | tr '\n' ' ')"

drive=$(findfs LABEL=config-2 2>/dev/null)
if [ -n "$drive" ] && mkdir -p /mnt/config && mount -o ro "$drive" /mnt/config 2>/tmp/mount.err; then
  say "config-drive $drive"
  latest=/mnt/config/openstack/latest
  hostname=$(sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p' "$latest/meta_data.json" 2>/dev/null)
  say "hostname=${hostname:-none}"
  for f in meta_data.json user_data network_data.json; do
    if [ -f "$latest/$f" ]; then
      say "begin $f"
      cat "$latest/$f"
      echo
      say "end $f"
    fi
  done
else
  say "no-config-drive ${drive:-no-label-config-2} $(cat /tmp/mount.err 2>/dev/null)"
fi

# The network, by DHCP from qemu's user networking (the host is 10.0.2.2).
if ip link set eth0 up 2>/dev/null; then
  say "mac $(cat /sys/class/net/eth0/address)"
  cat >/etc/udhcpc.script <<'SH'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "$router"
exit 0
SH
  chmod +x /etc/udhcpc.script
  udhcpc -i eth0 -n -q -t 8 -T 2 -s /etc/udhcpc.script >/dev/null 2>&1
  say "ip $(ip -4 addr show eth0 | sed -n 's/.*inet \([0-9./]*\).*/\1/p')"
fi

# A second NIC is on a segment VMs share (the simulator's shared network): an address from
# its MAC, announced, and the first peer heard from is reported.
if ip link set eth1 up 2>/dev/null; then
  last=$(cut -d: -f6 /sys/class/net/eth1/address)
  me="10.99.0.$((0x$last % 200 + 10))"
  ip addr add "$me/24" dev eth1
  echo 1 >/proc/sys/net/ipv4/conf/eth1/arp_accept
  say "shared-ip $me"
  (
    for _ in $(seq 1 90); do
      arping -U -c 1 -I eth1 "${me}" >/dev/null 2>&1
      for peer in $(ip neigh show dev eth1 | cut -d' ' -f1); do
        if ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then
          say "peer $peer"
          exit 0
        fi
      done
      sleep 1
    done
  ) &
fi

say "ready"
while :; do sleep 3600; done

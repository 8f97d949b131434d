"""Drives a VM-backed simulated server with OpenStack's sushy, as Ironic's redfish driver would.

Usage: sushy_vm.py URL USERNAME PASSWORD SYSTEM_ID PHASE [IMAGE_URL]
  boot-iso IMAGE_URL  insert the image into the virtual CD, boot it once (UEFI), power on
  power-off           force the server off and eject the CD
Prints one JSON object of what it saw.
"""
import json
import sys

import sushy

url, username, password, system_id, phase = sys.argv[1:6]
root = sushy.Sushy(url + "/redfish/v1", username=username, password=password)
system = root.get_system("/redfish/v1/Systems/" + system_id)
cd = system.managers[0].virtual_media.get_member(
    "/redfish/v1/Managers/%s/VirtualMedia/Cd" % system_id
)
out = {"power_before": system.power_state.value}

if phase == "boot-iso":
    cd.insert_media(sys.argv[6], inserted=True, write_protected=True)
    system.set_system_boot_options(
        sushy.BootSource.CD,
        enabled=sushy.BootSourceOverrideEnabled.ONCE,
        mode=sushy.BootSourceOverrideMode.UEFI,
    )
    system.reset_system(sushy.ResetType.ON)
    system.refresh()
    out["power_after"] = system.power_state.value
    out["boot_after"] = system.boot.enabled.value
elif phase == "power-off":
    system.reset_system(sushy.ResetType.FORCE_OFF)
    system.refresh()
    out["power_after"] = system.power_state.value
    cd.eject_media()
    cd.refresh()
    out["cd_inserted"] = cd.inserted
else:
    raise SystemExit("unknown phase " + phase)

root.close() if hasattr(root, "close") else None
print(json.dumps(out))

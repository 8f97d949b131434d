"""Drives the simulator with OpenStack's sushy, an independent Redfish client.

Usage: sushy_client.py URL USERNAME PASSWORD SYSTEM_ID; prints one JSON object of what it saw.
"""
import json
import sys

import sushy

url, username, password, system_id = sys.argv[1:5]
root = sushy.Sushy(url + "/redfish/v1", username=username, password=password)
system = root.get_system("/redfish/v1/Systems/" + system_id)
out = {"systems": len(root.get_system_collection().members_identities)}

out["power_before"] = system.power_state.value
system.set_system_boot_options(
    sushy.BootSource.CD, enabled=sushy.BootSourceOverrideEnabled.ONCE, mode=sushy.BootSourceOverrideMode.UEFI
)
manager = system.managers[0]
cd = manager.virtual_media.get_member(
    "/redfish/v1/Managers/%s/VirtualMedia/Cd" % system_id
)
cd.insert_media("http://images.example/live.iso", inserted=True, write_protected=True)
cd.refresh()
out["cd_image"] = cd.image
out["cd_inserted"] = cd.inserted
system.bios.set_attributes({"ProcVirtualization": "Disabled"})
system.reset_system(sushy.ResetType.ON)
system.refresh()
out["power_after_on"] = system.power_state.value
out["boot_after"] = system.boot.enabled.value
system.bios.refresh()
out["bios_after_boot"] = system.bios.attributes.get("ProcVirtualization")
out["cpus"] = system.processors.summary.count
out["arch"] = getattr(system.processors.summary.architecture, "value", None)
out["memory_gib"] = system.memory_summary.size_gib
out["macs"] = sorted(system.ethernet_interfaces.summary.keys())
out["disk_bytes"] = system.simple_storage.max_size_bytes
system.reset_system(sushy.ResetType.FORCE_OFF)
system.refresh()
out["power_after_off"] = system.power_state.value
cd.eject_media()
cd.refresh()
out["cd_after_eject"] = cd.inserted
try:
    sushy.Sushy(url + "/redfish/v1", username=username, password="wrong").get_system_collection()
    out["wrong_password"] = "accepted"
except sushy.exceptions.AccessError:
    out["wrong_password"] = "refused"
print(json.dumps(out))

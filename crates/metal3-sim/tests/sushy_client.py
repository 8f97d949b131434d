"""Drives the simulator with OpenStack's sushy, an independent Redfish client.

Usage: sushy_client.py URL USERNAME PASSWORD SYSTEM_ID EVENT_URL
Prints one JSON object of what it saw.
"""
import json
import sys

import sushy

url, username, password, system_id, event_url = sys.argv[1:6]
root = sushy.Sushy(url + "/redfish/v1", username=username, password=password)
system = root.get_system("/redfish/v1/Systems/" + system_id)
out = {"systems": len(root.get_system_collection().members_identities)}

# Power, boot override and virtual media.
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

# BIOS settings through @Redfish.Settings and the attribute registry.
system.bios.set_attributes({"ProcVirtualization": "Disabled"})
registry = system.bios.get_attribute_registry()
out["registry_attributes"] = sorted(a.name for a in registry.registry_entries.attributes)
out["registry_pxe_upper"] = next(
    a.upper_bound for a in registry.registry_entries.attributes if a.name == "PxeRetryCount"
)

# An event subscription: the power changes below are delivered to it.
events = root.get_event_service()
subscription = events.subscriptions.create(
    {"Destination": event_url, "Context": "sushy-test", "Protocol": "Redfish", "EventTypes": ["Alert"]}
)
out["subscriptions"] = len(events.subscriptions.get_members())

# Firmware: the BMC flashes at once, the BIOS update waits for the next boot.
updates = root.get_update_service()
bmc_task = updates.simple_update("http://firmware.example/bmc-2.5.0.bin")
out["bmc_task_processing"] = bmc_task.check_is_processing
bios_task = updates.simple_update("http://firmware.example/bios-1.7.0.bin")
out["bios_task_processing_before_boot"] = bios_task.check_is_processing
out["bios_version_before_boot"] = system.bios_version

# RAID: a volume now, and one staged for the next boot.
storage = system.storage.get_members()[0]
out["drives"] = len(storage.drives)
out["raid_types"] = sorted(t.value for t in storage.storage_controllers[0].raid_types)
volume = storage.volumes.create({"RAIDType": "RAID1", "Name": "root"})
out["volume_now"] = [volume.raid_type.value, volume.capacity_bytes]
staged = storage.volumes.create({"RAIDType": "RAID1", "Name": "data"}, apply_time=sushy.ApplyTime.ON_RESET)
out["volume_staged_is_task"] = type(staged).__name__
storage.volumes.refresh()
out["volumes_before_boot"] = len(storage.volumes.members_identities)

system.reset_system(sushy.ResetType.ON)
system.refresh()
out["power_after_on"] = system.power_state.value
out["boot_after"] = system.boot.enabled.value
system.bios.refresh()
out["bios_after_boot"] = system.bios.attributes.get("ProcVirtualization")
out["bios_task_processing_after_boot"] = bios_task.check_is_processing
out["bios_version_after_boot"] = system.bios_version
manager.refresh()
out["bmc_version"] = manager.firmware_version
storage.volumes.refresh()
out["volumes_after_boot"] = len(storage.volumes.members_identities)

# Inventory.
out["cpus"] = system.processors.summary.count
out["arch"] = getattr(system.processors.summary.architecture, "value", None)
out["memory_gib"] = system.memory_summary.size_gib
out["macs"] = sorted(system.ethernet_interfaces.summary.keys())
out["disk_bytes"] = system.simple_storage.max_size_bytes
out["firmware_inventory"] = sorted(
    [m.identity, m.version] for m in updates.firmware_inventory.get_members()
)

system.reset_system(sushy.ResetType.FORCE_OFF)
system.refresh()
out["power_after_off"] = system.power_state.value
cd.eject_media()
cd.refresh()
out["cd_after_eject"] = cd.inserted
subscription.delete()
try:
    sushy.Sushy(url + "/redfish/v1", username=username, password="wrong").get_system_collection()
    out["wrong_password"] = "accepted"
except sushy.exceptions.AccessError:
    out["wrong_password"] = "refused"
root._auth.close()
print(json.dumps(out))

//! A simulated server's disks and its hardware RAID controller: drives, volumes made from
//! them, and volume changes waiting for the next boot (`@Redfish.OperationApplyTime: OnReset`).

use serde_json::Value;

/// RAID levels the controller builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raid {
    Raid0,
    Raid1,
    Raid5,
    Raid10,
}

/// RAID types as Redfish names them.
pub const RAID_TYPES: &[&str] = &["RAID0", "RAID1", "RAID5", "RAID10"];

impl Raid {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RAID0" => Some(Self::Raid0),
            "RAID1" => Some(Self::Raid1),
            "RAID5" => Some(Self::Raid5),
            "RAID10" => Some(Self::Raid10),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raid0 => "RAID0",
            Self::Raid1 => "RAID1",
            Self::Raid5 => "RAID5",
            Self::Raid10 => "RAID10",
        }
    }

    /// The legacy `VolumeType` of this level.
    pub fn volume_type(self) -> &'static str {
        match self {
            Self::Raid0 => "NonRedundant",
            Self::Raid1 => "Mirrored",
            Self::Raid5 => "StripedWithParity",
            Self::Raid10 => "SpannedMirrors",
        }
    }

    /// Whether `drives` drives can form this level.
    fn accepts(self, drives: usize) -> bool {
        match self {
            Self::Raid0 => drives >= 1,
            Self::Raid1 => drives == 2,
            Self::Raid5 => drives >= 3,
            Self::Raid10 => drives >= 4 && drives.is_multiple_of(2),
        }
    }

    /// The fewest drives this level needs.
    fn minimum(self) -> usize {
        match self {
            Self::Raid0 => 1,
            Self::Raid1 => 2,
            Self::Raid5 => 3,
            Self::Raid10 => 4,
        }
    }

    /// Usable bytes of `drives` drives of `each` bytes.
    fn usable(self, drives: usize, each: u64) -> u64 {
        let n = drives as u64;
        match self {
            Self::Raid0 => n * each,
            Self::Raid1 => each,
            Self::Raid5 => (n - 1) * each,
            Self::Raid10 => n / 2 * each,
        }
    }
}

/// One volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub id: u32,
    pub name: String,
    pub raid: Raid,
    pub drives: Vec<usize>,
    pub capacity_bytes: u64,
}

/// A volume change staged for the next boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    Create(Volume),
    Delete(u32),
}

/// The controller and its drives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    pub drive_bytes: u64,
    pub drives: usize,
    pub volumes: Vec<Volume>,
    pub pending: Vec<Pending>,
    next_id: u32,
}

/// The id of drive `index` in URLs.
pub fn drive_id(index: usize) -> String {
    format!("Drive{index}")
}

fn parse_drive(uri: &str) -> Option<usize> {
    uri.trim_end_matches('/')
        .rsplit('/')
        .next()?
        .strip_prefix("Drive")?
        .parse()
        .ok()
}

impl Storage {
    pub fn new(drives: usize, drive_bytes: u64) -> Self {
        Self {
            drive_bytes,
            drives,
            volumes: Vec::new(),
            pending: Vec::new(),
            next_id: 1,
        }
    }

    /// Drives no volume (existing or staged) uses.
    fn free_drives(&self) -> Vec<usize> {
        let used: Vec<usize> = self
            .volumes
            .iter()
            .chain(self.pending.iter().filter_map(|p| match p {
                Pending::Create(v) => Some(v),
                Pending::Delete(_) => None,
            }))
            .flat_map(|v| v.drives.iter().copied())
            .collect();
        (0..self.drives).filter(|d| !used.contains(d)).collect()
    }

    /// Checks a `POST Volumes` body and builds the volume: RAIDType, optional CapacityBytes,
    /// Name and `Links.Drives` (the fewest free drives when absent).
    pub fn plan(&mut self, body: &Value) -> Result<Volume, String> {
        let raid_text = body
            .get("RAIDType")
            .and_then(Value::as_str)
            .ok_or("RAIDType is required")?;
        let raid = Raid::parse(raid_text).ok_or_else(|| {
            format!(
                "RAIDType {raid_text:?} is not one of {}",
                RAID_TYPES.join(", ")
            )
        })?;
        let free = self.free_drives();
        let drives: Vec<usize> = match body.pointer("/Links/Drives").and_then(Value::as_array) {
            Some(links) => {
                let mut drives = Vec::new();
                for link in links {
                    let uri = link.get("@odata.id").and_then(Value::as_str).unwrap_or("");
                    let drive = parse_drive(uri)
                        .filter(|d| *d < self.drives)
                        .ok_or_else(|| {
                            format!("Links.Drives: {uri:?} is not a drive of this controller")
                        })?;
                    if !free.contains(&drive) {
                        return Err(format!("Links.Drives: {uri} is already part of a volume"));
                    }
                    if drives.contains(&drive) {
                        return Err(format!("Links.Drives: {uri} is listed twice"));
                    }
                    drives.push(drive);
                }
                drives
            }
            None => free.iter().copied().take(raid.minimum()).collect(),
        };
        if !raid.accepts(drives.len()) {
            return Err(format!(
                "{} cannot be built from {} drive(s) ({} free)",
                raid.as_str(),
                drives.len(),
                free.len()
            ));
        }
        let usable = raid.usable(drives.len(), self.drive_bytes);
        let capacity_bytes = match body.get("CapacityBytes") {
            None | Some(Value::Null) => usable,
            Some(v) => {
                let wanted = v
                    .as_u64()
                    .filter(|w| *w > 0)
                    .ok_or_else(|| format!("CapacityBytes {v} is not a positive integer"))?;
                if wanted > usable {
                    return Err(format!(
                        "CapacityBytes {wanted} is more than the {usable} bytes {} of these drives gives",
                        raid.as_str()
                    ));
                }
                wanted
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let name = body
            .get("Name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("Volume{id}"), str::to_string);
        Ok(Volume {
            id,
            name,
            raid,
            drives,
            capacity_bytes,
        })
    }

    /// Whether volume `id` exists.
    pub fn has(&self, id: u32) -> bool {
        self.volumes.iter().any(|v| v.id == id)
    }

    /// Removes volume `id` now.
    pub fn delete(&mut self, id: u32) -> bool {
        let before = self.volumes.len();
        self.volumes.retain(|v| v.id != id);
        before != self.volumes.len()
    }

    /// Staged changes take effect (the server is booting).
    pub fn apply(&mut self) {
        for change in std::mem::take(&mut self.pending) {
            match change {
                Pending::Create(v) => self.volumes.push(v),
                Pending::Delete(id) => {
                    self.delete(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TB: u64 = 1_000_000_000_000;

    #[test]
    fn raid_levels_and_capacity() {
        let mut s = Storage::new(4, TB);
        let v = s.plan(&json!({"RAIDType": "RAID1"})).expect("raid1");
        assert_eq!((v.drives.clone(), v.capacity_bytes), (vec![0, 1], TB));
        s.volumes.push(v);
        let v = s
            .plan(&json!({"RAIDType": "RAID0", "CapacityBytes": TB / 2}))
            .expect("raid0");
        assert_eq!((v.drives.clone(), v.capacity_bytes), (vec![2], TB / 2));
        s.volumes.push(v);
        let err = s
            .plan(&json!({"RAIDType": "RAID5"}))
            .expect_err("only one drive left");
        assert!(
            err.contains("RAID5 cannot be built from 1 drive(s) (1 free)"),
            "{err}"
        );

        let mut s = Storage::new(4, TB);
        assert_eq!(
            s.plan(&json!({"RAIDType": "RAID5"}))
                .expect("r5")
                .capacity_bytes,
            2 * TB
        );
        let mut s = Storage::new(4, TB);
        assert_eq!(
            s.plan(&json!({"RAIDType": "RAID10"}))
                .expect("r10")
                .capacity_bytes,
            2 * TB
        );
    }

    #[test]
    fn explicit_drives_are_checked() {
        let mut s = Storage::new(4, TB);
        let body = json!({"RAIDType": "RAID1", "Links": {"Drives": [
            {"@odata.id": "/redfish/v1/Systems/x/Storage/1/Drives/Drive3"},
            {"@odata.id": "/redfish/v1/Systems/x/Storage/1/Drives/Drive1"},
        ]}});
        let v = s.plan(&body).expect("plan");
        assert_eq!(v.drives, vec![3, 1]);
        s.pending.push(Pending::Create(v));
        let err = s.plan(&body).expect_err("staged drives are taken");
        assert!(err.contains("already part of a volume"), "{err}");
        let err = s
            .plan(&json!({"RAIDType": "RAID0", "Links": {"Drives": [{"@odata.id": "/x/Drives/Drive9"}]}}))
            .expect_err("no such drive");
        assert!(err.starts_with("Links.Drives"), "{err}");
        let err = s
            .plan(&json!({"RAIDType": "RAID1", "Links": {"Drives": [{"@odata.id": "/x/Drive0"}, {"@odata.id": "/x/Drive0"}]}}))
            .expect_err("twice");
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn bad_requests_name_the_field() {
        let mut s = Storage::new(2, TB);
        assert!(
            s.plan(&json!({}))
                .expect_err("none")
                .starts_with("RAIDType")
        );
        assert!(
            s.plan(&json!({"RAIDType": "RAID6"}))
                .expect_err("r6")
                .contains("RAID10")
        );
        let err = s
            .plan(&json!({"RAIDType": "RAID0", "CapacityBytes": 3 * TB}))
            .expect_err("too big");
        assert!(err.starts_with("CapacityBytes"), "{err}");
        let err = s
            .plan(&json!({"RAIDType": "RAID0", "CapacityBytes": "big"}))
            .expect_err("not a number");
        assert!(err.starts_with("CapacityBytes"), "{err}");
    }

    #[test]
    fn staged_changes_apply_on_boot() {
        let mut s = Storage::new(2, TB);
        let v = s
            .plan(&json!({"RAIDType": "RAID1", "Name": "root"}))
            .expect("plan");
        let id = v.id;
        s.pending.push(Pending::Create(v));
        assert!(!s.has(id));
        s.apply();
        assert!(s.has(id));
        assert_eq!(s.volumes[0].name, "root");
        s.pending.push(Pending::Delete(id));
        s.apply();
        assert!(s.volumes.is_empty() && s.pending.is_empty());
    }
}

//! Choosing the root disk by root device hints, with upstream's semantics (Ironic's
//! `find_devices_by_hints` as the BareMetalHost's hints translate to it): every given hint must
//! match; strings compare trimmed and case-insensitively; `model` and `vendor` match as
//! substrings, the others exactly; `minSizeGigabytes` compares the size in GiB. Without hints:
//! the smallest disk of at least 4 GiB, as ironic-python-agent guesses it.

use std::fmt::Write as _;

use metal3_agent_api::RootDeviceHints;

use crate::sysfs::BlockDevice;

const GIB: u64 = 1 << 30;
/// The smallest disk chosen when no hints are given.
pub const MIN_ROOT_DISK_BYTES: u64 = 4 * GIB;

/// Why no root disk was chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HintError {
    #[error(
        "no disks found on the host: check that its disk controller is supported and the disks are present"
    )]
    NoDisks,
    #[error(
        "no disk of at least 4 GiB on the host (seen: {seen}): add a larger disk or give root device hints"
    )]
    NoneLargeEnough { seen: String },
    #[error(
        "no disk matches the root device hints ({hints}): {reasons}. Fix the BareMetalHost's rootDeviceHints"
    )]
    NoMatch { hints: String, reasons: String },
}

/// The disk to write the image to: the first of `devices` matching every hint, or the smallest
/// of at least 4 GiB when `hints` is `None` or sets nothing.
pub fn select_root<'a>(
    devices: &'a [BlockDevice],
    hints: Option<&RootDeviceHints>,
) -> Result<&'a BlockDevice, HintError> {
    if devices.is_empty() {
        return Err(HintError::NoDisks);
    }
    let checks = hints.map(checks).unwrap_or_default();
    if checks.is_empty() {
        return devices
            .iter()
            .filter(|d| d.size >= MIN_ROOT_DISK_BYTES)
            .min_by(|a, b| a.size.cmp(&b.size).then_with(|| a.name.cmp(&b.name)))
            .ok_or_else(|| HintError::NoneLargeEnough {
                seen: devices
                    .iter()
                    .map(|d| format!("{} {}", d.name, human_size(d.size)))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
    }
    let mut reasons = Vec::new();
    for device in devices {
        let failed: Vec<String> = checks.iter().filter_map(|c| c.mismatch(device)).collect();
        if failed.is_empty() {
            return Ok(device);
        }
        reasons.push(format!("{} has {}", device.name, failed.join(", ")));
    }
    Err(HintError::NoMatch {
        hints: checks
            .iter()
            .map(Check::describe)
            .collect::<Vec<_>>()
            .join(", "),
        reasons: reasons.join("; "),
    })
}

/// One given hint.
#[derive(Debug, Clone, PartialEq)]
enum Check {
    /// Exact, case-insensitive.
    Equals(Field, Wanted),
    /// Substring, case-insensitive.
    Contains(Field, Wanted),
    MinGib(i64),
    Rotational(bool),
}

/// A hint's value: normalised for matching, as given for messages.
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    normal: String,
    given: String,
}

impl Wanted {
    fn new(given: &str) -> Self {
        Self {
            normal: normalise(given),
            given: given.trim().to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Name,
    ByPath,
    Hctl,
    Model,
    Vendor,
    Serial,
    Wwn,
    WwnWithExtension,
    WwnVendorExtension,
}

impl Field {
    fn hint_name(self) -> &'static str {
        match self {
            Field::Name | Field::ByPath => "deviceName",
            Field::Hctl => "hctl",
            Field::Model => "model",
            Field::Vendor => "vendor",
            Field::Serial => "serialNumber",
            Field::Wwn => "wwn",
            Field::WwnWithExtension => "wwnWithExtension",
            Field::WwnVendorExtension => "wwnVendorExtension",
        }
    }

    fn value(self, d: &BlockDevice) -> &str {
        match self {
            Field::Name => &d.name,
            Field::ByPath => &d.by_path,
            Field::Hctl => &d.hctl,
            Field::Model => &d.model,
            Field::Vendor => &d.vendor,
            Field::Serial => &d.serial,
            Field::Wwn => &d.wwn,
            Field::WwnWithExtension => &d.wwn_with_extension,
            Field::WwnVendorExtension => &d.wwn_vendor_extension,
        }
    }
}

/// Trimmed and lower-cased, as Ironic normalises both sides.
fn normalise(s: &str) -> String {
    s.trim().to_lowercase()
}

fn checks(h: &RootDeviceHints) -> Vec<Check> {
    let mut out = Vec::new();
    let device_name = h.device_name.trim();
    if !device_name.is_empty() {
        if device_name.starts_with("/dev/disk/by-path/") {
            out.push(Check::Equals(Field::ByPath, Wanted::new(device_name)));
        } else if device_name.starts_with("/dev/") {
            out.push(Check::Equals(Field::Name, Wanted::new(device_name)));
        } else {
            out.push(Check::Equals(
                Field::Name,
                Wanted::new(&format!("/dev/{device_name}")),
            ));
        }
    }
    let exact = [
        (Field::Hctl, &h.hctl),
        (Field::Serial, &h.serial_number),
        (Field::Wwn, &h.wwn),
        (Field::WwnWithExtension, &h.wwn_with_extension),
        (Field::WwnVendorExtension, &h.wwn_vendor_extension),
    ];
    for (field, value) in exact {
        if !value.trim().is_empty() {
            out.push(Check::Equals(field, Wanted::new(value)));
        }
    }
    for (field, value) in [(Field::Model, &h.model), (Field::Vendor, &h.vendor)] {
        if !value.trim().is_empty() {
            out.push(Check::Contains(field, Wanted::new(value)));
        }
    }
    if h.min_size_gigabytes > 0 {
        out.push(Check::MinGib(h.min_size_gigabytes));
    }
    if let Some(rotational) = h.rotational {
        out.push(Check::Rotational(rotational));
    }
    out
}

impl Check {
    /// `None` when `d` satisfies the hint, else what `d` has instead.
    fn mismatch(&self, d: &BlockDevice) -> Option<String> {
        match self {
            Check::Equals(field, want) | Check::Contains(field, want) => {
                let have = normalise(field.value(d));
                let ok = !have.is_empty()
                    && match self {
                        Check::Contains(..) => have.contains(want.normal.as_str()),
                        _ => have == want.normal,
                    };
                (!ok).then(|| {
                    let shown = field.value(d).trim();
                    if shown.is_empty() {
                        format!("no {}", field.hint_name())
                    } else {
                        format!("{} {shown:?}", field.hint_name())
                    }
                })
            }
            Check::MinGib(n) => {
                let ok = u64::try_from(*n).is_ok_and(|n| d.size >= n.saturating_mul(GIB));
                (!ok).then(|| format!("size {}", human_size(d.size)))
            }
            Check::Rotational(want) => (d.rotational != *want).then(|| {
                if d.rotational {
                    "rotational true".to_string()
                } else {
                    "rotational false".to_string()
                }
            }),
        }
    }

    fn describe(&self) -> String {
        match self {
            Check::Equals(field, v) => format!("{} = {:?}", field.hint_name(), v.given),
            Check::Contains(field, v) => {
                format!("{} contains {:?}", field.hint_name(), v.given)
            }
            Check::MinGib(n) => format!("minSizeGigabytes >= {n}"),
            Check::Rotational(r) => format!("rotational = {r}"),
        }
    }
}

/// Bytes as GiB with two decimals (the unit hints use).
fn human_size(bytes: u64) -> String {
    let mut s = String::new();
    let hundredths = bytes.saturating_mul(100) / GIB;
    let _ = write!(s, "{}.{:02} GiB", hundredths / 100, hundredths % 100);
    s
}

#[cfg(test)]
mod tests;

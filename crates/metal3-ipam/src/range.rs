//! The addresses of one range of a pool (`start`/`end`/`subnet`), as numbers: which address
//! has which index, whether an address is in the range, how many there are.
//!
//! A range runs from `start` (or, without it, the address after the one written in `subnet`)
//! to `end` (or, without it, the last address of `subnet`, or of the address family), and
//! never leaves `subnet` when one is given. Like upstream, a subnet-only range includes the
//! subnet's last address; unlike upstream, `end` also bounds a range that has no `start`.
//! IPv4-mapped IPv6 addresses count as IPv4, as Go's `net.IP` treats them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use metal3_ipam_api::v1alpha1::Pool;

/// IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// 32-bit addresses.
    V4,
    /// 128-bit addresses.
    V6,
}

impl Family {
    /// The highest address of the family, as a number.
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// An address as family and number (IPv4-mapped IPv6 addresses are IPv4).
pub fn to_number(ip: IpAddr) -> (Family, u128) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    }
}

/// The address with number `n` in `family`; `None` when it does not fit.
pub fn from_number(family: Family, n: u128) -> Option<IpAddr> {
    match family {
        Family::V4 => u32::try_from(n).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        Family::V6 => Some(IpAddr::V6(Ipv6Addr::from(n))),
    }
}

/// Parses an address, IPv4-mapped IPv6 addresses as IPv4.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// A subnet: the address as written, the network's first and last address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// Address family.
    pub family: Family,
    /// The address written before the `/`.
    pub written: u128,
    /// The network's first address.
    pub first: u128,
    /// The network's last address.
    pub last: u128,
}

impl Subnet {
    /// Whether `n` (of this family) is in the subnet.
    pub fn contains(&self, n: u128) -> bool {
        self.first <= n && n <= self.last
    }
}

/// Parses `address/length` (the prefix length at most 32 for IPv4, 128 for IPv6).
pub fn parse_subnet(text: &str) -> Option<Subnet> {
    let (address, length) = text.split_once('/')?;
    let ip: IpAddr = address.parse().ok()?;
    let length: u32 = length.parse().ok()?;
    // Written as IPv6, an IPv4-mapped address keeps its IPv6 prefix length.
    let (family, written) = match ip {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    };
    if length > family.bits() || length.to_string() != length_text(text) {
        return None;
    }
    let host_bits = family.bits() - length;
    let host_mask = if host_bits == 0 {
        0
    } else if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let first = written & !host_mask & family.max();
    Some(Subnet {
        family,
        written,
        first,
        last: first | host_mask,
    })
}

fn length_text(text: &str) -> &str {
    text.rsplit('/').next().unwrap_or_default()
}

/// What is wrong with a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// `start`, `end` or `subnet` is not an address (subnet).
    Invalid {
        /// The field (`start`, `end`, `subnet`).
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// Addresses of both families in one range.
    MixedFamilies,
    /// `end` comes before `start`.
    EndBeforeStart,
    /// Neither `start` nor `subnet`: no address can be computed.
    NoStart,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::Invalid { field, value } => {
                write!(f, "{field} {value:?} is not a valid address")?;
                if *field == "subnet" {
                    f.write_str(" in CIDR notation")?;
                }
                Ok(())
            }
            RangeError::MixedFamilies => {
                f.write_str("start, end and subnet must all be IPv4 or all IPv6")
            }
            RangeError::EndBeforeStart => f.write_str("end comes before start"),
            RangeError::NoStart => f.write_str("a range needs start or subnet"),
        }
    }
}

/// The addresses of one range, `first..=last` (empty when `first > last`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// Address family.
    pub family: Family,
    /// Number of the first address.
    pub first: u128,
    /// Number of the last address.
    pub last: u128,
    /// Whether only the address family bounds the range (a `start` alone).
    pub open: bool,
}

fn field(
    name: &'static str,
    value: Option<&metal3_ipam_api::v1alpha1::IpAddressStr>,
) -> Result<Option<(Family, u128)>, RangeError> {
    value
        .map(|v| {
            parse_ip(v.as_str())
                .map(to_number)
                .ok_or_else(|| RangeError::Invalid {
                    field: name,
                    value: v.to_string(),
                })
        })
        .transpose()
}

impl Range {
    /// The range of `entry`, or what is wrong with it.
    pub fn of(entry: &Pool) -> Result<Range, RangeError> {
        let start = field("start", entry.start.as_ref())?;
        let end = field("end", entry.end.as_ref())?;
        let subnet = entry
            .subnet
            .as_ref()
            .map(|s| {
                parse_subnet(s.as_str()).ok_or_else(|| RangeError::Invalid {
                    field: "subnet",
                    value: s.to_string(),
                })
            })
            .transpose()?;
        let families = [
            start.map(|s| s.0),
            end.map(|e| e.0),
            subnet.map(|s| s.family),
        ];
        let mut known = families.iter().flatten();
        let family = *known.next().ok_or(RangeError::NoStart)?;
        if known.any(|f| *f != family) {
            return Err(RangeError::MixedFamilies);
        }
        if let (Some((_, s)), Some((_, e))) = (start, end)
            && e < s
        {
            return Err(RangeError::EndBeforeStart);
        }
        let first = match (start, subnet) {
            (Some((_, s)), _) => s,
            // The address after the one written, as upstream counts from it.
            (None, Some(net)) => match net.written.checked_add(1) {
                Some(n) if n <= family.max() => n,
                _ => return Ok(Range::empty(family)),
            },
            (None, None) => return Err(RangeError::NoStart),
        };
        let mut last = family.max();
        if let Some((_, e)) = end {
            last = last.min(e);
        }
        if let Some(net) = subnet {
            if !net.contains(first) {
                return Ok(Range::empty(family));
            }
            last = last.min(net.last);
        }
        Ok(Range {
            family,
            first,
            last,
            open: end.is_none() && subnet.is_none(),
        })
    }

    fn empty(family: Family) -> Range {
        Range {
            family,
            first: 1,
            last: 0,
            open: false,
        }
    }

    /// Whether the range has no address.
    pub fn is_empty(&self) -> bool {
        self.first > self.last
    }

    /// The number of addresses minus one (`None` when empty): the highest index.
    pub fn span(&self) -> Option<u128> {
        self.last.checked_sub(self.first)
    }

    /// The address of index `i` (0 is the first), or `None` past the end.
    pub fn nth(&self, i: u128) -> Option<IpAddr> {
        let n = self.first.checked_add(i)?;
        if n > self.last {
            return None;
        }
        from_number(self.family, n)
    }

    /// Whether `ip` is one of the range's addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (family, n) = to_number(ip);
        family == self.family && self.first <= n && n <= self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_ipam_api::v1alpha1::{IpAddressStr, IpSubnetStr};

    fn pool(start: Option<&str>, end: Option<&str>, subnet: Option<&str>) -> Pool {
        Pool {
            start: start.map(IpAddressStr::from),
            end: end.map(IpAddressStr::from),
            subnet: subnet.map(IpSubnetStr::from),
            ..Pool::default()
        }
    }

    fn addresses(p: &Pool) -> Vec<String> {
        let range = Range::of(p).expect("valid range");
        (0..)
            .map_while(|i| range.nth(i))
            .take(1000)
            .map(|ip| ip.to_string())
            .collect()
    }

    #[test]
    fn start_and_end_bound_the_range_inclusively() {
        let p = pool(Some("192.168.0.10"), Some("192.168.0.12"), None);
        assert_eq!(
            addresses(&p),
            ["192.168.0.10", "192.168.0.11", "192.168.0.12"]
        );
    }

    #[test]
    fn a_subnet_alone_starts_after_the_address_written_and_ends_with_the_subnet() {
        let p = pool(None, None, Some("192.168.0.0/30"));
        assert_eq!(addresses(&p), ["192.168.0.1", "192.168.0.2", "192.168.0.3"]);
        let written = pool(None, None, Some("192.168.0.1/30"));
        assert_eq!(addresses(&written), ["192.168.0.2", "192.168.0.3"]);
        assert!(
            Range::of(&pool(None, None, Some("10.0.0.1/32")))
                .expect("valid")
                .is_empty()
        );
    }

    #[test]
    fn the_subnet_clips_start_and_end() {
        let p = pool(Some("10.0.0.250"), Some("10.0.1.5"), Some("10.0.0.0/24"));
        assert_eq!(
            addresses(&p),
            [
                "10.0.0.250",
                "10.0.0.251",
                "10.0.0.252",
                "10.0.0.253",
                "10.0.0.254",
                "10.0.0.255"
            ]
        );
        let outside = pool(Some("10.0.1.1"), None, Some("10.0.0.0/24"));
        assert!(Range::of(&outside).expect("valid").is_empty());
    }

    #[test]
    fn end_bounds_a_subnet_without_start() {
        let p = pool(None, Some("10.0.0.3"), Some("10.0.0.0/24"));
        assert_eq!(addresses(&p), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    }

    #[test]
    fn a_start_alone_runs_to_the_end_of_the_family() {
        let range = Range::of(&pool(Some("255.255.255.254"), None, None)).expect("valid");
        assert!(range.open);
        assert_eq!(range.span(), Some(1));
        assert_eq!(range.nth(2), None);
        let v6 = Range::of(&pool(Some("::"), None, None)).expect("valid");
        assert_eq!(v6.span(), Some(u128::MAX));
        assert_eq!(
            v6.nth(u128::MAX),
            Some(
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                    .parse()
                    .expect("ip")
            )
        );
    }

    #[test]
    fn ipv6_ranges_count_in_128_bits() {
        let p = pool(Some("2001:db8::fffe"), Some("2001:db8::1:1"), None);
        assert_eq!(
            addresses(&p),
            [
                "2001:db8::fffe",
                "2001:db8::ffff",
                "2001:db8::1:0",
                "2001:db8::1:1"
            ]
        );
        let subnet = pool(None, None, Some("2001:db8::/126"));
        assert_eq!(
            addresses(&subnet),
            ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
        );
    }

    #[test]
    fn contains_agrees_with_the_addresses_listed() {
        let p = pool(Some("10.0.0.5"), Some("10.0.0.9"), Some("10.0.0.0/29"));
        let range = Range::of(&p).expect("valid");
        for last in 0..=20u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
            assert_eq!(range.contains(ip), (5..=7).contains(&last), "{ip}");
        }
        assert!(!range.contains("::ffff:10.0.0.4".parse().expect("ip")));
        assert!(range.contains("::ffff:10.0.0.6".parse().expect("ip")));
        assert!(!range.contains("2001:db8::6".parse().expect("ip")));
    }

    #[test]
    fn broken_ranges_say_what_is_wrong() {
        let cases = [
            (
                pool(Some("10.0.0.300"), None, None),
                "start \"10.0.0.300\" is not a valid address",
            ),
            (
                pool(None, None, Some("10.0.0.0/33")),
                "subnet \"10.0.0.0/33\" is not a valid address in CIDR notation",
            ),
            (
                pool(Some("10.0.0.5"), Some("10.0.0.4"), None),
                "end comes before start",
            ),
            (
                pool(Some("10.0.0.5"), Some("2001:db8::1"), None),
                "start, end and subnet must all be IPv4 or all IPv6",
            ),
            (
                pool(None, Some("10.0.0.5"), None),
                "a range needs start or subnet",
            ),
            (pool(None, None, None), "a range needs start or subnet"),
        ];
        for (p, message) in cases {
            assert_eq!(
                Range::of(&p).expect_err("broken").to_string(),
                message,
                "{p:?}"
            );
        }
    }

    #[test]
    fn subnets_parse_as_go_parses_cidrs() {
        let s = parse_subnet("192.168.1.77/24").expect("valid");
        assert_eq!((s.first, s.last), (0xC0A8_0100, 0xC0A8_01FF));
        assert_eq!(s.written, 0xC0A8_014D);
        assert!(parse_subnet("192.168.1.0").is_none());
        assert!(parse_subnet("192.168.1.0/024").is_none());
        assert!(parse_subnet("192.168.1.0/-1").is_none());
        assert!(parse_subnet("2001:db8::/129").is_none());
        let all = parse_subnet("::/0").expect("valid");
        assert_eq!((all.first, all.last), (0, u128::MAX));
    }
}

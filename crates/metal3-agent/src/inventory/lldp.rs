//! LLDP frames decoded: the raw TLVs as IPA reports them (`[type, hex value]` per NIC) and
//! the switch's chassis, port, name and VLANs as Ironic's inspection parses them.

use metal3_agent_api::inventory::{LldpVlan, ParsedLldp};

use crate::config::format_mac;

const END: u8 = 0;
const CHASSIS_ID: u8 = 1;
const PORT_ID: u8 = 2;
const SYSTEM_NAME: u8 = 5;
const ORG_SPECIFIC: u8 = 127;
/// IEEE 802.1's organisationally unique identifier.
const IEEE_802_1: [u8; 3] = [0x00, 0x80, 0xc2];

/// The TLVs of an LLDP frame's payload, in order, up to the End TLV.
pub fn tlvs(payload: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = payload;
    while rest.len() >= 2 {
        let header = u16::from_be_bytes([rest[0], rest[1]]);
        let kind = (header >> 9) as u8;
        let len = usize::from(header & 0x1ff);
        if kind == END || rest.len() < 2 + len {
            break;
        }
        out.push((kind, rest[2..2 + len].to_vec()));
        rest = &rest[2 + len..];
    }
    out
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A chassis or port id: a MAC address for the MAC subtype, an IPv4 address for the network
/// address subtype, else the text.
fn id(value: &[u8], mac_subtype: u8) -> String {
    let Some((&subtype, rest)) = value.split_first() else {
        return String::new();
    };
    if subtype == mac_subtype && rest.len() == 6 {
        return format_mac(rest);
    }
    if subtype == 5 && rest.len() == 5 && rest[0] == 1 {
        return format!("{}.{}.{}.{}", rest[1], rest[2], rest[3], rest[4]);
    }
    String::from_utf8_lossy(rest)
        .trim_end_matches('\0')
        .to_string()
}

/// What the TLVs say about the switch port.
pub fn parse(tlvs: &[(u8, Vec<u8>)]) -> ParsedLldp {
    let mut parsed = ParsedLldp::default();
    for (kind, value) in tlvs {
        match *kind {
            CHASSIS_ID => parsed.switch_chassis_id = id(value, 4),
            PORT_ID => parsed.switch_port_id = id(value, 3),
            SYSTEM_NAME => {
                parsed.switch_system_name = String::from_utf8_lossy(value).to_string();
            }
            ORG_SPECIFIC if value.len() >= 4 && value[..3] == IEEE_802_1 => {
                let body = &value[4..];
                match value[3] {
                    // Port VLAN ID: the untagged VLAN.
                    1 if body.len() >= 2 => {
                        let vid = u16::from_be_bytes([body[0], body[1]]);
                        parsed.switch_port_untagged_vlan_id = (vid != 0).then_some(vid);
                    }
                    // VLAN name: id, name length, name.
                    3 if body.len() >= 3 => {
                        let vid = u16::from_be_bytes([body[0], body[1]]);
                        let len = usize::from(body[2]);
                        let name = body.get(3..3 + len).unwrap_or_default();
                        parsed.switch_port_vlans.push(LldpVlan {
                            id: vid,
                            name: String::from_utf8_lossy(name).to_string(),
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    parsed
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
        let header = (u16::from(kind) << 9) | value.len() as u16;
        let mut out = header.to_be_bytes().to_vec();
        out.extend_from_slice(value);
        out
    }

    /// An LLDP frame's payload as a switch sends it.
    pub(crate) fn frame() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(tlv(1, &[4, 0x00, 0x1c, 0x73, 0xaa, 0xbb, 0xcc]));
        f.extend(tlv(2, b"\x05Ethernet12"));
        f.extend(tlv(3, &[0, 120]));
        f.extend(tlv(5, b"leaf-01"));
        f.extend(tlv(127, &[0x00, 0x80, 0xc2, 1, 0, 100]));
        f.extend(tlv(
            127,
            &[
                0x00, 0x80, 0xc2, 3, 0, 200, 7, b's', b't', b'o', b'r', b'a', b'g', b'e',
            ],
        ));
        f.extend(tlv(127, &[0x00, 0x12, 0x0f, 1, 3, 0x6c, 0x00, 0x00, 0x10]));
        f.extend(tlv(0, &[]));
        f.extend([0xde, 0xad]);
        f
    }

    #[test]
    fn a_switch_frame_decodes_to_its_port_and_vlans() {
        let tlvs = tlvs(&frame());
        assert_eq!(tlvs.len(), 7, "up to the End TLV: {tlvs:?}");
        assert_eq!(tlvs[0], (1, vec![4, 0x00, 0x1c, 0x73, 0xaa, 0xbb, 0xcc]));
        assert_eq!(hex(&tlvs[0].1), "04001c73aabbcc");
        let parsed = parse(&tlvs);
        assert_eq!(
            parsed,
            ParsedLldp {
                switch_chassis_id: "00:1c:73:aa:bb:cc".into(),
                switch_port_id: "Ethernet12".into(),
                switch_system_name: "leaf-01".into(),
                switch_port_vlans: vec![LldpVlan {
                    id: 200,
                    name: "storage".into()
                }],
                switch_port_untagged_vlan_id: Some(100),
            }
        );
    }

    #[test]
    fn truncated_and_odd_frames_do_not_panic() {
        assert!(tlvs(&[]).is_empty());
        assert!(tlvs(&[0x02]).is_empty());
        assert!(tlvs(&tlv(1, &[4, 1, 2])[..3]).is_empty(), "value cut short");
        let parsed = parse(&[
            (1, vec![]),
            (2, vec![3, 1, 2]),
            (127, vec![0x00, 0x80]),
            (127, vec![0x00, 0x80, 0xc2, 3, 0]),
        ]);
        assert_eq!(parsed.switch_chassis_id, "");
        assert_eq!(parsed.switch_port_id, "\u{1}\u{2}");
        assert!(parsed.switch_port_vlans.is_empty());
        let ip = parse(&[(1, vec![5, 1, 192, 0, 2, 7])]);
        assert_eq!(ip.switch_chassis_id, "192.0.2.7");
    }
}

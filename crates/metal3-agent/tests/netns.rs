//! The network code against a real kernel, in a network namespace the test creates (root
//! and `ip` needed): network data applied with netlink (static addresses and routes, DHCP on
//! a link matched by MAC) against a DHCP server the test runs on the other end of a veth
//! pair, `/etc/resolv.conf` written, and LLDP frames heard on a NIC. (VLANs and bonds need
//! the kernel's 8021q and bonding modules, which the machine running the tests may lack;
//! their plan is table-tested and applied by the same code.)
//!
//! Two namespaces: the host's (the agent's code runs there) and the switch's (the DHCP
//! server and the LLDP sender), joined by a veth pair. The test re-runs this binary inside
//! them (`ip netns exec`) for the halves that run there.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use metal3_agent::net::lldp::Neighbours;
use metal3_agent::net::netlink::Netlink;
use metal3_agent::net::{NetOptions, configure};
use serde_json::{Value, json};

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A network namespace, deleted when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn network_data_dhcp_and_lldp_in_a_network_namespace() {
    assert!(
        sh(&["id", "-u"]).trim() == "0",
        "this test creates a network namespace and needs root"
    );
    let host = Netns(format!("m3agent-host-{}", std::process::id()));
    let switch = Netns(format!("m3agent-switch-{}", std::process::id()));
    sh(&["ip", "netns", "add", &host.0]);
    sh(&["ip", "netns", "add", &switch.0]);
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("ip")
        .args(["netns", "exec", &host.0])
        .arg(exe)
        .args(["--exact", "in_the_namespace", "--ignored", "--nocapture"])
        .env("METAL3_NETNS_CHILD", "1")
        .env("METAL3_NETNS_SWITCH", &switch.0)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The DHCP server half, run in the switch's namespace until killed.
#[tokio::test]
#[ignore = "run by in_the_namespace in the switch's namespace"]
async fn dhcp_server_child() {
    if std::env::var_os("METAL3_NETNS_CHILD").is_some() {
        dhcp_server("sw0").await;
    }
}

/// Answers DISCOVER and REQUEST on `interface` as a DHCP server of 10.77.0.0/24 would.
async fn dhcp_server(interface: &str) {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
    socket.set_reuse_address(true).expect("reuse");
    socket.set_broadcast(true).expect("broadcast");
    socket
        .bind_device(Some(interface.as_bytes()))
        .expect("device");
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, 67)).into())
        .expect("bind 67");
    socket.set_nonblocking(true).expect("nonblocking");
    let socket = tokio::net::UdpSocket::from_std(socket.into()).expect("tokio");
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, _) = socket.recv_from(&mut buf).await.expect("recv");
        let Ok(req) = Message::decode(&mut Decoder::new(&buf[..n])) else {
            continue;
        };
        let kind = match req.opts().msg_type() {
            Some(MessageType::Discover) => MessageType::Offer,
            Some(MessageType::Request) => MessageType::Ack,
            _ => continue,
        };
        let mut msg = Message::new_with_id(
            req.xid(),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(10, 77, 0, 50),
            Ipv4Addr::new(10, 77, 0, 1),
            Ipv4Addr::UNSPECIFIED,
            &req.chaddr()[..6],
        );
        msg.set_opcode(Opcode::BootReply);
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
        opts.insert(DhcpOption::Router(vec![Ipv4Addr::new(10, 77, 0, 1)]));
        opts.insert(DhcpOption::DomainNameServer(vec![Ipv4Addr::new(
            10, 77, 0, 53,
        )]));
        opts.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 77, 0, 1)));
        opts.insert(DhcpOption::AddressLeaseTime(3600));
        let mut out = Vec::new();
        msg.encode(&mut Encoder::new(&mut out)).expect("encode");
        socket
            .send_to(&out, (Ipv4Addr::BROADCAST, 68))
            .await
            .expect("send");
    }
}

/// An LLDP frame from a switch, in hex.
fn lldp_frame_hex(src_mac: &str) -> String {
    let tlv = |kind: u8, value: &[u8]| {
        let header = (u16::from(kind) << 9) | value.len() as u16;
        let mut out = header.to_be_bytes().to_vec();
        out.extend_from_slice(value);
        out
    };
    let mut frame = vec![0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];
    frame.extend(metal3_agent::config::parse_mac(src_mac).expect("mac"));
    frame.extend([0x88, 0xcc]);
    frame.extend(tlv(1, &[4, 0x00, 0x1c, 0x73, 0xaa, 0xbb, 0xcc]));
    frame.extend(tlv(2, b"\x05Ethernet7"));
    frame.extend(tlv(3, &[0, 120]));
    frame.extend(tlv(5, b"leaf-07"));
    frame.extend(tlv(0, &[]));
    frame.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_of(args: &[&str]) -> Value {
    serde_json::from_str(&sh(args)).expect("ip -j")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by network_data_dhcp_and_lldp_in_a_network_namespace inside its namespace"]
async fn in_the_namespace() {
    if std::env::var_os("METAL3_NETNS_CHILD").is_none() {
        return;
    }
    // `ag0` is the host's NIC (down, no address); `sw0` the switch's port, with a DHCP
    // server behind it.
    let switch = std::env::var("METAL3_NETNS_SWITCH").expect("the switch's namespace");
    sh(&[
        "ip", "link", "add", "name", "ag0", "type", "veth", "peer", "name", "sw0", "netns", &switch,
    ]);
    sh(&[
        "ip",
        "-n",
        &switch,
        "addr",
        "add",
        "10.77.0.1/24",
        "dev",
        "sw0",
    ]);
    sh(&["ip", "-n", &switch, "link", "set", "sw0", "up"]);
    let _server = tokio::process::Command::new("ip")
        .args(["netns", "exec", &switch])
        .arg(std::env::current_exe().expect("test binary"))
        .args(["--exact", "dhcp_server_child", "--ignored"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("DHCP server");
    let mac = json_of(&["ip", "-j", "link", "show", "ag0"])[0]["address"]
        .as_str()
        .expect("mac")
        .to_string();
    let network_data = json!({
        "links": [{"id": "nic0", "type": "phy", "ethernet_mac_address": mac.to_uppercase(), "mtu": 1400}],
        "networks": [
            {"id": "lease", "type": "ipv4_dhcp", "link": "nic0"},
            {"id": "static", "type": "ipv4", "link": "nic0", "ip_address": "10.77.1.10",
             "netmask": "255.255.255.0",
             "routes": [{"network": "10.88.0.0", "netmask": "255.255.0.0", "gateway": "10.77.1.1"}]}
        ],
        "services": [{"type": "dns", "address": "10.77.0.54"}]
    });
    let dir = tempfile::tempdir().expect("dir");
    let mut opts = NetOptions::new("/sys");
    opts.resolv_conf = dir.path().join("resolv.conf");
    let nl = Netlink::connect().expect("netlink");
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        configure(&nl, Some(&network_data), &opts),
    )
    .await
    .expect("in time")
    .expect("configured");
    println!("{:?}", done.lines);

    let link = json_of(&["ip", "-j", "addr", "show", "ag0"]);
    assert_eq!(link[0]["mtu"], 1400);
    assert!(link[0]["flags"].to_string().contains("\"UP\""), "{link}");
    let addrs: Vec<String> = link[0]["addr_info"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
        .collect();
    assert!(addrs.contains(&"10.77.1.10/24".to_string()), "{addrs:?}");
    assert!(
        addrs.contains(&"10.77.0.50/24".to_string()),
        "by DHCP: {addrs:?}"
    );
    let routes = json_of(&["ip", "-j", "route", "show"]);
    let via = |dst: &str| {
        routes
            .as_array()
            .expect("routes")
            .iter()
            .find(|r| r["dst"] == dst)
            .map(|r| r["gateway"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(via("default").as_deref(), Some("10.77.0.1"), "{routes}");
    assert_eq!(
        via("10.88.0.0/16").as_deref(),
        Some("10.77.1.1"),
        "{routes}"
    );
    let resolv = std::fs::read_to_string(&opts.resolv_conf).expect("resolv.conf");
    assert!(
        resolv.contains("nameserver 10.77.0.54\nnameserver 10.77.0.53\n"),
        "{resolv}"
    );
    // Applying the same data again is fine (a retry after a failure does that).
    configure(&nl, Some(&network_data), &opts)
        .await
        .expect("again");

    // LLDP: a switch's frame arrives on `ag0`.
    let nics: Vec<_> = nl
        .interfaces()
        .await
        .expect("links")
        .into_iter()
        .filter(|i| i.name == "ag0")
        .collect();
    let neighbours = Neighbours::start(&nl, &nics).await.expect("listen");
    let frame = lldp_frame_hex("52:54:00:aa:bb:07");
    let send = format!(
        "import socket,binascii\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('sw0',0))\ns.send(binascii.unhexlify('{frame}'))\n"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let heard = loop {
        sh(&["ip", "netns", "exec", &switch, "python3", "-c", &send]);
        if let Some(f) = neighbours.frames().get("ag0").cloned() {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "no LLDP frame heard");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let parsed = metal3_agent::inventory::lldp::parse(&metal3_agent::inventory::lldp::tlvs(&heard));
    assert_eq!(parsed.switch_chassis_id, "00:1c:73:aa:bb:cc");
    assert_eq!(parsed.switch_port_id, "Ethernet7");
    assert_eq!(parsed.switch_system_name, "leaf-07");
    // Waiting for LLDP ends as soon as every NIC with a link heard a frame.
    tokio::time::timeout(
        Duration::from_secs(5),
        neighbours.listened(Duration::from_secs(60), &["ag0".to_string()]),
    )
    .await
    .expect("no wait once heard");
}

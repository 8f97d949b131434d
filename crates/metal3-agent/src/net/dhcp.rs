//! A small DHCPv4 client: DISCOVER, OFFER, REQUEST, ACK with retries, over a UDP socket
//! bound to one interface (`SO_BINDTODEVICE`) that sends and receives broadcasts, so it
//! works before the interface has an address. The messages are built and read by pure
//! functions ([`discover`], [`request`], [`read_reply`]); [`obtain`] and [`renew`] do the
//! talking.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

/// What a DHCP server leased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    /// The server that leased it.
    pub server: Ipv4Addr,
    /// Seconds the lease lasts.
    pub lease_secs: u32,
}

/// A server's answer to this client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Offer(Lease),
    Ack(Lease),
    Nak,
}

/// Why no lease was had.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("DHCP on {interface}: {source}")]
    Socket {
        interface: String,
        source: std::io::Error,
    },
    #[error("DHCP on {interface}: no answer after {attempts} tries")]
    NoAnswer { interface: String, attempts: u32 },
}

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

fn message(xid: u32, mac: [u8; 6], kind: MessageType) -> Message {
    let mut msg = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac,
    );
    // Ask for broadcast answers: the interface has no address to receive unicast on yet.
    msg.set_flags(Flags::default().set_broadcast());
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    let mut client_id = vec![1u8];
    client_id.extend_from_slice(&mac);
    opts.insert(DhcpOption::ClientIdentifier(client_id));
    opts.insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::DomainNameServer,
        OptionCode::DomainName,
        OptionCode::AddressLeaseTime,
    ]));
    msg
}

fn encode(msg: &Message) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(300);
    // Encoding into a Vec fails only on options too long for their length byte, and ours
    // are short.
    let _ = msg.encode(&mut Encoder::new(&mut bytes));
    bytes
}

/// A DHCPDISCOVER from `mac`.
pub fn discover(xid: u32, mac: [u8; 6]) -> Vec<u8> {
    encode(&message(xid, mac, MessageType::Discover))
}

/// A DHCPREQUEST for `lease`'s address from its server (`selecting`), or, renewing, for the
/// address the client has (`ciaddr` set, no server named).
pub fn request(xid: u32, mac: [u8; 6], lease: &Lease, renewing: bool) -> Vec<u8> {
    let mut msg = message(xid, mac, MessageType::Request);
    if renewing {
        msg.set_ciaddr(lease.address);
    } else {
        msg.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(lease.address));
        msg.opts_mut()
            .insert(DhcpOption::ServerIdentifier(lease.server));
    }
    encode(&msg)
}

/// The answer `bytes` holds, if it is a server's answer to transaction `xid` from `mac`.
pub fn read_reply(bytes: &[u8], xid: u32, mac: [u8; 6]) -> Option<Answer> {
    let msg = Message::decode(&mut Decoder::new(bytes)).ok()?;
    if msg.opcode() != Opcode::BootReply || msg.xid() != xid || msg.chaddr().get(..6)? != mac {
        return None;
    }
    let opts = msg.opts();
    let kind = opts.msg_type()?;
    if kind == MessageType::Nak {
        return Some(Answer::Nak);
    }
    let prefix = match opts.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(mask)) => {
            let bits = u32::from(*mask);
            let ones = bits.leading_ones();
            if bits.checked_shl(ones).unwrap_or(0) != 0 {
                return None;
            }
            ones as u8
        }
        _ => 24,
    };
    let lease = Lease {
        address: msg.yiaddr(),
        prefix,
        router: match opts.get(OptionCode::Router) {
            Some(DhcpOption::Router(routers)) => routers.first().copied(),
            _ => None,
        },
        dns: match opts.get(OptionCode::DomainNameServer) {
            Some(DhcpOption::DomainNameServer(servers)) => servers.clone(),
            _ => Vec::new(),
        },
        domain: match opts.get(OptionCode::DomainName) {
            Some(DhcpOption::DomainName(name)) => Some(name.clone()),
            _ => None,
        },
        server: match opts.get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(server)) => *server,
            _ => msg.siaddr(),
        },
        lease_secs: match opts.get(OptionCode::AddressLeaseTime) {
            Some(DhcpOption::AddressLeaseTime(secs)) => *secs,
            _ => 3600,
        },
    };
    if lease.address.is_unspecified() {
        return None;
    }
    match kind {
        MessageType::Offer => Some(Answer::Offer(lease)),
        MessageType::Ack => Some(Answer::Ack(lease)),
        _ => None,
    }
}

/// A UDP socket on port 68 of `interface` that may send and receive broadcasts.
fn client_socket(interface: &str) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(interface.as_bytes()))?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).into())?;
    socket.set_nonblocking(true)?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// How long to wait for an answer to try number `attempt` (from 0): 2, 4, 8, 8, … seconds.
pub fn wait_for(attempt: u32) -> Duration {
    Duration::from_secs(2u64 << attempt.min(2))
}

/// Sends `packet` and waits for an answer `accept` takes, resending with growing pauses.
async fn exchange(
    socket: &tokio::net::UdpSocket,
    packet: &[u8],
    attempts: u32,
    accept: impl Fn(&[u8]) -> Option<Answer>,
) -> Option<Answer> {
    let to = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);
    let mut buf = vec![0u8; 1500];
    for attempt in 0..attempts {
        if socket.send_to(packet, to).await.is_err() {
            tokio::time::sleep(wait_for(attempt)).await;
            continue;
        }
        let deadline = tokio::time::Instant::now() + wait_for(attempt);
        while let Ok(Ok((n, _))) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        {
            if let Some(answer) = accept(&buf[..n]) {
                return Some(answer);
            }
        }
    }
    None
}

/// Gets a lease for `interface` (up, with MAC `mac`): DISCOVER until an OFFER, then REQUEST
/// it until an ACK (a NAK starts over).
pub async fn obtain(interface: &str, mac: [u8; 6], attempts: u32) -> Result<Lease, DhcpError> {
    let socket = client_socket(interface).map_err(|source| DhcpError::Socket {
        interface: interface.to_string(),
        source,
    })?;
    let no_answer = || DhcpError::NoAnswer {
        interface: interface.to_string(),
        attempts,
    };
    for _ in 0..3 {
        let xid = fastrand::u32(..);
        let offer = exchange(&socket, &discover(xid, mac), attempts, |b| {
            read_reply(b, xid, mac).filter(|a| matches!(a, Answer::Offer(_)))
        })
        .await;
        let Some(Answer::Offer(offer)) = offer else {
            return Err(no_answer());
        };
        let answer = exchange(&socket, &request(xid, mac, &offer, false), attempts, |b| {
            read_reply(b, xid, mac).filter(|a| !matches!(a, Answer::Offer(_)))
        })
        .await;
        match answer {
            Some(Answer::Ack(lease)) => return Ok(lease),
            Some(Answer::Nak) => continue,
            _ => return Err(no_answer()),
        }
    }
    Err(no_answer())
}

/// Asks to extend `lease` on `interface`; the server's new lease, or none when it said no or
/// did not answer.
pub async fn renew(interface: &str, mac: [u8; 6], lease: &Lease) -> Option<Lease> {
    let socket = client_socket(interface).ok()?;
    let xid = fastrand::u32(..);
    match exchange(&socket, &request(xid, mac, lease, true), 3, |b| {
        read_reply(b, xid, mac)
    })
    .await?
    {
        Answer::Ack(lease) => Some(lease),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    /// A server's answer to `request`, as qemu's user networking writes it.
    fn answer(request: &[u8], kind: MessageType, xid_delta: u32) -> Vec<u8> {
        let req = Message::decode(&mut Decoder::new(request)).expect("request");
        let mut msg = Message::new_with_id(
            req.xid() + xid_delta,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(10, 0, 2, 15),
            Ipv4Addr::new(10, 0, 2, 2),
            Ipv4Addr::UNSPECIFIED,
            req.chaddr(),
        );
        msg.set_opcode(Opcode::BootReply);
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
        opts.insert(DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 2, 2)]));
        opts.insert(DhcpOption::DomainNameServer(vec![Ipv4Addr::new(
            10, 0, 2, 3,
        )]));
        opts.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 2, 2)));
        opts.insert(DhcpOption::AddressLeaseTime(86400));
        encode(&msg)
    }

    #[test]
    fn a_discover_asks_for_broadcast_answers_and_what_the_agent_needs() {
        let bytes = discover(7, MAC);
        let msg = Message::decode(&mut Decoder::new(&bytes)).expect("decode");
        assert_eq!(msg.opcode(), Opcode::BootRequest);
        assert_eq!(msg.xid(), 7);
        assert!(msg.flags().broadcast());
        assert_eq!(&msg.chaddr()[..6], &MAC);
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Discover));
        let Some(DhcpOption::ParameterRequestList(asked)) =
            msg.opts().get(OptionCode::ParameterRequestList)
        else {
            panic!("no parameter request list");
        };
        assert!(asked.contains(&OptionCode::Router));
        assert!(asked.contains(&OptionCode::DomainNameServer));
    }

    #[test]
    fn an_offer_becomes_a_lease_and_a_request_for_it() {
        let offer = answer(&discover(9, MAC), MessageType::Offer, 0);
        let Some(Answer::Offer(lease)) = read_reply(&offer, 9, MAC) else {
            panic!("not an offer");
        };
        assert_eq!(
            lease,
            Lease {
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix: 24,
                router: Some(Ipv4Addr::new(10, 0, 2, 2)),
                dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
                domain: None,
                server: Ipv4Addr::new(10, 0, 2, 2),
                lease_secs: 86400,
            }
        );
        let req =
            Message::decode(&mut Decoder::new(&request(9, MAC, &lease, false))).expect("request");
        assert_eq!(req.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(
            req.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(lease.address))
        );
        assert_eq!(
            req.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(lease.server))
        );
        let renewal =
            Message::decode(&mut Decoder::new(&request(10, MAC, &lease, true))).expect("renewal");
        assert_eq!(renewal.ciaddr(), lease.address);
        assert!(renewal.opts().get(OptionCode::ServerIdentifier).is_none());

        let ack = answer(&request(9, MAC, &lease, false), MessageType::Ack, 0);
        assert_eq!(read_reply(&ack, 9, MAC), Some(Answer::Ack(lease)));
        let nak = answer(
            &request(
                9,
                MAC,
                &Lease {
                    address: Ipv4Addr::new(10, 0, 2, 15),
                    ..lease_stub()
                },
                false,
            ),
            MessageType::Nak,
            0,
        );
        assert_eq!(read_reply(&nak, 9, MAC), Some(Answer::Nak));
    }

    fn lease_stub() -> Lease {
        Lease {
            address: Ipv4Addr::UNSPECIFIED,
            prefix: 24,
            router: None,
            dns: Vec::new(),
            domain: None,
            server: Ipv4Addr::new(10, 0, 2, 2),
            lease_secs: 0,
        }
    }

    #[test]
    fn answers_to_others_are_ignored() {
        let offer = answer(&discover(9, MAC), MessageType::Offer, 1);
        assert_eq!(read_reply(&offer, 9, MAC), None, "another transaction");
        let other_mac = [0x52, 0x54, 0, 0, 0, 9];
        let theirs = answer(&discover(9, other_mac), MessageType::Offer, 0);
        assert_eq!(read_reply(&theirs, 9, MAC), None, "another client");
        assert_eq!(
            read_reply(&discover(9, MAC), 9, MAC),
            None,
            "a request, not a reply"
        );
        assert_eq!(read_reply(b"garbage", 9, MAC), None);
    }

    #[test]
    fn retries_wait_longer_up_to_eight_seconds() {
        let waits: Vec<u64> = (0..5).map(|a| wait_for(a).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 8, 8]);
    }
}

//! Listens for LLDP frames (switches announcing themselves and the port a NIC is plugged
//! into) on every NIC, for as long as the agent runs, and keeps the latest frame per NIC for
//! the inventory. One `AF_PACKET` socket for the LLDP ethertype; the NICs receive multicast
//! for it (all-multicast on).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{LinkAddr, recvfrom};

use super::netlink::{Interface, Netlink};

/// The LLDP ethertype.
const ETH_P_LLDP: u16 = 0x88cc;

/// The latest LLDP frame (its payload: the TLVs) seen on each NIC, by NIC name.
#[derive(Clone, Default)]
pub struct Neighbours {
    frames: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    started: Option<Instant>,
    /// The NICs listened on.
    nics: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Neighbours {
    /// What was heard so far.
    pub fn frames(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.frames).clone()
    }

    /// Waits until a frame was heard on every NIC of `with_link` (the NICs that have a link
    /// now) or the listener has listened for `window`, whichever comes first (at once when
    /// it never started). Switches announce themselves every 30 s or so.
    pub async fn listened(&self, window: Duration, with_link: &[String]) {
        let Some(started) = self.started else {
            return;
        };
        let expected: Vec<&String> = with_link.iter().filter(|n| self.nics.contains(n)).collect();
        while started.elapsed() < window {
            let all_heard = {
                let heard = lock(&self.frames);
                expected.iter().all(|n| heard.contains_key(*n))
            };
            if all_heard {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Listens on `nics` from now on, in a thread; says why when it cannot.
    pub async fn start(nl: &Netlink, nics: &[Interface]) -> std::io::Result<Self> {
        let socket = packet_socket()?;
        for nic in nics {
            // A NIC that refuses keeps hearing only frames addressed to it.
            let _ = nl.allmulticast(nic.index, true).await;
        }
        let names: BTreeMap<usize, String> = nics
            .iter()
            .map(|n| (n.index as usize, n.name.clone()))
            .collect();
        let neighbours = Self {
            frames: Arc::default(),
            started: Some(Instant::now()),
            nics: nics.iter().map(|n| n.name.clone()).collect(),
        };
        let frames = neighbours.frames.clone();
        // A thread of its own, blocked in recvfrom: frames come every 30 s or so.
        std::thread::Builder::new()
            .name("lldp".into())
            .spawn(move || {
                let mut buf = vec![0u8; 1600];
                loop {
                    match recvfrom::<LinkAddr>(socket.as_raw_fd(), &mut buf) {
                        Ok((n, Some(from))) => {
                            if let Some(name) = names.get(&from.ifindex()) {
                                lock(&frames).insert(name.clone(), buf[..n].to_vec());
                            }
                        }
                        Ok((_, None)) | Err(nix::errno::Errno::EINTR) => {}
                        Err(_) => return,
                    }
                }
            })?;
        Ok(neighbours)
    }
}

/// A (blocking) packet socket receiving the payload of LLDP frames on every interface.
fn packet_socket() -> std::io::Result<OwnedFd> {
    use socket2::{Domain, Protocol, Socket, Type};
    let protocol = Protocol::from(i32::from(ETH_P_LLDP.to_be()));
    let socket = Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol))?;
    Ok(OwnedFd::from(socket))
}

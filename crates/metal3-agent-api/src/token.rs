//! Per-host tokens: an HMAC-SHA256 of the host's UID and boot MAC under the operator's key.
//!
//! Every host gets its own token without the operator storing one per host; a token opens
//! only its host; a new key (kept in one Secret) invalidates every token at once.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of key the operator generates.
pub const KEY_BYTES: usize = 32;

fn mac(key: &[u8], uid: &str, boot_mac: &str) -> HmacSha256 {
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(b"metal3-agent/v1\0");
    mac.update(uid.as_bytes());
    mac.update(b"\0");
    mac.update(boot_mac.to_ascii_lowercase().as_bytes());
    mac
}

/// The token of the host with `uid` and boot MAC `boot_mac` (any case), URL-safe base64.
pub fn token(key: &[u8], uid: &str, boot_mac: &str) -> String {
    let bytes = mac(key, uid, boot_mac).finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `presented` is that host's token, compared in constant time.
pub fn verify(key: &[u8], uid: &str, boot_mac: &str, presented: &str) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(presented) else {
        return false;
    };
    mac(key, uid, boot_mac).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_its_host_only() {
        let key = [7u8; KEY_BYTES];
        let t = token(&key, "uid-1", "52:54:00:00:00:01");
        assert!(verify(&key, "uid-1", "52:54:00:00:00:01", &t));
        assert!(
            verify(
                &key,
                "uid-1",
                "52:54:00:00:00:01".to_uppercase().as_str(),
                &t
            ),
            "MACs compare in any case"
        );
        assert!(
            !verify(&key, "uid-2", "52:54:00:00:00:01", &t),
            "another host"
        );
        assert!(
            !verify(&key, "uid-1", "52:54:00:00:00:02", &t),
            "another NIC"
        );
        assert!(
            !verify(&[8u8; KEY_BYTES], "uid-1", "52:54:00:00:00:01", &t),
            "another key"
        );
        assert!(!verify(&key, "uid-1", "52:54:00:00:00:01", "not base64!"));
        assert!(!verify(&key, "uid-1", "52:54:00:00:00:01", ""));
        assert_eq!(t.len(), 43, "256 bits, unpadded base64");
        assert_ne!(t, token(&key, "uid-2", "52:54:00:00:00:01"));
    }
}

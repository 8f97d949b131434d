//! Limits on what a BMC may send back: a bounded body read (a BMC that streams without end is
//! cut off at a size, never buffered whole) and the redirect policy (none followed).
//!
//! Redirects: a Redfish service answers its resources where they are (DSP0266 uses no
//! redirects for them), so a `3xx` means the address is wrong or the BMC is hostile. Following
//! one would send the session token (`X-Auth-Token`, which reqwest does not strip across
//! hosts), the basic credentials of a same-host hop, or the login body (a `307`/`308` resends
//! the password) wherever the BMC points. None is followed; the answer becomes an error that
//! names where the BMC pointed, so the address can be corrected once.
//!
//! Time: the client's `timeout` is reqwest's total deadline, from connecting until the last
//! byte of the body, so a BMC trickling a byte at a time cannot stretch a request past it.

use reqwest::Response;

/// The redirect policy of every client: none followed (see the module's notes).
pub(crate) fn redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::none()
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The body is longer than the limit (declared or as it came).
    TooLarge,
    /// The connection failed or the deadline passed while reading.
    Transport(reqwest::Error),
}

/// Reads `response`'s body, at most `limit` bytes: a declared `Content-Length` over the limit
/// is refused before reading, and a body without one is cut off once it passes the limit.
pub(crate) async fn read_body(mut response: Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if !fits(body.len(), chunk.len(), limit) {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether `more` bytes fit after `held` within `limit`.
fn fits(held: usize, more: usize, limit: usize) -> bool {
    held.checked_add(more).is_some_and(|total| total <= limit)
}

/// At most `max` characters of what a BMC sent (a `Location`, say), for an error message.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_fits_up_to_the_limit_exactly() {
        assert!(fits(0, 10, 10));
        assert!(fits(6, 4, 10));
        assert!(!fits(6, 5, 10));
        assert!(!fits(usize::MAX, 1, usize::MAX));
    }

    #[test]
    fn long_text_is_clipped_on_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 2), "éé…");
        assert_eq!(clip("", 0), "");
    }
}

//! Fetching over HTTP(S): the client the agent uses, the image response (status checked,
//! streamed by the caller), checksums files (bounded), and URLs as they may be shown.

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode, Url};

use crate::error::DeployError;

/// The largest checksums file read.
const MAX_CHECKSUMS_FILE: usize = 1 << 20;

/// The agent's HTTP client: rustls with the web PKI roots, bounded connect and read waits.
pub fn client() -> Result<Client, DeployError> {
    Client::builder()
        .user_agent(concat!("metal3-agent/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| DeployError::Internal(format!("HTTP client: {}", cause(&e))))
}

/// `url` for messages: without user info, query or fragment (they may carry credentials).
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<an unparsable URL>".to_string(),
    }
}

/// Whether `s` is an http(s) URL.
pub fn is_http_url(s: &str) -> bool {
    Url::parse(s.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// The last path segment of `url`: the name a checksums file lists the image under.
pub fn file_name(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_string))
        })
        .unwrap_or_default()
}

/// What went wrong, from the error's chain, without its URL.
pub fn cause(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let top = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        String::new()
    };
    if !top.is_empty() {
        parts.push(top);
    }
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) && !text.contains("://") {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.without_url_string());
    }
    parts.join(": ")
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), &redact(url.as_str()));
        }
        text
    }
}

/// `GET url`, its status checked.
pub async fn get(client: &Client, url: &str) -> Result<Response, DeployError> {
    if !is_http_url(url) {
        return Err(DeployError::BadUrl { url: redact(url) });
    }
    let response = client
        .get(url.trim())
        .send()
        .await
        .map_err(|e| DeployError::Unreachable {
            url: redact(url),
            cause: cause(&e),
        })?;
    match response.status() {
        s if s.is_success() => Ok(response),
        StatusCode::NOT_FOUND => Err(DeployError::NotFound { url: redact(url) }),
        s => Err(DeployError::Status {
            url: redact(url),
            status: s.as_u16(),
        }),
    }
}

/// The text of a checksums file (at most 1 MiB).
pub async fn checksums_file(client: &Client, url: &str) -> Result<String, DeployError> {
    let mut response = get(client, url).await?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| DeployError::Download {
        url: redact(url),
        bytes: body.len() as u64,
        cause: cause(&e),
    })? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_CHECKSUMS_FILE {
            return Err(DeployError::ChecksumFileTooLarge { url: redact(url) });
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redact("https://user:secret@images.example.com/a/b.qcow2?token=abc#x"),
            "https://images.example.com/a/b.qcow2"
        );
        assert_eq!(redact("not a url"), "<an unparsable URL>");
        assert!(is_http_url("http://10.0.2.2:8080/x"));
        assert!(!is_http_url("ftp://host/x"));
        assert!(!is_http_url("file:///etc/passwd"));
        assert_eq!(file_name("http://h/images/focal.img?x=1"), "focal.img");
        assert_eq!(file_name("http://h/"), "");
    }
}

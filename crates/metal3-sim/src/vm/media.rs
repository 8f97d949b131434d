//! Images a BMC fetches for its server, as real BMCs do: virtual media and UEFI HTTP boot
//! images are downloaded from the URL a client gave into the server's own cache, then handed
//! to qemu as a CD.
//!
//! Limits, so that a hostile or broken image server cannot hold a server's insert forever or
//! fill the disk: an image is at most [`Limits::max_bytes`], the whole download must finish
//! within [`Limits::deadline`] (a server trickling a byte at a time cannot stretch it) and a
//! read waiting longer than [`Limits::stall`] fails at once. Redirects are followed as real
//! BMCs do (image servers hand out mirrors); the fetch carries no credentials to leak.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

/// What a download may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest image accepted, in bytes.
    pub max_bytes: u64,
    /// Time for the whole download, from connecting to the last byte.
    pub deadline: Duration,
    /// Longest wait for the next bytes.
    pub stall: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Above any live ISO or disk image the VM tests boot.
            max_bytes: 16 << 30,
            deadline: Duration::from_secs(30 * 60),
            stall: Duration::from_secs(60),
        }
    }
}

/// Downloads `url` to `dir/<name>` (through a temporary file, so a failed download leaves
/// nothing half-written) and returns the file. `http`, `https` (any certificate, as BMCs
/// configured for lab use accept) and, for local tests, `file` URLs.
pub async fn fetch(url: &str, dir: &Path, name: &str) -> Result<PathBuf, String> {
    fetch_within(url, dir, name, Limits::default()).await
}

/// [`fetch`] within these `limits`.
pub async fn fetch_within(
    url: &str,
    dir: &Path,
    name: &str,
    limits: Limits,
) -> Result<PathBuf, String> {
    let target = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    let result = match url.split_once("://") {
        Some(("file", path)) => tokio::fs::copy(path, &partial)
            .await
            .map(drop)
            .map_err(|e| format!("cannot read {url}: {e}")),
        Some(("http" | "https", _)) => download(url, &partial, limits).await,
        _ => Err(format!(
            "cannot fetch {url:?}: the BMC fetches http://, https:// or file:// URLs"
        )),
    };
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(e);
    }
    tokio::fs::rename(&partial, &target)
        .await
        .map_err(|e| format!("cannot store {}: {e}", target.display()))?;
    Ok(target)
}

async fn download(url: &str, to: &Path, limits: Limits) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        // An address this machine cannot reach fails the insert soon, as a BMC's does.
        .connect_timeout(Duration::from_secs(15))
        .timeout(limits.deadline)
        .read_timeout(limits.stall)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(url, &e, limits))?;
    if !response.status().is_success() {
        return Err(format!("cannot fetch {url}: HTTP {}", response.status()));
    }
    let too_large = || {
        format!(
            "cannot fetch {url}: the image is over {} bytes, the most a BMC here takes",
            limits.max_bytes
        )
    };
    if response
        .content_length()
        .is_some_and(|n| n > limits.max_bytes)
    {
        return Err(too_large());
    }
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let mut body = response.bytes_stream();
    let mut written: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| failed(url, &e, limits))?;
        written = written.saturating_add(chunk.len() as u64);
        if written > limits.max_bytes {
            return Err(too_large());
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", to.display()))
}

/// A transport failure, saying which limit cut it off when one did.
fn failed(url: &str, e: &reqwest::Error, limits: Limits) -> String {
    if e.is_timeout() {
        format!(
            "cannot fetch {url}: not done within {:?} (or no data for {:?})",
            limits.deadline, limits.stall
        )
    } else {
        format!("cannot fetch {url}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_urls_are_copied_and_unknown_schemes_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("source.iso");
        std::fs::write(&source, b"ISO").expect("write");
        let got = fetch(
            &format!("file://{}", source.display()),
            dir.path(),
            "cd0.img",
        )
        .await
        .expect("fetch");
        assert_eq!(std::fs::read(got).expect("read"), b"ISO");
        let err = fetch("ftp://x/y.iso", dir.path(), "cd0.img")
            .await
            .expect_err("ftp");
        assert!(err.contains("http://"), "{err}");
        let err = fetch("file:///nonexistent/x.iso", dir.path(), "usb0.img")
            .await
            .expect_err("missing");
        assert!(err.contains("/nonexistent/x.iso"), "{err}");
        assert!(!dir.path().join(".usb0.img.partial").exists());
    }

    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }

    fn body(chunk: &'static [u8], every: Option<Duration>) -> axum::body::Body {
        let stream = futures::stream::unfold((), move |()| async move {
            if let Some(pause) = every {
                tokio::time::sleep(pause).await;
            }
            Some((
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from_static(chunk)),
                (),
            ))
        });
        axum::body::Body::from_stream(stream)
    }

    #[tokio::test]
    async fn hostile_image_servers_are_cut_off_by_the_limits() {
        use axum::routing::get;
        static CHUNK: [u8; 64 << 10] = [0; 64 << 10];
        let base = serve(
            axum::Router::new()
                .route("/endless.iso", get(|| async { body(&CHUNK, None) }))
                .route(
                    "/trickle.iso",
                    get(|| async { body(b"x", Some(Duration::from_millis(100))) }),
                ),
        )
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = Limits {
            max_bytes: 1 << 20,
            deadline: Duration::from_secs(1),
            stall: Duration::from_secs(1),
        };
        let guard = Duration::from_secs(20);
        let url = format!("{base}/endless.iso");
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(guard, fetch_within(&url, dir.path(), "cd0.img", limits))
            .await
            .expect("cut off before the guard")
            .expect_err("an endless image is refused");
        assert!(err.contains(&url) && err.contains("1048576"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(!dir.path().join(".cd0.img.partial").exists());
        assert!(!dir.path().join("cd0.img").exists());

        let url = format!("{base}/trickle.iso");
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(guard, fetch_within(&url, dir.path(), "cd0.img", limits))
            .await
            .expect("cut off before the guard")
            .expect_err("a trickle is cut off");
        let took = started.elapsed();
        assert!(
            err.contains(&url) && err.contains("not done within 1s"),
            "{err}"
        );
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "took {took:?}"
        );
        assert!(!dir.path().join(".cd0.img.partial").exists());
    }
}

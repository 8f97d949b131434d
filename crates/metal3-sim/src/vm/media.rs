//! Images a BMC fetches for its server, as real BMCs do: virtual media and UEFI HTTP boot
//! images are downloaded from the URL a client gave into the server's own cache, then handed
//! to qemu as a CD.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

/// Downloads `url` to `dir/<name>` (through a temporary file, so a failed download leaves
/// nothing half-written) and returns the file. `http`, `https` (any certificate, as BMCs
/// configured for lab use accept) and, for local tests, `file` URLs.
pub async fn fetch(url: &str, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let target = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    let result = match url.split_once("://") {
        Some(("file", path)) => tokio::fs::copy(path, &partial)
            .await
            .map(drop)
            .map_err(|e| format!("cannot read {url}: {e}")),
        Some(("http" | "https", _)) => download(url, &partial).await,
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

async fn download(url: &str, to: &Path) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        // An address this machine cannot reach fails the insert soon, as a BMC's does.
        .connect_timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("cannot fetch {url}: HTTP {}", response.status()));
    }
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("fetching {url}: {e}"))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", to.display()))
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
}

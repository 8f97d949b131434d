//! A VM's serial console, as qemu writes it to a file (appended across power cycles and
//! simulator restarts): read whole, or followed as it grows.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Bytes;
use futures::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// How often a followed console looks for new output.
const POLL: Duration = Duration::from_millis(200);

/// The console so far (empty before the first power-on).
pub async fn read(path: &PathBuf) -> Vec<u8> {
    tokio::fs::read(path).await.unwrap_or_default()
}

/// The console from its start, then whatever the VM prints next, until the reader goes away.
pub fn follow(path: PathBuf) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold((path, 0u64), |(path, offset)| async move {
        loop {
            match read_from(&path, offset).await {
                Ok(chunk) if !chunk.is_empty() => {
                    let next = offset + chunk.len() as u64;
                    return Some((Ok(Bytes::from(chunk)), (path, next)));
                }
                // Nothing new yet (or no file yet): a tail -f waits for more.
                Ok(_) | Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    })
}

async fn read_from(path: &PathBuf, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    if len <= offset {
        return Ok(Vec::new());
    }
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut buf = Vec::with_capacity((len - offset).min(1 << 20) as usize);
    file.take(1 << 20).read_to_end(&mut buf).await?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn a_followed_console_yields_what_is_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        assert!(read(&path).await.is_empty());
        std::fs::write(&path, b"first\n").expect("write");
        let mut stream = Box::pin(follow(path.clone()));
        let first = stream.next().await.expect("chunk").expect("read");
        assert_eq!(&first[..], b"first\n");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut file, b"second\n").expect("append");
        let second = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("in time")
            .expect("chunk")
            .expect("read");
        assert_eq!(&second[..], b"second\n");
        assert_eq!(read(&path).await, b"first\nsecond\n");
    }
}

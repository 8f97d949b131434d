//! The input side of the writer: the downloaded bytes as a reader (hashed on a thread of
//! its own as they pass), and zstd decoded frame after frame.

use std::io::{self, BufRead, BufReader, Read};

use bytes::Bytes;
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};
use tokio::sync::mpsc;

use super::{Chunk, reader_error};
use crate::checksum::{Algorithm, Hasher};
use crate::error::DeployError;

/// A digest computed on a thread of its own, so hashing overlaps writing.
pub(super) struct HashThread {
    tx: Option<std::sync::mpsc::SyncSender<Bytes>>,
    handle: Option<std::thread::JoinHandle<String>>,
}

impl HashThread {
    pub(super) fn start(algorithm: Algorithm) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(64);
        let handle = std::thread::spawn(move || {
            let mut hasher = Hasher::new(algorithm);
            while let Ok(chunk) = rx.recv() {
                hasher.update(&chunk);
            }
            hasher.finish_hex()
        });
        HashThread {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Hands a chunk (shared, not copied) to the hashing thread.
    fn update(&self, chunk: &Bytes) {
        if let Some(tx) = &self.tx {
            // The thread only stops when `finish` drops the sender.
            let _ = tx.send(chunk.clone());
        }
    }

    /// The digest of every chunk handed over, in hex.
    pub(super) fn finish(mut self) -> Result<String, DeployError> {
        drop(self.tx.take());
        self.handle
            .take()
            .map(|h| h.join())
            .transpose()
            .map_err(|_| DeployError::Internal("the checksum thread failed".into()))?
            .ok_or_else(|| DeployError::Internal("no checksum thread".into()))
    }
}

/// The downloaded bytes as a reader, hashed (on another thread) as they pass.
pub(super) struct ChannelReader {
    pub(super) rx: mpsc::Receiver<Chunk>,
    pub(super) current: Bytes,
    pub(super) hasher: Option<HashThread>,
    /// Why the download stopped, once it did.
    pub(super) failure: Option<DeployError>,
}

impl ChannelReader {
    /// Reads (and hashes) whatever is left.
    pub(super) fn drain(&mut self) -> Result<(), DeployError> {
        io::copy(self, &mut io::sink()).map_err(|e| reader_error(self, e))?;
        Ok(())
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.failure.is_some() {
                return Err(io::Error::other("the download failed"));
            }
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    if let Some(h) = &mut self.hasher {
                        h.update(&chunk);
                    }
                    self.current = chunk;
                }
                Some(Err(e)) => {
                    self.failure = Some(e);
                    return Err(io::Error::other("the download failed"));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Zstandard, frame after frame (as `pzstd` and `zstd -T` write).
pub(super) struct ZstdFrames<R: Read> {
    frame: Option<StreamingDecoder<BufReader<R>, FrameDecoder>>,
}

impl<R: Read> ZstdFrames<R> {
    pub(super) fn new(source: R) -> io::Result<Self> {
        let frame = StreamingDecoder::new(BufReader::with_capacity(1 << 20, source))
            .map_err(io::Error::other)?;
        Ok(ZstdFrames { frame: Some(frame) })
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(frame) = &mut self.frame else {
                return Ok(0);
            };
            let n = frame.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let Some((mut source, decoder)) = self.frame.take().map(StreamingDecoder::into_parts)
            else {
                return Ok(0);
            };
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.frame = Some(
                StreamingDecoder::new_with_decoder(source, decoder).map_err(io::Error::other)?,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(chunks: Vec<Chunk>, algorithm: Option<Algorithm>) -> ChannelReader {
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for c in chunks {
            tx.try_send(c).expect("send");
        }
        ChannelReader {
            rx,
            current: Bytes::new(),
            hasher: algorithm.map(HashThread::start),
            failure: None,
        }
    }

    #[test]
    fn reads_and_hashes_every_chunk() {
        let mut r = reader(
            vec![Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"c"))],
            Some(Algorithm::Md5),
        );
        let mut first = [0u8; 1];
        r.read_exact(&mut first).expect("read");
        assert_eq!(&first, b"a");
        r.drain().expect("drain");
        let digest = r.hasher.take().expect("hasher").finish().expect("digest");
        assert_eq!(digest, "900150983cd24fb0d6963f7d28e17f72", "md5 of abc");
    }

    #[test]
    fn a_failed_download_stops_the_reader() {
        let broken = DeployError::Internal("cut".into());
        let mut r = reader(vec![Ok(Bytes::from_static(b"ab")), Err(broken)], None);
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert_eq!(out, b"ab");
        assert!(matches!(r.failure.take(), Some(DeployError::Internal(m)) if m == "cut"));
    }

    #[test]
    fn zstd_frame_after_frame() {
        use ruzstd::encoding::{CompressionLevel, compress_to_vec};
        let mut two = compress_to_vec(&b"first frame, "[..], CompressionLevel::Fastest);
        two.extend(compress_to_vec(
            &b"second frame"[..],
            CompressionLevel::Fastest,
        ));
        let mut out = String::new();
        ZstdFrames::new(&two[..])
            .expect("zstd")
            .read_to_string(&mut out)
            .expect("decode");
        assert_eq!(out, "first frame, second frame");
        assert!(ZstdFrames::new(&b"not zstd"[..]).is_err());
    }
}

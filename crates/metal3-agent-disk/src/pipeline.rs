//! The writing side of a deploy, on a thread of its own: the downloaded bytes arrive over a
//! channel, are hashed as they pass, decompressed (gzip, xz, zstd) and written raw or
//! converted from qcow2; then the checksum is checked, the disk synced and the config drive
//! added. Any failure after the first write wipes what was written.

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use metal3_agent_api::{ConfigDrive, DeployResult, ImageFormat};
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};
use tokio::sync::mpsc;

use crate::checksum::{Algorithm, Expected, Hasher};
use crate::clean;
use crate::configdrive;
use crate::error::DeployError;
use crate::format::{Kind, SNIFF_LEN, sniff};
use crate::progress::{Counters, Step};
use crate::qcow2::Qcow2Stream;
use crate::qcow2::stream::FeedError;
use crate::sink::{DiskWriter, SinkError, WRITE_BUFFER};

/// What the writer needs to know.
pub struct Job {
    pub format: ImageFormat,
    pub expected: Option<Expected>,
    /// The download's length, when the server says it.
    pub content_length: Option<u64>,
    pub config_drive: Option<ConfigDrive>,
    /// The disk's name for messages and results, e.g. `/dev/vda`.
    pub disk_name: String,
    pub disk_path: PathBuf,
    pub disk_size: u64,
    /// The image URL as it may be shown.
    pub url: String,
    pub counters: Arc<Counters>,
    /// Bytes of qcow2 clusters kept while their table is still ahead.
    pub orphan_limit: usize,
}

/// What the download side sends: the image's bytes in order, or why they stopped.
pub type Chunk = Result<Bytes, DeployError>;

/// Writes the image arriving on `rx` to the job's disk.
pub fn run(job: Job, rx: mpsc::Receiver<Chunk>) -> Result<DeployResult, DeployError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&job.disk_path)
        .map_err(|cause| DeployError::Disk {
            disk: job.disk_name.clone(),
            cause,
        })?;
    let mut writer = DiskWriter::new(file, job.disk_size, job.counters.settled.clone());
    let mut reader = ChannelReader {
        rx,
        current: Bytes::new(),
        hasher: job.expected.as_ref().map(|e| HashThread::start(e.algorithm)),
        failure: None,
    };
    let result = write_all(&job, &mut reader, &mut writer);
    match result {
        Ok(r) => Ok(r),
        Err(error) if writer.touched() => {
            job.counters.set_step(Step::Wiping);
            let end = writer.end();
            let wipe = writer
                .flush()
                .and_then(|()| wipe_after_failure(writer.file(), job.disk_size, end));
            match wipe {
                Ok(()) => Err(DeployError::Wiped(Box::new(error))),
                Err(e) => Err(DeployError::WipeFailed {
                    error: Box::new(error),
                    wipe: e.to_string(),
                }),
            }
        }
        Err(error) => Err(error),
    }
}

/// Erases what a failed write left: the disk's metadata (tables, both ends, partitions the
/// half-written table names) and the MiB before where the write reached (an image's backup
/// GPT).
fn wipe_after_failure(file: &std::fs::File, size: u64, end: u64) -> io::Result<()> {
    const MIB: u64 = 1 << 20;
    clean::erase(file, size)?;
    let from = end.saturating_sub(MIB);
    crate::sink::zero_range(file, from, end - from)?;
    file.sync_all()
}

fn write_all(job: &Job, reader: &mut ChannelReader, writer: &mut DiskWriter) -> Result<DeployResult, DeployError> {
    let written = {
        let result = write_image(job, reader, writer);
        // A broken download explains whatever the decoders made of it.
        if let Some(failure) = reader.failure.take() {
            return Err(failure);
        }
        result?
    };
    // The checksum covers every byte served, also any after the image's end.
    reader.drain()?;
    if let Some(failure) = reader.failure.take() {
        return Err(failure);
    }
    let checksum = match (&job.expected, reader.hasher.take()) {
        (Some(expected), Some(hasher)) => {
            let actual = hasher.finish()?;
            if actual != expected.hex {
                return Err(DeployError::Mismatch {
                    algorithm: expected.algorithm.name(),
                    expected: expected.hex.clone(),
                    actual,
                });
            }
            format!("{}:{actual}", expected.algorithm.name())
        }
        _ => String::new(),
    };
    job.counters.set_step(Step::Syncing);
    writer.sync().map_err(|cause| disk_error(job, cause))?;
    if let Some(drive) = &job.config_drive {
        job.counters.set_step(Step::ConfigDrive);
        configdrive::write(writer.file(), job.disk_size, writer.end(), drive)?;
    }
    Ok(DeployResult {
        root_device: job.disk_name.clone(),
        bytes_written: written,
        checksum,
        config_drive: job.config_drive.is_some(),
    })
}

fn disk_error(job: &Job, cause: io::Error) -> DeployError {
    DeployError::Disk {
        disk: job.disk_name.clone(),
        cause,
    }
}

/// Decompresses as the leading bytes say and hands the image to a [`Sink`]; returns the
/// bytes the image settled on the disk.
fn write_image(job: &Job, reader: &mut ChannelReader, writer: &mut DiskWriter) -> Result<u64, DeployError> {
    let head = read_head(reader, SNIFF_LEN).map_err(|e| reader_error(reader, e))?;
    let outer = sniff(&head);
    let source = Cursor::new(head).chain(&mut *reader);
    let mut sink = Sink::new(job, writer, outer.is_compression());
    let decompress = |e: io::Error| DeployError::Decompress {
        what: outer.name(),
        cause: e.to_string(),
    };
    match outer {
        Kind::Gzip => pump(flate2::read::MultiGzDecoder::new(source), &mut sink, decompress)?,
        Kind::Zstd => pump(ZstdFrames::new(source).map_err(decompress)?, &mut sink, decompress)?,
        Kind::Xz => {
            let mut input = BufReader::with_capacity(1 << 20, source);
            if let Err(e) = lzma_rs::xz_decompress(&mut input, &mut sink) {
                return Err(sink.error.take().unwrap_or(DeployError::Decompress {
                    what: "xz",
                    cause: e.to_string(),
                }));
            }
        }
        Kind::Unsupported(name) => return Err(DeployError::UnsupportedFormat(name)),
        Kind::Qcow2 | Kind::Raw => pump(source, &mut sink, |e| DeployError::Internal(e.to_string()))?,
    }
    sink.finish()
}

fn reader_error(reader: &mut ChannelReader, e: io::Error) -> DeployError {
    reader
        .failure
        .take()
        .unwrap_or_else(|| DeployError::Internal(e.to_string()))
}

/// Reads up to `n` bytes (fewer only at the end).
fn read_head(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Moves everything `source` yields into `sink`, in buffers of [`WRITE_BUFFER`].
fn pump(mut source: impl Read, sink: &mut Sink, on_read: impl Fn(io::Error) -> DeployError) -> Result<(), DeployError> {
    let mut buf = vec![0u8; WRITE_BUFFER];
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match source.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(on_read(e)),
            }
        }
        if filled == 0 {
            return Ok(());
        }
        sink.push(&buf[..filled])?;
    }
}

/// Where the (decompressed) image goes: raw to the disk, or through the qcow2 converter,
/// decided by its first bytes.
struct Sink<'a> {
    job: &'a Job,
    writer: &'a mut DiskWriter,
    compressed: bool,
    state: State,
    /// Why a write through [`Write`] failed (the xz decoder only passes on an `io::Error`).
    error: Option<DeployError>,
}

enum State {
    Sniffing(Vec<u8>),
    Raw { offset: u64 },
    Qcow2(Box<Qcow2Stream>),
}

impl<'a> Sink<'a> {
    fn new(job: &'a Job, writer: &'a mut DiskWriter, compressed: bool) -> Self {
        Sink {
            job,
            writer,
            compressed,
            state: State::Sniffing(Vec::with_capacity(SNIFF_LEN)),
            error: None,
        }
    }

    fn push(&mut self, mut data: &[u8]) -> Result<(), DeployError> {
        if let State::Sniffing(head) = &mut self.state {
            let take = (SNIFF_LEN - head.len()).min(data.len());
            head.extend_from_slice(&data[..take]);
            data = &data[take..];
            if head.len() < SNIFF_LEN {
                return Ok(());
            }
            let head = std::mem::take(head);
            self.decide(&head)?;
            self.feed(&head)?;
        }
        self.feed(data)
    }

    /// Chooses raw or qcow2 from the image's first bytes, checked against the given format.
    fn decide(&mut self, head: &[u8]) -> Result<(), DeployError> {
        let kind = sniff(head);
        let given = match self.job.format {
            ImageFormat::Raw => Some("raw"),
            ImageFormat::Qcow2 => Some("qcow2"),
            ImageFormat::Auto => None,
        };
        match kind {
            Kind::Unsupported(name) => return Err(DeployError::UnsupportedFormat(name)),
            k if k.is_compression() => return Err(DeployError::UnsupportedFormat("nested compression")),
            _ => {}
        }
        if let Some(given) = given
            && given != kind.name()
        {
            return Err(DeployError::FormatMismatch {
                found: kind.name(),
                given,
            });
        }
        self.job.counters.set_step(Step::Writing);
        self.state = if kind == Kind::Qcow2 {
            State::Qcow2(Box::new(Qcow2Stream::new(self.job.disk_size, self.job.orphan_limit)))
        } else {
            if !self.compressed
                && let Some(len) = self.job.content_length
            {
                if len > self.job.disk_size {
                    return Err(self.too_big(len));
                }
                self.job.counters.set_total(len);
            }
            State::Raw { offset: 0 }
        };
        Ok(())
    }

    fn too_big(&self, needed: u64) -> DeployError {
        DeployError::TooBig {
            disk: self.job.disk_name.clone(),
            needed,
            capacity: self.job.disk_size,
        }
    }

    fn sink_error(&self, e: SinkError) -> DeployError {
        match e {
            SinkError::TooBig { needed, .. } => self.too_big(needed),
            SinkError::Io(cause) => disk_error(self.job, cause),
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), DeployError> {
        if data.is_empty() {
            return Ok(());
        }
        let result = match &mut self.state {
            State::Sniffing(_) => Ok(()),
            State::Raw { offset } => {
                let at = *offset;
                *offset += data.len() as u64;
                crate::sink::Target::write_at(self.writer, at, data).map_err(FeedError::Sink)
            }
            State::Qcow2(stream) => {
                let result = stream.feed(data, self.writer);
                if let Some(h) = stream.header() {
                    self.job.counters.set_total(h.size);
                }
                result
            }
        };
        result.map_err(|e| match e {
            FeedError::Qcow2(q) => DeployError::Qcow2(q),
            FeedError::Sink(s) => self.sink_error(s),
        })
    }

    /// The image is complete: returns the bytes it settled.
    fn finish(&mut self) -> Result<u64, DeployError> {
        if let State::Sniffing(head) = &mut self.state {
            let head = std::mem::take(head);
            self.decide(&head)?;
            self.feed(&head)?;
        }
        match &mut self.state {
            State::Sniffing(_) => Ok(0),
            State::Raw { offset } => Ok(*offset),
            State::Qcow2(stream) => stream.finish(self.writer).map_err(|e| match e {
                FeedError::Qcow2(q) => DeployError::Qcow2(q),
                FeedError::Sink(s) => self.sink_error(s),
            }),
        }
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.push(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.error = Some(e);
                Err(io::Error::other("the image could not be written"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A digest computed on a thread of its own, so hashing overlaps writing.
struct HashThread {
    tx: Option<std::sync::mpsc::SyncSender<Bytes>>,
    handle: Option<std::thread::JoinHandle<String>>,
}

impl HashThread {
    fn start(algorithm: Algorithm) -> Self {
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
    fn finish(mut self) -> Result<String, DeployError> {
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
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    hasher: Option<HashThread>,
    /// Why the download stopped, once it did.
    failure: Option<DeployError>,
}

impl ChannelReader {
    /// Reads (and hashes) whatever is left.
    fn drain(&mut self) -> Result<(), DeployError> {
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
struct ZstdFrames<R: Read> {
    frame: Option<StreamingDecoder<BufReader<R>, FrameDecoder>>,
}

impl<R: Read> ZstdFrames<R> {
    fn new(source: R) -> io::Result<Self> {
        let frame = StreamingDecoder::new(BufReader::with_capacity(1 << 20, source)).map_err(io::Error::other)?;
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
            let Some((mut source, decoder)) = self.frame.take().map(StreamingDecoder::into_parts) else {
                return Ok(0);
            };
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.frame = Some(StreamingDecoder::new_with_decoder(source, decoder).map_err(io::Error::other)?);
        }
    }
}

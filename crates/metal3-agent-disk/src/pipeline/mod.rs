//! The writing side of a deploy, on a thread of its own: the downloaded bytes arrive over a
//! channel, are hashed as they pass, decompressed (gzip, xz, zstd) and written raw or
//! converted from qcow2; then the checksum is checked, the disk synced and the config drive
//! added. Any failure after the first write wipes what was written.
//!
//! - [`source`]: the downloaded bytes as a reader, the checksum thread, zstd frames;
//! - [`sink`]: raw or qcow2, told by the image's first bytes and checked against its format.

use std::io::{self, BufReader, Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use metal3_agent_api::{ConfigDrive, DeployResult, ImageFormat};
use tokio::sync::mpsc;

use crate::checksum::Expected;
use crate::clean;
use crate::configdrive;
use crate::error::DeployError;
use crate::format::{Kind, SNIFF_LEN, sniff};
use crate::progress::{Counters, Step};
use crate::sink::{DiskWriter, WRITE_BUFFER};

mod sink;
mod source;

use sink::Sink;
use source::{ChannelReader, HashThread, ZstdFrames};

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
    pub counters: Arc<Counters>,
    /// Bytes of qcow2 clusters kept while their table is still ahead.
    pub orphan_limit: usize,
}

/// What the download side sends: the image's bytes in order, or why they stopped.
pub type Chunk = Result<Bytes, DeployError>;

/// Writes the image arriving on `rx` to the job's disk.
pub fn run(job: Job, rx: mpsc::Receiver<Chunk>) -> Result<DeployResult, DeployError> {
    let file = crate::sink::open_disk(&job.disk_path).map_err(|cause| DeployError::Disk {
        disk: job.disk_name.clone(),
        cause,
    })?;
    let mut writer = DiskWriter::new(file, job.disk_size, job.counters.settled.clone());
    let mut reader = ChannelReader {
        rx,
        current: Bytes::new(),
        hasher: job
            .expected
            .as_ref()
            .map(|e| HashThread::start(e.algorithm)),
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

fn write_all(
    job: &Job,
    reader: &mut ChannelReader,
    writer: &mut DiskWriter,
) -> Result<DeployResult, DeployError> {
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
fn write_image(
    job: &Job,
    reader: &mut ChannelReader,
    writer: &mut DiskWriter,
) -> Result<u64, DeployError> {
    let head = read_head(reader, SNIFF_LEN).map_err(|e| reader_error(reader, e))?;
    let outer = sniff(&head);
    let source = Cursor::new(head).chain(&mut *reader);
    let mut sink = Sink::new(job, writer, outer.is_compression());
    let decompress = |e: io::Error| DeployError::Decompress {
        what: outer.name(),
        cause: e.to_string(),
    };
    match outer {
        Kind::Gzip => pump(
            flate2::read::MultiGzDecoder::new(source),
            &mut sink,
            decompress,
        )?,
        Kind::Zstd => pump(
            ZstdFrames::new(source).map_err(decompress)?,
            &mut sink,
            decompress,
        )?,
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
        Kind::Qcow2 | Kind::Raw => {
            pump(source, &mut sink, |e| DeployError::Internal(e.to_string()))?
        }
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
fn pump(
    mut source: impl Read,
    sink: &mut Sink,
    on_read: impl Fn(io::Error) -> DeployError,
) -> Result<(), DeployError> {
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

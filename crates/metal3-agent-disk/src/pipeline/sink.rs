//! Where the (decompressed) image goes: raw to the disk, or through the qcow2 converter,
//! decided by its first bytes and checked against the format the deploy gives.

use std::io::{self, Write};

use metal3_agent_api::ImageFormat;

use super::{Job, disk_error};
use crate::error::DeployError;
use crate::format::{Kind, SNIFF_LEN, sniff};
use crate::progress::Step;
use crate::qcow2::Qcow2Stream;
use crate::qcow2::stream::FeedError;
use crate::sink::{DiskWriter, SinkError};

/// Where the (decompressed) image goes: raw to the disk, or through the qcow2 converter,
/// decided by its first bytes.
pub(super) struct Sink<'a> {
    job: &'a Job,
    writer: &'a mut DiskWriter,
    compressed: bool,
    state: State,
    /// Why a write through [`Write`] failed (the xz decoder only passes on an `io::Error`).
    pub(super) error: Option<DeployError>,
}

enum State {
    Sniffing(Vec<u8>),
    Raw { offset: u64 },
    Qcow2(Box<Qcow2Stream>),
}

impl<'a> Sink<'a> {
    pub(super) fn new(job: &'a Job, writer: &'a mut DiskWriter, compressed: bool) -> Self {
        Sink {
            job,
            writer,
            compressed,
            state: State::Sniffing(Vec::with_capacity(SNIFF_LEN)),
            error: None,
        }
    }

    pub(super) fn push(&mut self, mut data: &[u8]) -> Result<(), DeployError> {
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
            k if k.is_compression() => {
                return Err(DeployError::UnsupportedFormat("nested compression"));
            }
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
            State::Qcow2(Box::new(Qcow2Stream::new(
                self.job.disk_size,
                self.job.orphan_limit,
            )))
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
    pub(super) fn finish(&mut self) -> Result<u64, DeployError> {
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

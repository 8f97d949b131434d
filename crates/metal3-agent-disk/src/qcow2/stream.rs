//! The qcow2 converter: fed the image's bytes in file order, it writes each cluster to the
//! disk at its virtual offset as it passes, makes unallocated and zero clusters read as zeros,
//! and keeps in memory only the tables being read, the mapped ranges still ahead, and bytes
//! that arrived before the table mapping them (bounded).

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Bound::{Excluded, Unbounded};

use flate2::{Decompress, FlushDecompress};

use super::Qcow2Error;
use super::header::{Compression, HEADER_READ, Header};
use crate::sink::{SinkError, Target};

/// How many bytes that no table maps yet the converter keeps, by default (the most recent).
pub const DEFAULT_ORPHAN_LIMIT: usize = 64 << 20;

/// Host offset bits of L1 and standard L2 entries (9..=55).
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const COMPRESSED: u64 = 1 << 62;
const ZERO: u64 = 1;

/// Why the converter stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Qcow2(#[from] Qcow2Error),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What a range of the image file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    L1,
    /// An L2 table mapping the virtual range from `guest`.
    L2 {
        guest: u64,
    },
    /// Clusters stored as they are, for the virtual range from `guest`.
    Data {
        guest: u64,
    },
    /// One compressed cluster for the virtual cluster at `guest`.
    Compressed {
        guest: u64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Span {
    len: u64,
    kind: Kind,
}

/// A qcow2 image being converted as it streams.
pub struct Qcow2Stream {
    capacity: u64,
    orphan_limit: usize,
    head: Vec<u8>,
    header: Option<Header>,
    /// File offset of the next byte fed.
    pos: u64,
    /// Ranges of the file still ahead (or being passed) whose meaning is known.
    spans: BTreeMap<u64, Span>,
    /// The L1 and L2 tables known but not read yet.
    tables_pending: usize,
    /// Bytes no table mapped when they passed, kept while tables are pending.
    orphans: BTreeMap<u64, Vec<u8>>,
    orphan_bytes: usize,
    /// A table or compressed cluster being gathered: its file offset and bytes so far.
    gathering: Option<(u64, Vec<u8>)>,
    /// Virtual ranges to zero, merged while they are contiguous.
    zero_run: Option<(u64, u64)>,
    cluster: Vec<u8>,
    /// Bytes the last compressed cluster's data took.
    compressed_used: usize,
}

impl Qcow2Stream {
    /// A converter for a disk of `capacity` bytes that keeps at most `orphan_limit` bytes
    /// that arrive before their table.
    pub fn new(capacity: u64, orphan_limit: usize) -> Self {
        Qcow2Stream {
            capacity,
            orphan_limit,
            head: Vec::new(),
            header: None,
            pos: 0,
            spans: BTreeMap::new(),
            tables_pending: 0,
            orphans: BTreeMap::new(),
            orphan_bytes: 0,
            gathering: None,
            zero_run: None,
            cluster: Vec::new(),
            compressed_used: 0,
        }
    }

    /// The header, once read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Feeds the next bytes of the image.
    pub fn feed(&mut self, data: &[u8], target: &mut dyn Target) -> Result<(), FeedError> {
        if self.header.is_some() {
            return self.process(data, target);
        }
        let take = (HEADER_READ - self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..take]);
        if self.head.len() < HEADER_READ {
            return Ok(());
        }
        self.start()?;
        let head = std::mem::take(&mut self.head);
        self.process(&head, target)?;
        self.process(&data[take..], target)
    }

    /// Parses the header and registers the L1 table.
    fn start(&mut self) -> Result<(), FeedError> {
        let header = Header::parse(&self.head)?;
        if header.size > self.capacity {
            return Err(SinkError::TooBig {
                needed: header.size,
                capacity: self.capacity,
            }
            .into());
        }
        if header.l1_size > 0 && header.size > 0 {
            self.spans.insert(
                header.l1_table_offset,
                Span {
                    len: u64::from(header.l1_size) * 8,
                    kind: Kind::L1,
                },
            );
            self.tables_pending = 1;
        }
        self.header = Some(header);
        Ok(())
    }

    fn process(&mut self, mut data: &[u8], target: &mut dyn Target) -> Result<(), FeedError> {
        while !data.is_empty() {
            let n = self.step(data, target)?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Handles bytes at `self.pos` from the front of `data`; returns how many it took.
    fn step(&mut self, data: &[u8], target: &mut dyn Target) -> Result<usize, FeedError> {
        let pos = self.pos;
        if let Some((start, buf)) = &mut self.gathering {
            let start = *start;
            let len = self.spans.get(&start).map_or(0, |s| s.len);
            let take = (start + len - pos).min(data.len() as u64) as usize;
            buf.extend_from_slice(&data[..take]);
            self.pos += take as u64;
            if buf.len() as u64 >= len {
                let (_, buf) = self.gathering.take().unwrap_or_default();
                if let Some(span) = self.spans.remove(&start) {
                    self.complete(start, span.kind, &buf, target)?;
                    // A compressed cluster's range is rounded up to sectors: what its data did
                    // not use may be the start of a cluster whose table is still ahead.
                    if matches!(span.kind, Kind::Compressed { .. }) && self.tables_pending > 0 {
                        let used = self.compressed_used.min(buf.len());
                        self.keep_orphan(start + used as u64, &buf[used..]);
                    }
                }
            }
            return Ok(take);
        }
        let current = self
            .spans
            .range(..=pos)
            .next_back()
            .filter(|(start, span)| *start + span.len > pos)
            .map(|(start, span)| (*start, *span));
        if let Some((start, span)) = current {
            if let Kind::Data { guest } = span.kind {
                let within = pos - start;
                let take = (span.len - within).min(data.len() as u64) as usize;
                self.write_data(guest + within, &data[..take], target)?;
                self.pos += take as u64;
                if within + take as u64 == span.len {
                    self.spans.remove(&start);
                }
                return Ok(take);
            }
            if start != pos {
                return Err(Qcow2Error::Invalid(format!(
                    "metadata at offset {start} overlaps other data"
                ))
                .into());
            }
            self.gathering = Some((start, Vec::with_capacity(span.len.min(1 << 20) as usize)));
            return Ok(0);
        }
        // Bytes no known range covers, up to the next known range.
        let next = self
            .spans
            .range((Excluded(pos), Unbounded))
            .next()
            .map_or(u64::MAX, |(start, _)| *start);
        let take = (next - pos).min(data.len() as u64) as usize;
        if self.tables_pending > 0 {
            self.keep_orphan(pos, &data[..take]);
        }
        self.pos += take as u64;
        Ok(take)
    }

    /// Keeps bytes no table maps yet. The oldest go first when more than the limit is kept;
    /// a table that maps them later fails the image.
    fn keep_orphan(&mut self, pos: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.orphan_bytes += bytes.len();
        match self.orphans.iter_mut().next_back() {
            Some((start, buf)) if start + buf.len() as u64 == pos => buf.extend_from_slice(bytes),
            _ => {
                self.orphans.insert(pos, bytes.to_vec());
            }
        }
        while self.orphan_bytes > self.orphan_limit {
            let Some((start, mut buf)) = self.orphans.pop_first() else {
                break;
            };
            let excess = self.orphan_bytes - self.orphan_limit;
            if buf.len() > excess {
                buf.drain(..excess);
                self.orphans.insert(start + excess as u64, buf);
                self.orphan_bytes -= excess;
            } else {
                self.orphan_bytes -= buf.len();
            }
        }
    }

    /// The kept bytes `[start, start + len)`, if they were kept.
    fn orphan(&self, start: u64, len: u64) -> Option<&[u8]> {
        let (&from, buf) = self.orphans.range(..=start).next_back()?;
        let at = usize::try_from(start - from).ok()?;
        buf.get(at..at + usize::try_from(len).ok()?)
    }

    fn header_ref(&self) -> Result<&Header, FeedError> {
        self.header
            .as_ref()
            .ok_or_else(|| Qcow2Error::Truncated("no header".into()).into())
    }

    fn write_data(
        &mut self,
        guest: u64,
        data: &[u8],
        target: &mut dyn Target,
    ) -> Result<(), FeedError> {
        let size = self.header_ref()?.size;
        let keep = size.saturating_sub(guest).min(data.len() as u64) as usize;
        if keep > 0 {
            self.flush_zeros(target)?;
            target.write_at(guest, &data[..keep])?;
        }
        Ok(())
    }

    /// Zeros the pending run before data is written (they never overlap; this keeps the
    /// disk's writes in order, so its buffer gathers them).
    fn flush_zeros(&mut self, target: &mut dyn Target) -> Result<(), FeedError> {
        if let Some((start, len)) = self.zero_run.take() {
            target.zero(start, len)?;
        }
        Ok(())
    }

    fn zero(&mut self, guest: u64, len: u64, target: &mut dyn Target) -> Result<(), FeedError> {
        let size = self.header_ref()?.size;
        let len = len.min(size.saturating_sub(guest));
        if len == 0 {
            return Ok(());
        }
        match &mut self.zero_run {
            Some((start, run)) if *start + *run == guest => *run += len,
            _ => {
                if let Some((start, run)) = self.zero_run.replace((guest, len)) {
                    target.zero(start, run)?;
                }
            }
        }
        Ok(())
    }

    /// A table or compressed cluster is complete.
    fn complete(
        &mut self,
        start: u64,
        kind: Kind,
        bytes: &[u8],
        target: &mut dyn Target,
    ) -> Result<(), FeedError> {
        let header = self.header_ref()?.clone();
        match kind {
            Kind::L1 => {
                for (i, entry) in entries(bytes).enumerate() {
                    let guest = i as u64 * header.l2_span();
                    if guest >= header.size {
                        break;
                    }
                    let offset = entry & OFFSET_MASK;
                    if offset == 0 {
                        self.zero(guest, header.l2_span(), target)?;
                    } else {
                        self.tables_pending += 1;
                        let len = header.cluster_size();
                        self.register(
                            offset,
                            Span {
                                len,
                                kind: Kind::L2 { guest },
                            },
                            target,
                        )?;
                    }
                }
            }
            Kind::L2 { guest: base } => {
                let cluster = header.cluster_size();
                for (j, entry) in entries(bytes).enumerate() {
                    let guest = base + j as u64 * cluster;
                    if guest >= header.size {
                        break;
                    }
                    if entry & COMPRESSED != 0 {
                        let (offset, len) = compressed_range(&header, entry);
                        self.register(
                            offset,
                            Span {
                                len,
                                kind: Kind::Compressed { guest },
                            },
                            target,
                        )?;
                        continue;
                    }
                    let offset = entry & OFFSET_MASK;
                    if entry & ZERO != 0 || offset == 0 {
                        self.zero(guest, cluster, target)?;
                    } else if !offset.is_multiple_of(cluster) {
                        return Err(Qcow2Error::Invalid(format!(
                            "cluster at offset {offset} is not aligned"
                        ))
                        .into());
                    } else {
                        self.register(
                            offset,
                            Span {
                                len: cluster,
                                kind: Kind::Data { guest },
                            },
                            target,
                        )?;
                    }
                }
            }
            Kind::Compressed { guest } => {
                self.inflate(&header, start, bytes)?;
                let cluster = std::mem::take(&mut self.cluster);
                let result = self.write_data(guest, &cluster, target);
                self.cluster = cluster;
                result?;
            }
            // Clusters that arrived before their table (clusters ahead are written as they pass).
            Kind::Data { guest } => self.write_data(guest, bytes, target)?,
        }
        if matches!(kind, Kind::L1 | Kind::L2 { .. }) {
            self.tables_pending -= 1;
            if self.tables_pending == 0 {
                self.orphans.clear();
                self.orphan_bytes = 0;
            }
        }
        Ok(())
    }

    /// Notes what `[offset, offset + len)` of the file holds; if those bytes already passed,
    /// uses the kept copy at once.
    fn register(
        &mut self,
        offset: u64,
        mut span: Span,
        target: &mut dyn Target,
    ) -> Result<(), FeedError> {
        let compressed = matches!(span.kind, Kind::Compressed { .. });
        if offset < self.pos {
            let what = match span.kind {
                Kind::L2 { .. } => "an L2 table",
                _ => "clusters",
            };
            let kept = self
                .orphan(offset, span.len)
                .or_else(|| {
                    // A compressed cluster's last sector may run past what was kept.
                    compressed.then(|| self.orphan_tail(offset)).flatten()
                })
                .map(<[u8]>::to_vec)
                .ok_or_else(|| Qcow2Error::NotStreamable(format!("{what} at offset {offset}")))?;
            return self.complete(offset, span.kind, &kept, target);
        }
        // A compressed cluster's range is rounded up to whole sectors and may reach into the
        // next compressed cluster: it ends where the next known range starts.
        if let Some((&next, _)) = self.spans.range((Excluded(offset), Unbounded)).next()
            && next < offset + span.len
        {
            if !compressed {
                return Err(overlap(offset));
            }
            span.len = next - offset;
        }
        if let Some((&prev, prev_span)) = self.spans.range_mut(..=offset).next_back() {
            let prev_end = prev + prev_span.len;
            if prev == offset || prev_end > offset {
                if !matches!(prev_span.kind, Kind::Compressed { .. }) || prev == offset {
                    return Err(overlap(offset));
                }
                prev_span.len = offset - prev;
            } else if let (Kind::Data { guest: g0 }, Kind::Data { guest }) =
                (prev_span.kind, span.kind)
                && prev_end == offset
                && g0 + prev_span.len == guest
            {
                prev_span.len += span.len;
                return Ok(());
            }
        }
        self.spans.insert(offset, span);
        Ok(())
    }

    /// Kept bytes from `offset` to the end of their kept block.
    fn orphan_tail(&self, offset: u64) -> Option<&[u8]> {
        let (&from, buf) = self.orphans.range(..=offset).next_back()?;
        buf.get(usize::try_from(offset - from).ok()?..)
    }

    /// Decompresses one cluster into `self.cluster`.
    fn inflate(&mut self, header: &Header, offset: u64, bytes: &[u8]) -> Result<(), FeedError> {
        let size = header.cluster_size() as usize;
        self.cluster.clear();
        self.cluster.resize(size, 0);
        let fail = |cause: String| Qcow2Error::Compressed { offset, cause };
        match header.compression {
            Compression::Deflate => {
                let mut d = Decompress::new(false);
                d.decompress(bytes, &mut self.cluster, FlushDecompress::Finish)
                    .map_err(|e| fail(e.to_string()))?;
                if d.total_out() != size as u64 {
                    return Err(fail(format!("{} bytes instead of {size}", d.total_out())).into());
                }
                self.compressed_used = d.total_in() as usize;
            }
            Compression::Zstd => {
                let mut rest = bytes;
                let mut d = ruzstd::decoding::StreamingDecoder::new(&mut rest)
                    .map_err(|e| fail(e.to_string()))?;
                d.read_exact(&mut self.cluster)
                    .map_err(|e| fail(e.to_string()))?;
                drop(d);
                self.compressed_used = bytes.len() - rest.len();
            }
        }
        Ok(())
    }

    /// Ends the image: everything mapped must have arrived. Returns the virtual size.
    pub fn finish(&mut self, target: &mut dyn Target) -> Result<u64, FeedError> {
        if self.header.is_none() {
            Header::parse(&self.head)?;
            return Err(Qcow2Error::Truncated("the header is incomplete".into()).into());
        }
        if let Some((start, buf)) = self.gathering.take()
            && let Some(span) = self.spans.remove(&start)
        {
            if !matches!(span.kind, Kind::Compressed { .. }) {
                return Err(Qcow2Error::Truncated(format!(
                    "the table at offset {start} is cut off"
                ))
                .into());
            }
            self.complete(start, span.kind, &buf, target)
                .map_err(|e| match e {
                    FeedError::Qcow2(Qcow2Error::Compressed { offset, .. }) => {
                        Qcow2Error::Truncated(format!(
                            "the compressed cluster at offset {offset} is cut off"
                        ))
                        .into()
                    }
                    e => e,
                })?;
        }
        if let Some((start, span)) = self.spans.iter().next() {
            let what = match span.kind {
                Kind::L1 => "the L1 table",
                Kind::L2 { .. } => "an L2 table",
                Kind::Data { .. } | Kind::Compressed { .. } => "a cluster",
            };
            return Err(
                Qcow2Error::Truncated(format!("{what} at offset {start} is past the end")).into(),
            );
        }
        self.flush_zeros(target)?;
        Ok(self.header_ref()?.size)
    }
}

fn overlap(offset: u64) -> FeedError {
    Qcow2Error::Invalid(format!("two ranges of the image claim offset {offset}")).into()
}

/// Big-endian 8-byte entries of a table.
fn entries(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(8).map(|c| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        u64::from_be_bytes(a)
    })
}

/// The file range a compressed cluster's descriptor names: its byte offset, and its sector
/// count (the sector holding the offset plus the additional ones) less the offset within the
/// first sector.
fn compressed_range(header: &Header, entry: u64) -> (u64, u64) {
    let x = 62 - (header.cluster_bits - 8);
    let offset = entry & ((1u64 << x) - 1);
    let sectors = ((entry >> x) & ((1u64 << (header.cluster_bits - 8)) - 1)) + 1;
    (offset, sectors * 512 - (offset & 511))
}

#[cfg(test)]
mod tests;

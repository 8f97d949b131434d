//! Writing to the target disk: positional writes gathered into large buffers, ranges made to
//! read as zeros (by the kernel when it can, else by writing zeros), a bound at the disk's
//! size, and a count of settled bytes for progress.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::FallocateFlags;

/// Writes are gathered up to this size before they reach the disk.
pub const WRITE_BUFFER: usize = 4 << 20;
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The image reaches past the disk's end.
    #[error("the image needs at least {needed} bytes but the disk has {capacity}")]
    TooBig { needed: u64, capacity: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What the qcow2 reader writes to: a byte-addressed disk.
pub trait Target {
    /// Write `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError>;
    /// Make `[offset, offset + len)` read as zeros.
    fn zero(&mut self, offset: u64, len: u64) -> Result<(), SinkError>;
}

/// A disk (or a file standing for one) being written.
pub struct DiskWriter {
    file: File,
    capacity: u64,
    buf: Vec<u8>,
    buf_start: u64,
    end: u64,
    touched: bool,
    settled: Arc<AtomicU64>,
}

impl DiskWriter {
    /// `capacity` is the disk's size; `settled` counts bytes written or zeroed.
    pub fn new(file: File, capacity: u64, settled: Arc<AtomicU64>) -> Self {
        DiskWriter {
            file,
            capacity,
            buf: Vec::with_capacity(WRITE_BUFFER),
            buf_start: 0,
            end: 0,
            touched: false,
            settled,
        }
    }

    /// The disk's size.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether anything was written or zeroed (so a failure must wipe).
    pub fn touched(&self) -> bool {
        self.touched
    }

    /// One past the highest byte written or zeroed.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The open disk.
    pub fn file(&self) -> &File {
        &self.file
    }

    fn check(&mut self, offset: u64, len: u64) -> Result<(), SinkError> {
        let needed = offset.saturating_add(len);
        if needed > self.capacity {
            return Err(SinkError::TooBig {
                needed,
                capacity: self.capacity,
            });
        }
        self.touched = true;
        self.end = self.end.max(needed);
        self.settled.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Writes out what is gathered.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.buf_start)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes out what is gathered and waits for the disk to have it.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file.sync_all()
    }

    fn buf_end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    fn append(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if !self.buf.is_empty() && offset != self.buf_end() {
            self.flush()?;
        }
        if self.buf.is_empty() {
            if data.len() >= WRITE_BUFFER {
                return self.file.write_all_at(data, offset);
            }
            self.buf_start = offset;
        }
        let room = WRITE_BUFFER - self.buf.len();
        let (now, rest) = data.split_at(room.min(data.len()));
        self.buf.extend_from_slice(now);
        if self.buf.len() == WRITE_BUFFER {
            self.flush()?;
        }
        if !rest.is_empty() {
            self.append(offset + now.len() as u64, rest)?;
        }
        Ok(())
    }

    /// Zeros written through the buffer (small ranges next to buffered data).
    fn append_zeros(&mut self, mut offset: u64, mut len: u64) -> io::Result<()> {
        while len > 0 {
            let n = len.min(ZEROS.len() as u64);
            self.append(offset, &ZEROS[..n as usize])?;
            offset += n;
            len -= n;
        }
        Ok(())
    }
}

impl Target for DiskWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        self.check(offset, data.len() as u64)?;
        self.append(offset, data)?;
        Ok(())
    }

    fn zero(&mut self, offset: u64, len: u64) -> Result<(), SinkError> {
        if len == 0 {
            return Ok(());
        }
        self.check(offset, len)?;
        let buffered = !self.buf.is_empty() && offset == self.buf_end();
        if buffered && len <= (WRITE_BUFFER - self.buf.len()) as u64 {
            return Ok(self.append_zeros(offset, len)?);
        }
        let end = offset + len;
        if self.buf_start < end && offset < self.buf_end() {
            self.flush()?;
        }
        zero_range(&self.file, offset, len)?;
        Ok(())
    }
}

/// Opens a disk for reading and writing; a block device exclusively, so one that is mounted
/// (or otherwise in use) is refused rather than overwritten under its user.
pub fn open_disk(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let block = std::fs::metadata(path)?.file_type().is_block_device();
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    if block {
        options.custom_flags(rustix::fs::OFlags::EXCL.bits() as i32);
    }
    options.open(path)
}

/// Makes `[offset, offset + len)` of `file` read as zeros: the kernel zeroes (or unmaps)
/// the range where the device or file system can, else zeros are written.
pub fn zero_range(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let kernel = [
        FallocateFlags::ZERO_RANGE | FallocateFlags::KEEP_SIZE,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
    ];
    if kernel
        .into_iter()
        .any(|mode| rustix::fs::fallocate(file, mode, offset, len).is_ok())
    {
        return Ok(());
    }
    write_zeros(file, offset, len)
}

/// Writes zeros over `[offset, offset + len)`.
pub fn write_zeros(file: &File, mut offset: u64, mut len: u64) -> io::Result<()> {
    while len > 0 {
        let n = len.min(ZEROS.len() as u64);
        file.write_all_at(&ZEROS[..n as usize], offset)?;
        offset += n;
        len -= n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn disk(size: u64) -> (tempfile::NamedTempFile, DiskWriter, Arc<AtomicU64>) {
        let tmp = tempfile::NamedTempFile::new().expect("tmp");
        tmp.as_file().set_len(size).expect("len");
        let file = tmp.reopen().expect("reopen");
        let settled = Arc::new(AtomicU64::new(0));
        let writer = DiskWriter::new(file, size, settled.clone());
        (tmp, writer, settled)
    }

    fn contents(tmp: &tempfile::NamedTempFile) -> Vec<u8> {
        let mut out = Vec::new();
        tmp.reopen()
            .expect("reopen")
            .read_to_end(&mut out)
            .expect("read");
        out
    }

    #[test]
    fn gathers_writes_and_zeros_in_order() {
        let size = 3 * WRITE_BUFFER as u64;
        let (tmp, mut w, settled) = disk(size);
        w.file()
            .write_all_at(&vec![0xee; size as usize], 0)
            .expect("fill");
        // Small sequential writes, a zero range inside the buffer, one next to it, a large
        // write that bypasses the buffer, and an out-of-order write.
        w.write_at(0, &[1; 1000]).expect("w1");
        w.write_at(1000, &[2; 24]).expect("w2");
        w.zero(1024, 1024).expect("z1");
        w.write_at(2048, &[3; 10]).expect("w3");
        w.zero(100_000, 5000).expect("z2");
        let big = vec![4u8; WRITE_BUFFER + 7];
        w.write_at(WRITE_BUFFER as u64, &big).expect("big");
        w.write_at(10, &[5; 5]).expect("w4");
        w.sync().expect("sync");
        let d = contents(&tmp);
        assert_eq!(&d[..10], &[1; 10]);
        assert_eq!(&d[10..15], &[5; 5]);
        assert_eq!(&d[15..1000], &[1; 985][..]);
        assert_eq!(&d[1000..1024], &[2; 24]);
        assert!(d[1024..2048].iter().all(|b| *b == 0));
        assert_eq!(&d[2048..2058], &[3; 10]);
        assert!(d[2058..2100].iter().all(|b| *b == 0xee));
        assert!(d[100_000..105_000].iter().all(|b| *b == 0));
        assert_eq!(d[105_000], 0xee);
        assert!(
            d[WRITE_BUFFER..2 * WRITE_BUFFER + 7]
                .iter()
                .all(|b| *b == 4)
        );
        assert_eq!(d[2 * WRITE_BUFFER + 7], 0xee);
        assert_eq!(w.end(), 2 * WRITE_BUFFER as u64 + 7);
        assert_eq!(
            settled.load(Ordering::Relaxed),
            1000 + 24 + 1024 + 10 + 5000 + big.len() as u64 + 5
        );
    }

    #[test]
    fn refuses_to_pass_the_end() {
        let (_tmp, mut w, _) = disk(4096);
        w.write_at(0, &[1; 4096]).expect("fits");
        assert!(matches!(
            w.write_at(4000, &[1; 97]),
            Err(SinkError::TooBig {
                needed: 4097,
                capacity: 4096
            })
        ));
        assert!(matches!(w.zero(4096, 1), Err(SinkError::TooBig { .. })));
    }
}

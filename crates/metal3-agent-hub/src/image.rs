//! The generic agent boot image and each host's copy of it: the image is read once at start to
//! find its per-host slot, then served from the file with the slot's bytes replaced by the
//! host's archive, whole or by byte ranges (BMCs read virtual media in pieces). The range
//! arithmetic is pure; reading the file is the only effect.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use futures::Stream;
use metal3_agent_api::bootimage::{self, PLACEHOLDER_SIZE};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::Error;

/// Bytes read from the image file at a time.
const CHUNK: u64 = 256 * 1024;

/// The generic agent boot image, checked: where it is, how long, where its slot is.
#[derive(Clone, Debug)]
pub struct BootImage {
    path: PathBuf,
    len: u64,
    slot: u64,
}

impl BootImage {
    /// Reads the image once to find its slot; fails when it has none or more than one.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let bad = |why: String| Error::Image {
            path: path.to_path_buf(),
            why,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let slot = bootimage::find_placeholder(&bytes).ok_or_else(|| {
            bad(format!(
                "it has no single per-host slot ({} of {PLACEHOLDER_SIZE} bytes on a sector \
                 boundary); build it with `metal3 agent-image`",
                bootimage::PLACEHOLDER_PATH
            ))
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
            slot,
        })
    }

    /// Bytes of the image (and of every host's copy).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the image is empty (it never is: it holds the slot).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the image is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes `range` of the host's copy, the slot holding `archive`.
    pub(crate) fn stream(
        &self,
        range: Range<u64>,
        archive: Arc<Vec<u8>>,
    ) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let pieces = pieces(range, self.slot, PLACEHOLDER_SIZE as u64);
        let path = self.path.clone();
        futures::stream::try_unfold(
            (pieces.into_iter(), None::<tokio::fs::File>, path, archive),
            |(mut pieces, mut file, path, archive)| async move {
                let Some(piece) = pieces.next() else {
                    return Ok(None);
                };
                let bytes = match piece {
                    Piece::Slot(r) => {
                        let (start, end) = (r.start as usize, r.end as usize);
                        Bytes::copy_from_slice(archive.get(start..end).unwrap_or_default())
                    }
                    Piece::File(r) => {
                        let f = match file.as_mut() {
                            Some(f) => f,
                            None => file.insert(tokio::fs::File::open(&path).await?),
                        };
                        f.seek(SeekFrom::Start(r.start)).await?;
                        let mut buf = vec![0; (r.end - r.start) as usize];
                        f.read_exact(&mut buf).await?;
                        Bytes::from(buf)
                    }
                };
                Ok(Some((bytes, (pieces, file, path, archive))))
            },
        )
    }
}

/// A piece of a host's copy: bytes of the image file, or of the host's archive (offsets
/// within the archive).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    File(Range<u64>),
    Slot(Range<u64>),
}

/// The pieces `range` of a host's copy is made of, file pieces at most [`CHUNK`] long.
fn pieces(range: Range<u64>, slot: u64, slot_len: u64) -> Vec<Piece> {
    let slot_end = slot + slot_len;
    let mut out = Vec::new();
    let mut at = range.start;
    while at < range.end {
        if at >= slot && at < slot_end {
            let end = range.end.min(slot_end);
            out.push(Piece::Slot(at - slot..end - slot));
            at = end;
        } else {
            let limit = if at < slot { slot } else { u64::MAX };
            let end = range.end.min(limit).min(at + CHUNK);
            out.push(Piece::File(at..end));
            at = end;
        }
    }
    out
}

/// What a `Range` header asks for, of a representation of `len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// The whole of it (no header, or one we ignore as the standard allows: several ranges,
    /// another unit, a malformed one).
    Whole,
    /// These bytes.
    Part(Range<u64>),
    /// A range wholly past the end: 416.
    Unsatisfiable,
}

/// Reads a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`).
pub(crate) fn wanted(header: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        // The last n bytes.
        (true, _, Some(n)) => {
            if n == 0 {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(len.saturating_sub(n)..len)
            }
        }
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if end.is_some_and(|e| e < start) {
                return Wanted::Whole;
            }
            if start >= len {
                return Wanted::Unsatisfiable;
            }
            let end = end.map_or(len, |e| e.saturating_add(1).min(len));
            Wanted::Part(start..end)
        }
        _ => Wanted::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        let len = 1000;
        let cases = [
            (None, Wanted::Whole),
            (Some("bytes=0-499"), Wanted::Part(0..500)),
            (Some("bytes=500-"), Wanted::Part(500..1000)),
            (Some("bytes=-100"), Wanted::Part(900..1000)),
            (Some("bytes=-5000"), Wanted::Part(0..1000)),
            (Some("bytes=900-5000"), Wanted::Part(900..1000)),
            (Some("bytes=999-999"), Wanted::Part(999..1000)),
            (Some("bytes=1000-"), Wanted::Unsatisfiable),
            (Some("bytes=-0"), Wanted::Unsatisfiable),
            (Some("bytes=0-1,5-9"), Wanted::Whole),
            (Some("items=0-1"), Wanted::Whole),
            (Some("bytes=9-1"), Wanted::Whole),
            (Some("bytes=x-1"), Wanted::Whole),
            (Some("bytes=-"), Wanted::Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(wanted(header, len), expected, "{header:?}");
        }
    }

    #[test]
    fn pieces_splice_the_slot_in() {
        let slot = 4096;
        let slot_len = 100;
        assert_eq!(
            pieces(4000..4300, slot, slot_len),
            vec![
                Piece::File(4000..4096),
                Piece::Slot(0..100),
                Piece::File(4196..4300)
            ]
        );
        assert_eq!(pieces(4100..4150, slot, slot_len), vec![Piece::Slot(4..54)]);
        assert_eq!(pieces(0..10, slot, slot_len), vec![Piece::File(0..10)]);
        assert_eq!(pieces(5..5, slot, slot_len), vec![]);
        let long = pieces(0..CHUNK * 2 + 10, CHUNK * 5, slot_len);
        assert_eq!(
            long,
            vec![
                Piece::File(0..CHUNK),
                Piece::File(CHUNK..CHUNK * 2),
                Piece::File(CHUNK * 2..CHUNK * 2 + 10)
            ],
            "file pieces are bounded"
        );
        // Every byte once, in order.
        let all = pieces(0..10_000, slot, slot_len);
        let total: u64 = all
            .iter()
            .map(|p| match p {
                Piece::File(r) | Piece::Slot(r) => r.end - r.start,
            })
            .sum();
        assert_eq!(total, 10_000);
    }
}

//! The qcow2 header (versions 2 and 3): the fields the reader needs and the checks that refuse
//! what the agent cannot write faithfully.

use super::Qcow2Error;

/// Bytes of header the reader wants before it parses (the header's first sector).
pub const HEADER_READ: usize = 512;
const V2_LEN: usize = 72;
/// The largest L1 table qemu accepts.
const MAX_L1_BYTES: u64 = 32 << 20;

/// How compressed clusters are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Raw deflate (no zlib header), the default.
    Deflate,
    /// Zstandard (version 3 with the compression type field).
    Zstd,
}

/// What the reader needs from the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub cluster_bits: u32,
    /// The virtual disk's size in bytes.
    pub size: u64,
    pub l1_size: u32,
    pub l1_table_offset: u64,
    pub compression: Compression,
}

impl Header {
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Entries in one L2 table (standard 8-byte entries).
    pub fn l2_entries(&self) -> u64 {
        self.cluster_size() / 8
    }

    /// Virtual bytes one L2 table maps.
    pub fn l2_span(&self) -> u64 {
        self.l2_entries() * self.cluster_size()
    }

    /// Parses and checks the header at the start of `head`.
    pub fn parse(head: &[u8]) -> Result<Header, Qcow2Error> {
        let u32_at = |o: usize| {
            head.get(o..o + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let u64_at = |o: usize| {
            head.get(o..o + 8).map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_be_bytes(a)
            })
        };
        if head.get(..4) != Some(b"QFI\xfb") {
            return Err(Qcow2Error::NotQcow2);
        }
        let short = || Qcow2Error::Truncated("the header is incomplete".into());
        if head.len() < V2_LEN {
            return Err(short());
        }
        let version = u32_at(4).ok_or_else(short)?;
        if !(2..=3).contains(&version) {
            return Err(Qcow2Error::Version(version));
        }
        if u64_at(8).ok_or_else(short)? != 0 {
            return Err(Qcow2Error::BackingFile);
        }
        let cluster_bits = u32_at(20).ok_or_else(short)?;
        if !(9..=21).contains(&cluster_bits) {
            return Err(Qcow2Error::Invalid(format!(
                "cluster_bits {cluster_bits} is outside 9..=21"
            )));
        }
        let size = u64_at(24).ok_or_else(short)?;
        if u32_at(32).ok_or_else(short)? != 0 {
            return Err(Qcow2Error::Encrypted);
        }
        let l1_size = u32_at(36).ok_or_else(short)?;
        let l1_table_offset = u64_at(40).ok_or_else(short)?;
        let mut compression = Compression::Deflate;
        if version == 3 {
            let features = u64_at(72).ok_or_else(short)?;
            let header_len = u32_at(100).ok_or_else(short)?;
            const DIRTY: u64 = 1;
            const CORRUPT: u64 = 1 << 1;
            const EXTERNAL_DATA: u64 = 1 << 2;
            const COMPRESSION_TYPE: u64 = 1 << 3;
            const EXTENDED_L2: u64 = 1 << 4;
            if features & CORRUPT != 0 {
                return Err(Qcow2Error::MarkedCorrupt);
            }
            if features & EXTERNAL_DATA != 0 {
                return Err(Qcow2Error::Feature("an external data file"));
            }
            if features & EXTENDED_L2 != 0 {
                return Err(Qcow2Error::Feature("extended L2 entries (subclusters)"));
            }
            if features & !(DIRTY | COMPRESSION_TYPE) != 0 {
                return Err(Qcow2Error::Feature("unknown incompatible features"));
            }
            if features & COMPRESSION_TYPE != 0 {
                if header_len < 105 {
                    return Err(Qcow2Error::Invalid(
                        "the compression type is outside the header".into(),
                    ));
                }
                compression = match head.get(104).ok_or_else(short)? {
                    0 => Compression::Deflate,
                    1 => Compression::Zstd,
                    _ => return Err(Qcow2Error::Feature("an unknown compression type")),
                };
            }
        }
        let header = Header {
            version,
            cluster_bits,
            size,
            l1_size,
            l1_table_offset,
            compression,
        };
        let needed_l1 = size.div_ceil(header.l2_span());
        if u64::from(l1_size) < needed_l1 {
            return Err(Qcow2Error::Invalid(format!(
                "the L1 table has {l1_size} entries, {needed_l1} are needed"
            )));
        }
        if u64::from(l1_size) * 8 > MAX_L1_BYTES {
            return Err(Qcow2Error::Invalid(
                "the L1 table is larger than 32 MiB".into(),
            ));
        }
        if !l1_table_offset.is_multiple_of(header.cluster_size())
            || (l1_size > 0 && l1_table_offset == 0)
        {
            return Err(Qcow2Error::Invalid(
                "the L1 table is not cluster aligned".into(),
            ));
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 3 header for a 1 GiB image with 64 KiB clusters.
    pub(crate) fn v3() -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        h[36..40].copy_from_slice(&2u32.to_be_bytes());
        h[40..48].copy_from_slice(&(3u64 << 16).to_be_bytes());
        h[100..104].copy_from_slice(&112u32.to_be_bytes());
        h
    }

    #[test]
    fn parses_and_refuses() {
        let header = Header::parse(&v3()).expect("v3");
        assert_eq!(header.size, 1 << 30);
        assert_eq!(header.cluster_size(), 65536);
        assert_eq!(header.l2_span(), 512 << 20);
        assert_eq!(header.compression, Compression::Deflate);

        let mut v2 = v3();
        v2[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(Header::parse(&v2[..72]).expect("v2").version, 2);

        type Patch = fn(&mut Vec<u8>);
        let cases: Vec<(Patch, Qcow2Error)> = vec![
            (|h| h[0] = b'X', Qcow2Error::NotQcow2),
            (
                |h| h[4..8].copy_from_slice(&4u32.to_be_bytes()),
                Qcow2Error::Version(4),
            ),
            (
                |h| h[8..16].copy_from_slice(&512u64.to_be_bytes()),
                Qcow2Error::BackingFile,
            ),
            (
                |h| h[32..36].copy_from_slice(&2u32.to_be_bytes()),
                Qcow2Error::Encrypted,
            ),
            (|h| h[79] = 2, Qcow2Error::MarkedCorrupt),
            (|h| h[79] = 4, Qcow2Error::Feature("an external data file")),
            (
                |h| h[79] = 16,
                Qcow2Error::Feature("extended L2 entries (subclusters)"),
            ),
            (
                |h| h[79] = 32,
                Qcow2Error::Feature("unknown incompatible features"),
            ),
            (
                |h| h.truncate(60),
                Qcow2Error::Truncated("the header is incomplete".into()),
            ),
            (
                |h| h[36..40].copy_from_slice(&1u32.to_be_bytes()),
                Qcow2Error::Invalid("the L1 table has 1 entries, 2 are needed".into()),
            ),
            (
                |h| h[20..24].copy_from_slice(&30u32.to_be_bytes()),
                Qcow2Error::Invalid("cluster_bits 30 is outside 9..=21".into()),
            ),
        ];
        for (patch, want) in cases {
            let mut h = v3();
            patch(&mut h);
            assert_eq!(Header::parse(&h), Err(want.clone()), "{want}");
        }

        let mut zstd = v3();
        zstd[79] = 8;
        zstd[104] = 1;
        assert_eq!(
            Header::parse(&zstd).expect("zstd").compression,
            Compression::Zstd
        );
        let mut dirty = v3();
        dirty[79] = 1;
        assert!(Header::parse(&dirty).is_ok());
    }
}

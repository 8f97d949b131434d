//! What an image is, told by its first bytes: a compression (gzip, xz, zstd) around it, a
//! qcow2 container, a disk format the agent does not write, or raw (which has no magic).

/// How many leading bytes [`sniff`] wants (fewer at the end of a short stream is fine).
pub const SNIFF_LEN: usize = 512;

/// What the leading bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gzip,
    Xz,
    Zstd,
    Qcow2,
    /// A format the agent recognises but does not write (named for the error).
    Unsupported(&'static str),
    Raw,
}

impl Kind {
    /// Whether this is a compression around another image.
    pub fn is_compression(self) -> bool {
        matches!(self, Kind::Gzip | Kind::Xz | Kind::Zstd)
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gzip => "gzip",
            Kind::Xz => "xz",
            Kind::Zstd => "zstd",
            Kind::Qcow2 => "qcow2",
            Kind::Unsupported(name) => name,
            Kind::Raw => "raw",
        }
    }
}

/// The kind of image whose first bytes are `head`.
pub fn sniff(head: &[u8]) -> Kind {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, &[0x1f, 0x8b]) {
        Kind::Gzip
    } else if at(0, &[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Kind::Xz
    } else if at(0, &[0x28, 0xb5, 0x2f, 0xfd]) {
        Kind::Zstd
    } else if at(0, b"QFI\xfb") {
        Kind::Qcow2
    } else if at(0, b"KDMV") || at(0, b"# Disk DescriptorFile") {
        Kind::Unsupported("vmdk")
    } else if at(0, b"vhdxfile") {
        Kind::Unsupported("vhdx")
    } else if at(0, b"conectix") {
        Kind::Unsupported("vhd")
    } else if at(64, &[0x7f, 0x10, 0xda, 0xbe]) {
        Kind::Unsupported("vdi")
    } else if at(0, b"QFI\xfd") {
        Kind::Unsupported("qed")
    } else if at(0, b"BZh") && at(4, b"1AY&SY") {
        Kind::Unsupported("bzip2")
    } else if at(0, b"PK\x03\x04") {
        Kind::Unsupported("zip")
    } else {
        Kind::Raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_magic() {
        let mut vdi = vec![0u8; 80];
        vdi[64..68].copy_from_slice(&[0x7f, 0x10, 0xda, 0xbe]);
        let cases: Vec<(Vec<u8>, Kind)> = vec![
            (vec![0x1f, 0x8b, 8, 0], Kind::Gzip),
            (vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0], Kind::Xz),
            (vec![0x28, 0xb5, 0x2f, 0xfd, 0], Kind::Zstd),
            (b"QFI\xfb\0\0\0\x03".to_vec(), Kind::Qcow2),
            (b"KDMV\x01".to_vec(), Kind::Unsupported("vmdk")),
            (b"vhdxfile".to_vec(), Kind::Unsupported("vhdx")),
            (b"conectix".to_vec(), Kind::Unsupported("vhd")),
            (vdi, Kind::Unsupported("vdi")),
            (b"QFI\xfd".to_vec(), Kind::Unsupported("qed")),
            (b"BZh91AY&SY".to_vec(), Kind::Unsupported("bzip2")),
            (vec![0xeb, 0x63, 0x90], Kind::Raw),
            (vec![], Kind::Raw),
            (vec![0x1f], Kind::Raw),
        ];
        for (head, want) in cases {
            assert_eq!(sniff(&head), want, "{head:?}");
        }
        assert!(Kind::Zstd.is_compression());
        assert!(!Kind::Qcow2.is_compression());
    }
}

//! Image checksums: the expected value (given, or found in a checksums file), its algorithm
//! (`md5`, `sha256`, `sha512`, or told by length) and the digest computed as the bytes stream.

use md5::Md5;
use metal3_agent_api::ChecksumType;
use sha2::{Digest, Sha256, Sha512};

/// A checksum algorithm the agent computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The name used in results and messages.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// What the image's digest must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub algorithm: Algorithm,
    /// Lower-case hex.
    pub hex: String,
}

/// Why a checksum cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error(
        "the image checksum {0:?} is not hexadecimal: give the checksum's hex digits or an http(s) URL of a checksums file"
    )]
    NotHex(String),
    #[error(
        "the image checksum has {len} hex digits, which is no md5 (32), sha256 (64) or sha512 (128): check the checksum"
    )]
    UnknownLength { len: usize },
    #[error(
        "the image checksum has {len} hex digits but checksumType is {algorithm} ({want} digits): fix the checksum or its type"
    )]
    WrongLength {
        len: usize,
        algorithm: &'static str,
        want: usize,
    },
    #[error(
        "the checksums file has no line for {image:?}: it must hold `<checksum>  {image}` (sha256sum's format) or a single checksum"
    )]
    NotInFile { image: String },
}

/// The expected digest from the `checksum` and `checksumType` fields; `None` if no checksum
/// was given.
pub fn expected(checksum: &str, ty: ChecksumType) -> Result<Option<Expected>, ChecksumError> {
    let hex = checksum.trim().to_ascii_lowercase();
    if hex.is_empty() {
        return Ok(None);
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ChecksumError::NotHex(shorten(&hex)));
    }
    let by_length = match hex.len() {
        32 => Some(Algorithm::Md5),
        64 => Some(Algorithm::Sha256),
        128 => Some(Algorithm::Sha512),
        _ => None,
    };
    let algorithm = match ty {
        ChecksumType::Auto => by_length.ok_or(ChecksumError::UnknownLength { len: hex.len() })?,
        ChecksumType::Md5 => Algorithm::Md5,
        ChecksumType::Sha256 => Algorithm::Sha256,
        ChecksumType::Sha512 => Algorithm::Sha512,
    };
    if hex.len() != algorithm.hex_len() {
        return Err(ChecksumError::WrongLength {
            len: hex.len(),
            algorithm: algorithm.name(),
            want: algorithm.hex_len(),
        });
    }
    Ok(Some(Expected { algorithm, hex }))
}

/// The checksum for `image` (the image URL's file name) in a checksums file: a line
/// `<hex>  <name>` or `<hex> *<name>` (GNU), `ALGO (<name>) = <hex>` (BSD), or a file whose
/// only content is one checksum.
pub fn from_checksums_file(text: &str, image: &str) -> Result<String, ChecksumError> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if let [only] = lines[..]
        && !only.contains(char::is_whitespace)
    {
        return Ok(only.to_string());
    }
    let names = |name: &str| {
        let name = name.trim().trim_start_matches('*').trim_start_matches("./");
        name == image || name.rsplit('/').next() == Some(image)
    };
    for line in lines {
        if let Some((head, hex)) = line.rsplit_once(") = ")
            && let Some((_, name)) = head.split_once(" (")
            && names(name)
        {
            return Ok(hex.trim().to_string());
        }
        if let Some((hex, name)) = line.split_once(char::is_whitespace)
            && names(name)
        {
            return Ok(hex.to_string());
        }
    }
    Err(ChecksumError::NotInFile {
        image: image.to_string(),
    })
}

fn shorten(s: &str) -> String {
    if s.len() > 40 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(40).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s.to_string()
    }
}

/// A digest being computed over streamed bytes.
pub enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Md5 => Hasher::Md5(Md5::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest in lower-case hex.
    pub fn finish_hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_by_type_and_length() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let cases = [
            (md5, ChecksumType::Auto, Ok(Some(Algorithm::Md5))),
            (sha256, ChecksumType::Auto, Ok(Some(Algorithm::Sha256))),
            (
                &"a".repeat(128),
                ChecksumType::Auto,
                Ok(Some(Algorithm::Sha512)),
            ),
            (md5, ChecksumType::Md5, Ok(Some(Algorithm::Md5))),
            (sha256, ChecksumType::Sha256, Ok(Some(Algorithm::Sha256))),
            ("", ChecksumType::Sha256, Ok(None)),
            ("  ", ChecksumType::Auto, Ok(None)),
            (
                md5,
                ChecksumType::Sha256,
                Err(ChecksumError::WrongLength {
                    len: 32,
                    algorithm: "sha256",
                    want: 64,
                }),
            ),
            (
                "abc",
                ChecksumType::Auto,
                Err(ChecksumError::UnknownLength { len: 3 }),
            ),
            (
                "xyz",
                ChecksumType::Md5,
                Err(ChecksumError::NotHex("xyz".into())),
            ),
        ];
        for (sum, ty, want) in cases {
            let got = expected(sum, ty).map(|e| e.map(|e| e.algorithm));
            assert_eq!(got, want, "{sum} {ty:?}");
        }
        assert_eq!(
            expected(sha256, ChecksumType::Auto)
                .expect("ok")
                .expect("some")
                .hex,
            sha256.to_ascii_lowercase()
        );
    }

    #[test]
    fn checksums_files() {
        let gnu = "abc1  other.img\n# comment\ndef2  image.qcow2\n";
        assert_eq!(
            from_checksums_file(gnu, "image.qcow2").as_deref(),
            Ok("def2")
        );
        let binary = "abc1 *image.raw\n";
        assert_eq!(
            from_checksums_file(binary, "image.raw").as_deref(),
            Ok("abc1")
        );
        let pathy = "abc1  ./images/image.raw\nffff  image.raw.gz\n";
        assert_eq!(
            from_checksums_file(pathy, "image.raw").as_deref(),
            Ok("abc1")
        );
        let bsd = "SHA256 (other) = 1111\nSHA256 (image.raw) = 2222\n";
        assert_eq!(from_checksums_file(bsd, "image.raw").as_deref(), Ok("2222"));
        assert_eq!(
            from_checksums_file("\n  cafe  \n", "x").as_deref(),
            Ok("cafe")
        );
        assert_eq!(
            from_checksums_file(gnu, "missing.img"),
            Err(ChecksumError::NotInFile {
                image: "missing.img".into()
            })
        );
        assert!(from_checksums_file("", "x").is_err());
    }

    #[test]
    fn digests_stream() {
        for (algorithm, empty) in [
            (Algorithm::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
            (
                Algorithm::Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ] {
            assert_eq!(Hasher::new(algorithm).finish_hex(), empty);
        }
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"a");
        h.update(b"bc");
        assert!(h.finish_hex().starts_with("ddaf35a193617aba"));
    }
}

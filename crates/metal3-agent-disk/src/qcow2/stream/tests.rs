use std::io::Write;

use flate2::Compression as Level;
use flate2::write::DeflateEncoder;

use super::*;

/// A disk in memory, filled with 0xAA so zeroing shows.
struct MemDisk(Vec<u8>);

impl Target for MemDisk {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        let end = offset as usize + data.len();
        if end > self.0.len() {
            return Err(SinkError::TooBig {
                needed: end as u64,
                capacity: self.0.len() as u64,
            });
        }
        self.0[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
    fn zero(&mut self, offset: u64, len: u64) -> Result<(), SinkError> {
        self.0[offset as usize..(offset + len) as usize].fill(0);
        Ok(())
    }
}

const CB: u32 = 9;
const CS: usize = 1 << CB;
const L2_ENTRIES: usize = CS / 8;

/// How a virtual cluster is stored.
#[derive(Clone, Copy, PartialEq)]
enum Store {
    Plain,
    Deflated,
    ZeroFlag,
    Unallocated,
}

/// Where the L2 tables go in the file.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// As qemu-img writes: each L2 table before the clusters it maps.
    TablesFirst,
    /// Every data cluster first, the tables at the end.
    TablesLast,
}

/// A version 3 image with 512-byte clusters of `guest` (whose length need not be a whole
/// number of clusters), each cluster stored as `store(index)` says.
fn build(guest: &[u8], store: impl Fn(usize) -> Store, layout: Layout) -> Vec<u8> {
    let clusters = guest.len().div_ceil(CS);
    let l1_entries = clusters.div_ceil(L2_ENTRIES);
    let mut file = vec![0u8; 2 * CS]; // header, L1
    let mut l1 = vec![0u64; l1_entries];
    let mut l2 = vec![vec![0u64; L2_ENTRIES]; l1_entries];
    let alloc = |file: &mut Vec<u8>, bytes: &[u8]| {
        let at = file.len() as u64;
        file.extend_from_slice(bytes);
        file.resize(file.len().div_ceil(CS) * CS, 0);
        at
    };
    let place_tables = |file: &mut Vec<u8>, l1: &mut Vec<u64>| {
        for (i, e) in l1.iter_mut().enumerate() {
            if (i * L2_ENTRIES..((i + 1) * L2_ENTRIES).min(clusters))
                .any(|c| store(c) != Store::Unallocated)
            {
                *e = alloc(file, &[0u8; CS]);
            }
        }
    };
    if layout == Layout::TablesFirst {
        place_tables(&mut file, &mut l1);
    }
    // Compressed clusters are packed back to back at byte offsets, as qemu packs them.
    let mut packed: Vec<u8> = Vec::new();
    let mut packed_at: Vec<(usize, usize, usize)> = Vec::new();
    for c in 0..clusters {
        let mut data = guest[c * CS..((c + 1) * CS).min(guest.len())].to_vec();
        data.resize(CS, 0);
        let entry = match store(c) {
            Store::Plain => alloc(&mut file, &data) | (1 << 63),
            Store::Deflated => {
                let mut enc = DeflateEncoder::new(Vec::new(), Level::best());
                enc.write_all(&data).expect("deflate");
                let z = enc.finish().expect("deflate");
                packed_at.push((c, packed.len(), z.len()));
                packed.extend_from_slice(&z);
                continue;
            }
            Store::ZeroFlag => ZERO,
            Store::Unallocated => 0,
        };
        l2[c / L2_ENTRIES][c % L2_ENTRIES] = entry;
    }
    let base = file.len();
    file.extend_from_slice(&packed);
    file.resize(file.len().div_ceil(CS) * CS, 0);
    for (c, at, len) in packed_at {
        let offset = (base + at) as u64;
        let last_sector = (offset + len as u64 - 1) / 512;
        let extra = last_sector - offset / 512;
        let x = 62 - (CB - 8);
        l2[c / L2_ENTRIES][c % L2_ENTRIES] = COMPRESSED | (extra << x) | offset;
    }
    if layout == Layout::TablesLast {
        place_tables(&mut file, &mut l1);
    }
    for (i, &at) in l1.iter().enumerate() {
        if at != 0 {
            let table: Vec<u8> = l2[i].iter().flat_map(|e| e.to_be_bytes()).collect();
            file[at as usize..at as usize + CS].copy_from_slice(&table);
        }
    }
    let l1_bytes: Vec<u8> = l1
        .iter()
        .flat_map(|e| (e | if *e != 0 { 1 << 63 } else { 0 }).to_be_bytes())
        .collect();
    file[CS..CS + l1_bytes.len()].copy_from_slice(&l1_bytes);
    let h = &mut file[..CS];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[20..24].copy_from_slice(&CB.to_be_bytes());
    h[24..32].copy_from_slice(&(guest.len() as u64).to_be_bytes());
    h[36..40].copy_from_slice(&(l1_entries as u32).to_be_bytes());
    h[40..48].copy_from_slice(&(CS as u64).to_be_bytes());
    h[100..104].copy_from_slice(&104u32.to_be_bytes());
    file
}

/// A guest image: patterned clusters, with the zero-stored ones zero.
fn guest(len: usize, store: impl Fn(usize) -> Store) -> Vec<u8> {
    (0..len)
        .map(|i| match store(i / CS) {
            Store::ZeroFlag | Store::Unallocated => 0,
            _ => (i * 7 % 251) as u8 ^ (i / CS) as u8,
        })
        .collect()
}

fn convert(image: &[u8], disk: usize, chunk: usize, limit: usize) -> Result<Vec<u8>, FeedError> {
    let mut target = MemDisk(vec![0xaa; disk]);
    let mut stream = Qcow2Stream::new(disk as u64, limit);
    for piece in image.chunks(chunk) {
        stream.feed(piece, &mut target)?;
    }
    let size = stream.finish(&mut target)?;
    assert_eq!(size as usize, image_size(image));
    Ok(target.0)
}

fn image_size(image: &[u8]) -> usize {
    let mut a = [0u8; 8];
    a.copy_from_slice(&image[24..32]);
    u64::from_be_bytes(a) as usize
}

fn mixed(c: usize) -> Store {
    match c % 7 {
        0 | 1 | 4 => Store::Plain,
        2 | 5 => Store::Deflated,
        3 => Store::ZeroFlag,
        _ => Store::Unallocated,
    }
}

#[test]
fn converts_every_kind_of_cluster_in_any_chunking() {
    // 150 clusters and a half: three L2 tables, the last partly used, and a partial cluster.
    let len = 150 * CS + 300;
    let want = guest(len, mixed);
    for layout in [Layout::TablesFirst, Layout::TablesLast] {
        let image = build(&want, mixed, layout);
        for chunk in [1, 7, 512, 4096, image.len()] {
            let disk = convert(&image, len + 1000, chunk, 1 << 20).expect("convert");
            let first_bad = (0..len).find(|&i| disk[i] != want[i]);
            assert_eq!(
                first_bad,
                None,
                "chunk {chunk}, tables last: {}",
                layout == Layout::TablesLast
            );
            assert!(
                disk[len..].iter().all(|b| *b == 0xaa),
                "nothing past the virtual size"
            );
        }
    }
}

#[test]
fn unallocated_l2_ranges_read_as_zeros() {
    // The second L2 range has no table at all.
    let store = |c: usize| {
        if (L2_ENTRIES..2 * L2_ENTRIES).contains(&c) {
            Store::Unallocated
        } else {
            Store::Plain
        }
    };
    let len = 3 * L2_ENTRIES * CS;
    let want = guest(len, store);
    let image = build(&want, store, Layout::TablesFirst);
    let disk = convert(&image, len, 4096, 1 << 20).expect("convert");
    assert!(disk == want);
}

#[test]
fn bounded_memory_for_clusters_before_their_table() {
    let len = 150 * CS;
    let want = guest(len, mixed);
    let image = build(&want, mixed, Layout::TablesLast);
    let err = convert(&image, len, 4096, 8 * CS).expect_err("too much to keep");
    assert!(
        err.to_string().contains("before the table that maps them"),
        "{err}"
    );
    // qemu-img's order needs almost nothing kept.
    let image = build(&want, mixed, Layout::TablesFirst);
    assert!(convert(&image, len, 4096, 4 * CS).is_ok());
}

#[test]
fn refuses_images_larger_than_the_disk_before_writing() {
    let len = 20 * CS;
    let image = build(&guest(len, mixed), mixed, Layout::TablesFirst);
    let mut target = MemDisk(vec![0xaa; len - 1]);
    let mut stream = Qcow2Stream::new(len as u64 - 1, 1 << 20);
    let err = stream.feed(&image, &mut target).expect_err("too big");
    assert!(
        matches!(err, FeedError::Sink(SinkError::TooBig { .. })),
        "{err}"
    );
    assert!(target.0.iter().all(|b| *b == 0xaa));
}

#[test]
fn truncated_images_fail() {
    let len = 40 * CS;
    let image = build(&guest(len, mixed), mixed, Layout::TablesFirst);
    for cut in [100, 2 * CS + 10, image.len() - CS] {
        let err = convert(&image[..cut], len, 4096, 1 << 20).expect_err("truncated");
        assert!(
            matches!(err, FeedError::Qcow2(Qcow2Error::Truncated(_))),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn corrupt_tables_fail() {
    let len = 10 * CS;
    let store = |_| Store::Plain;
    let mut image = build(&guest(len, store), store, Layout::TablesFirst);
    // The L2 table is the third cluster; point its first entry past the end of the file.
    image[2 * CS..2 * CS + 8].copy_from_slice(&((1u64 << 63) | (1 << 30)).to_be_bytes());
    let err = convert(&image, len, 4096, 1 << 20).expect_err("past the end");
    assert!(err.to_string().contains("past the end"), "{err}");
    // Two entries naming one cluster.
    let mut image = build(&guest(len, store), store, Layout::TablesFirst);
    let second = image[2 * CS + 8..2 * CS + 16].to_vec();
    image[2 * CS + 16..2 * CS + 24].copy_from_slice(&second);
    let err = convert(&image, len, 4096, 1 << 20).expect_err("shared");
    assert!(err.to_string().contains("claim offset"), "{err}");
}

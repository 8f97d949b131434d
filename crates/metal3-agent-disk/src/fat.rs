//! A FAT16 file system laid out in memory, for the config drive: the boot sector, both FATs,
//! the root directory with the volume label, subdirectories and files, each as a write at an
//! offset of the partition. Pure: the caller writes the pieces. Long names are stored as VFAT
//! long-name entries (every name gets one, so case is kept), short names are unique per
//! directory.

use std::collections::HashSet;

const SECTOR: u64 = 512;
const SECTORS_PER_CLUSTER: u64 = 4;
const CLUSTER: u64 = SECTOR * SECTORS_PER_CLUSTER;
const RESERVED_SECTORS: u64 = 4;
const FATS: u64 = 2;
const ROOT_ENTRIES: u64 = 512;
const ROOT_SECTORS: u64 = ROOT_ENTRIES * 32 / SECTOR;
/// The FAT16 cluster count range.
const MIN_CLUSTERS: u64 = 4085;
const MAX_CLUSTERS: u64 = 65524;
const ATTR_DIR: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_LFN: u8 = 0x0f;
/// 1980-01-01, the FAT epoch: nothing here depends on the time of writing.
const DATE: u16 = (1 << 5) | 1;

/// Why the file system cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FatError {
    #[error("a FAT16 file system needs between 8 MiB and 127 MiB, not {0} bytes")]
    Size(u64),
    #[error("the files do not fit in the file system")]
    Full,
    #[error("the root directory has more than 512 entries")]
    RootFull,
}

/// One write of the laid-out file system: bytes at an offset of the partition.
pub type Piece = (u64, Vec<u8>);

#[derive(Default)]
struct Dir {
    dirs: Vec<(String, Dir)>,
    /// Name, content, first cluster.
    files: Vec<(String, Vec<u8>, u16)>,
    cluster: u16,
}

impl Dir {
    fn insert(&mut self, path: &str, data: &[u8]) {
        match path.split_once('/') {
            Some((head, rest)) => {
                let i = match self.dirs.iter().position(|(n, _)| n == head) {
                    Some(i) => i,
                    None => {
                        self.dirs.push((head.to_string(), Dir::default()));
                        self.dirs.len() - 1
                    }
                };
                self.dirs[i].1.insert(rest, data);
            }
            None => self.files.push((path.to_string(), data.to_vec(), 0)),
        }
    }

    /// Directory entries this directory's table holds (with `.` and `..` unless root).
    fn entry_count(&self, root: bool) -> u64 {
        let names = self
            .dirs
            .iter()
            .map(|(n, _)| n)
            .chain(self.files.iter().map(|(n, ..)| n));
        names.map(|n| lfn_entries(n) + 1).sum::<u64>() + if root { 1 } else { 2 }
    }
}

fn lfn_entries(name: &str) -> u64 {
    (name.encode_utf16().count() as u64).div_ceil(13)
}

/// Lays out a FAT16 file system of `len` bytes labelled `label` holding `files` (paths with
/// `/`, directories made as needed). `hidden_sectors` is the partition's first sector.
pub fn layout(
    len: u64,
    hidden_sectors: u32,
    volume_id: u32,
    label: &str,
    files: &[(&str, &[u8])],
) -> Result<Vec<Piece>, FatError> {
    let total = len / SECTOR;
    let fat_sectors = ((total / SECTORS_PER_CLUSTER + 2) * 2).div_ceil(SECTOR);
    let data_start = RESERVED_SECTORS + FATS * fat_sectors + ROOT_SECTORS;
    let clusters = total.saturating_sub(data_start) / SECTORS_PER_CLUSTER;
    if !(MIN_CLUSTERS..=MAX_CLUSTERS).contains(&clusters) {
        return Err(FatError::Size(len));
    }
    let mut root = Dir::default();
    for (path, data) in files {
        root.insert(path, data);
    }
    if root.entry_count(true) > ROOT_ENTRIES {
        return Err(FatError::RootFull);
    }
    let mut pieces = Vec::new();
    let cluster_offset = |c: u16| (data_start + (u64::from(c) - 2) * SECTORS_PER_CLUSTER) * SECTOR;
    let mut fat = Fat::new(clusters);
    assign(&mut root, true, &mut fat)?;
    let mut root_table = Vec::new();
    root_table.extend(short_entry(&sfn_label(label), ATTR_VOLUME, 0, 0));
    write_dir(&root, &mut root_table, &mut pieces, &cluster_offset);
    root_table.resize((ROOT_SECTORS * SECTOR) as usize, 0);
    let fat_bytes: Vec<u8> = fat
        .table
        .iter()
        .flat_map(|e| e.to_le_bytes())
        .chain(std::iter::repeat(0))
        .take((fat_sectors * SECTOR) as usize)
        .collect();
    let boot = boot_sector(total, fat_sectors, hidden_sectors, volume_id, label);
    pieces.push((0, boot));
    for i in 0..FATS {
        pieces.push((
            (RESERVED_SECTORS + i * fat_sectors) * SECTOR,
            fat_bytes.clone(),
        ));
    }
    pieces.push(((RESERVED_SECTORS + FATS * fat_sectors) * SECTOR, root_table));
    Ok(pieces)
}

/// The file allocation table being filled: clusters are given out in order.
struct Fat {
    table: Vec<u16>,
    next: u64,
}

impl Fat {
    fn new(clusters: u64) -> Self {
        let mut table = vec![0u16; (clusters + 2) as usize];
        table[0] = 0xfff8;
        table[1] = 0xffff;
        Fat { table, next: 2 }
    }

    /// A chain of clusters for `bytes`; its first cluster (0 for nothing).
    fn alloc(&mut self, bytes: u64) -> Result<u16, FatError> {
        let n = bytes.div_ceil(CLUSTER);
        if n == 0 {
            return Ok(0);
        }
        let first = self.next;
        if first + n > self.table.len() as u64 {
            return Err(FatError::Full);
        }
        for c in first..first + n {
            self.table[c as usize] = if c + 1 == first + n {
                0xffff
            } else {
                (c + 1) as u16
            };
        }
        self.next += n;
        Ok(first as u16)
    }
}

/// Gives every subdirectory and file its clusters (each contiguous), depth first.
fn assign(dir: &mut Dir, root: bool, fat: &mut Fat) -> Result<(), FatError> {
    if !root {
        dir.cluster = fat.alloc((dir.entry_count(false) * 32).max(1))?;
    }
    for (_, sub) in &mut dir.dirs {
        assign(sub, false, fat)?;
    }
    for (_, data, cluster) in &mut dir.files {
        *cluster = fat.alloc(data.len() as u64)?;
    }
    Ok(())
}

/// Appends `dir`'s entries to `table` and adds the pieces of its subdirectories and files.
fn write_dir(dir: &Dir, table: &mut Vec<u8>, pieces: &mut Vec<Piece>, at: &dyn Fn(u16) -> u64) {
    let mut taken = HashSet::new();
    for (name, sub) in &dir.dirs {
        named_entry(table, name, &mut taken, ATTR_DIR, sub.cluster, 0);
        let mut sub_table = Vec::new();
        sub_table.extend(short_entry(b".          ", ATTR_DIR, sub.cluster, 0));
        sub_table.extend(short_entry(b"..         ", ATTR_DIR, dir.cluster, 0));
        write_dir(sub, &mut sub_table, pieces, at);
        sub_table.resize(sub_table.len().next_multiple_of(CLUSTER as usize), 0);
        pieces.push((at(sub.cluster), sub_table));
    }
    for (name, data, cluster) in &dir.files {
        named_entry(
            table,
            name,
            &mut taken,
            ATTR_ARCHIVE,
            *cluster,
            data.len() as u32,
        );
        if *cluster != 0 {
            pieces.push((at(*cluster), data.clone()));
        }
    }
}

/// The long-name entries and the short entry of `name`.
fn named_entry(
    table: &mut Vec<u8>,
    name: &str,
    taken: &mut HashSet<[u8; 11]>,
    attr: u8,
    cluster: u16,
    size: u32,
) {
    let sfn = short_name(name, taken);
    let checksum = sfn.iter().fold(0u8, |sum, b| {
        (sum >> 1).wrapping_add(sum << 7).wrapping_add(*b)
    });
    let units: Vec<u16> = name.encode_utf16().collect();
    let count = units.len().div_ceil(13);
    for seq in (1..=count).rev() {
        let mut chars = [0xffffu16; 13];
        for (i, c) in chars.iter_mut().enumerate() {
            let k = (seq - 1) * 13 + i;
            if k < units.len() {
                *c = units[k];
            } else if k == units.len() {
                *c = 0;
            }
        }
        let mut e = [0u8; 32];
        e[0] = seq as u8 | if seq == count { 0x40 } else { 0 };
        e[11] = ATTR_LFN;
        e[13] = checksum;
        for (i, c) in chars.iter().enumerate() {
            let at = match i {
                0..=4 => 1 + 2 * i,
                5..=10 => 14 + 2 * (i - 5),
                _ => 28 + 2 * (i - 11),
            };
            e[at..at + 2].copy_from_slice(&c.to_le_bytes());
        }
        table.extend_from_slice(&e);
    }
    table.extend(short_entry(&sfn, attr, cluster, size));
}

/// A unique 8.3 name: the name itself upper-cased when it fits, else `BASE~N.EXT`.
fn short_name(name: &str, taken: &mut HashSet<[u8; 11]>) -> [u8; 11] {
    let clean = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(|b| *b != b'.' && *b != b' ')
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"!#$%&'()-@^_`{}~".contains(&b) {
                    b.to_ascii_uppercase()
                } else {
                    b'_'
                }
            })
            .collect()
    };
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => (clean(b), clean(e)),
        _ => (clean(name), Vec::new()),
    };
    let mut sfn = [b' '; 11];
    for (i, b) in ext.iter().take(3).enumerate() {
        sfn[8 + i] = *b;
    }
    if base.len() <= 8 && ext.len() <= 3 && !base.is_empty() {
        sfn[..base.len()].copy_from_slice(&base);
        if taken.insert(sfn) {
            return sfn;
        }
    }
    for n in 1.. {
        let tail = format!("~{n}");
        let keep = base.len().min(8 - tail.len());
        sfn[..8].fill(b' ');
        sfn[..keep].copy_from_slice(&base[..keep]);
        sfn[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
        if taken.insert(sfn) {
            break;
        }
    }
    sfn
}

fn sfn_label(label: &str) -> [u8; 11] {
    let mut l = [b' '; 11];
    for (d, s) in l.iter_mut().zip(label.bytes()) {
        *d = s;
    }
    l
}

fn short_entry(name: &[u8; 11], attr: u8, cluster: u16, size: u32) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(name);
    e[11] = attr;
    if attr != ATTR_VOLUME {
        e[16..18].copy_from_slice(&DATE.to_le_bytes());
        e[18..20].copy_from_slice(&DATE.to_le_bytes());
    }
    e[24..26].copy_from_slice(&DATE.to_le_bytes());
    e[26..28].copy_from_slice(&cluster.to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    e
}

fn boot_sector(total: u64, fat_sectors: u64, hidden: u32, volume_id: u32, label: &str) -> Vec<u8> {
    let mut b = vec![0u8; SECTOR as usize];
    b[..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
    b[3..11].copy_from_slice(b"METAL3  ");
    b[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
    b[13] = SECTORS_PER_CLUSTER as u8;
    b[14..16].copy_from_slice(&(RESERVED_SECTORS as u16).to_le_bytes());
    b[16] = FATS as u8;
    b[17..19].copy_from_slice(&(ROOT_ENTRIES as u16).to_le_bytes());
    if let Ok(small) = u16::try_from(total) {
        b[19..21].copy_from_slice(&small.to_le_bytes());
    } else {
        b[32..36].copy_from_slice(&(total as u32).to_le_bytes());
    }
    b[21] = 0xf8;
    b[22..24].copy_from_slice(&(fat_sectors as u16).to_le_bytes());
    b[24..26].copy_from_slice(&32u16.to_le_bytes());
    b[26..28].copy_from_slice(&64u16.to_le_bytes());
    b[28..32].copy_from_slice(&hidden.to_le_bytes());
    b[36] = 0x80;
    b[38] = 0x29;
    b[39..43].copy_from_slice(&volume_id.to_le_bytes());
    b[43..54].copy_from_slice(&sfn_label(label));
    b[54..62].copy_from_slice(b"FAT16   ");
    // Not bootable: the boot code halts.
    b[62..64].copy_from_slice(&[0xf4, 0xeb]);
    b[64] = 0xfd;
    b[510..512].copy_from_slice(&[0x55, 0xaa]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_unique_and_upper_case() {
        let mut taken = HashSet::new();
        assert_eq!(&short_name("latest", &mut taken), b"LATEST     ");
        assert_eq!(&short_name("meta_data.json", &mut taken), b"META_D~1JSO");
        assert_eq!(&short_name("meta_data.jsonx", &mut taken), b"META_D~2JSO");
        assert_eq!(&short_name("LATEST", &mut taken), b"LATEST~1   ");
        assert_eq!(&short_name("user data+1", &mut taken), b"USERDA~1   ");
        assert_eq!(&short_name(".hidden", &mut taken), b"HIDDEN     ");
    }

    #[test]
    fn sizes_and_room() {
        let files: &[(&str, &[u8])] = &[("a/b", b"x")];
        assert_eq!(
            layout(4 << 20, 0, 1, "l", files),
            Err(FatError::Size(4 << 20))
        );
        assert_eq!(
            layout(200 << 20, 0, 1, "l", files),
            Err(FatError::Size(200 << 20))
        );
        let pieces = layout(64 << 20, 2048, 7, "config-2", files).expect("layout");
        let boot = &pieces.iter().find(|(o, _)| *o == 0).expect("boot").1;
        assert_eq!(&boot[43..54], b"config-2   ");
        assert_eq!(&boot[54..62], b"FAT16   ");
        let big = vec![0u8; 20 << 20];
        let files: &[(&str, &[u8])] = &[("big", &big)];
        assert_eq!(layout(16 << 20, 0, 1, "l", files), Err(FatError::Full));
        let names: Vec<String> = (0..600).map(|i| format!("f{i}")).collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert_eq!(layout(64 << 20, 0, 1, "l", &many), Err(FatError::RootFull));
    }
}

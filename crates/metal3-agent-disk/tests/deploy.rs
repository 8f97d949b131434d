//! Writing images to file-disks over a loopback HTTP server: the VM test images (raw and
//! qcow2, MBR and GPT) with checksums files and config drives, compressed raw images, and
//! qcow2 images qemu-img makes in every flavour, compared byte for byte.

mod common;

use std::fs;
use std::io::Write;
use std::process::Command;

use common::*;
use metal3_agent_api::ImageFormat;
use metal3_agent_disk::{Options, deploy, deploy_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_images_with_checksums_files_and_config_drives() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    // Each image with one of its checksums files (md5, sha256, sha512) or the checksum itself.
    let cases = [
        ("test-bios.raw", "sha256", false),
        ("test-bios.qcow2", "md5", false),
        ("test-uefi.raw", "sha512", false),
        ("test-uefi.qcow2", "sha256", true),
    ];
    for (image, sums, literal) in cases {
        let url = server.add(image, Served::File(images.join(image)));
        let sums_file = images.join(format!("{image}.{sums}"));
        let checksum = if literal {
            fs::read_to_string(&sums_file)
                .expect("sums")
                .split_whitespace()
                .next()
                .expect("hex")
                .to_string()
        } else {
            server.add(&format!("{image}.{sums}"), Served::File(sums_file))
        };
        let target = disk(dir.path(), &image.replace('.', "-"), 8 * GIB);
        let reports = Reports::default();
        let result = deploy(
            &deploy_of(&url, &checksum, true),
            &target,
            &reports.callback(),
        )
        .await
        .unwrap_or_else(|e| panic!("{image}: {e}"));
        assert_eq!(result.root_device, target.name);
        assert_eq!(result.bytes_written, 48 * MIB, "{image}");
        assert!(
            result.checksum.starts_with(&format!("{sums}:")),
            "{image}: {}",
            result.checksum
        );
        assert!(result.config_drive);

        // The image's file system partition is as in the raw image.
        let raw = images.join(image.replace("qcow2", "raw"));
        let original = fs::read(&raw).expect("raw");
        let fs_part = MIB as usize..(47 * MIB) as usize;
        assert!(
            read(&target, MIB, 46 * MIB) == original[fs_part],
            "{image}: partition 1 differs"
        );
        // The config drive is there, for Linux and for cloud-init.
        let (label, files) = config_drive_files(&target);
        assert_eq!(label, "config-2");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["meta_data.json", "network_data.json", "user_data"]);
        let part = config_drive_extent(&target);
        assert!(part.len <= 64 * MIB && part.start + part.len <= target.size);
        let blkid = Command::new("blkid")
            .args(["-p", "-o", "export", "-O", &part.start.to_string()])
            .arg(&target.path)
            .output()
            .expect("blkid");
        let blkid = String::from_utf8_lossy(&blkid.stdout);
        assert!(
            blkid.contains("LABEL=config-2") && blkid.contains("TYPE=vfat"),
            "{blkid}"
        );
        let verify = Command::new("sfdisk")
            .arg("--verify")
            .arg(&target.path)
            .output()
            .expect("sfdisk");
        assert!(
            verify.status.success(),
            "{image}: {}",
            String::from_utf8_lossy(&verify.stdout)
        );

        let all = reports.all();
        assert_eq!(
            all.first().map(|(s, _)| s.as_str()),
            Some("downloading image")
        );
        let last = &all.last().expect("reports").1;
        assert!(last.bytes_done >= 48 * MIB, "{image}: {last:?}");
        assert_eq!(last.bytes_total, Some(48 * MIB));
        fs::remove_file(&target.path).expect("rm");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_images_without_config_drive_are_written_exactly() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    for image in ["test-bios.qcow2", "test-uefi.raw"] {
        let url = server.add(image, Served::File(images.join(image)));
        let target = disk(dir.path(), "vda", 4 * GIB + MIB);
        // Old data where the image has zeros must not survive.
        fs::OpenOptions::new()
            .write(true)
            .open(&target.path)
            .expect("open")
            .write_all(&vec![0xee; 48 * MIB as usize])
            .expect("fill");
        let mut d = deploy_of(&url, "", false);
        d.image.format = if image.ends_with("qcow2") {
            ImageFormat::Qcow2
        } else {
            ImageFormat::Raw
        };
        let result = deploy(&d, &target, &|_: &str, _| {}).await.expect("deploy");
        assert_eq!(result.checksum, "");
        assert!(!result.config_drive);
        let original = fs::read(images.join(image.replace("qcow2", "raw"))).expect("raw");
        assert!(read(&target, 0, 48 * MIB) == original, "{image} differs");
        assert!(zeros(&target, 48 * MIB, MIB), "past the image");
    }
}

/// A raw disk image of `len` bytes: a GPT from sfdisk, patterned data, zero stretches.
fn pattern_image(path: &std::path::Path, len: u64) {
    let file = fs::File::create(path).expect("create");
    file.set_len(len).expect("len");
    drop(file);
    let mut sfdisk = Command::new("sfdisk")
        .arg("--quiet")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("sfdisk");
    sfdisk
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"label: gpt\nstart=2048, type=U\n")
        .expect("script");
    assert!(sfdisk.wait().expect("sfdisk").success());
    let mut data = fs::read(path).expect("read");
    let mut x: u32 = 0x1234_5678;
    for (i, chunk) in data.chunks_mut(64 << 10).enumerate().skip(16) {
        // Every third 64 KiB stays zero; the rest is noise that compresses a little.
        if i % 3 == 0 || (len as usize) - i * (64 << 10) <= (1 << 20) {
            continue;
        }
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = (x % 16) as u8;
        }
    }
    fs::write(path, data).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_raw_and_every_qcow2_flavour() {
    let dir = tempfile::tempdir().expect("tmp");
    let raw = dir.path().join("image.raw");
    let len = 16 * MIB;
    pattern_image(&raw, len);
    let original = fs::read(&raw).expect("raw");

    // Compressed raw: gzip and zstd by pure-Rust encoders, xz by the xz tool (multi-threaded,
    // so several blocks).
    let gz = dir.path().join("image.raw.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&original).expect("gzip");
    fs::write(&gz, enc.finish().expect("gzip")).expect("write gz");
    let zst = dir.path().join("image.raw.zst");
    let z = ruzstd::encoding::compress_to_vec(
        &original[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    // Two frames: the image split in halves, as multi-threaded zstd writes.
    let half = original.len() / 2;
    let mut two = ruzstd::encoding::compress_to_vec(
        &original[..half],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    two.extend(ruzstd::encoding::compress_to_vec(
        &original[half..],
        ruzstd::encoding::CompressionLevel::Fastest,
    ));
    fs::write(&zst, z).expect("write zst");
    let zst2 = dir.path().join("image2.raw.zst");
    fs::write(&zst2, two).expect("write zst2");
    let xz = dir.path().join("image.raw.xz");
    let out = Command::new("xz")
        .args(["-T2", "--block-size=8MiB", "-1", "-k", "-c"])
        .arg(&raw)
        .output()
        .expect("xz (Debian package xz-utils) must be installed");
    assert!(out.status.success());
    fs::write(&xz, out.stdout).expect("write xz");

    // qcow2: plain, deflate-compressed, zstd-compressed, version 2, and small clusters.
    let qcow2 = |name: &str, opts: &[&str]| {
        let path = dir.path().join(name);
        let mut args = vec!["convert", "-f", "raw", "-O", "qcow2"];
        args.extend_from_slice(opts);
        let (src, dst) = (raw.display().to_string(), path.display().to_string());
        args.push(&src);
        args.push(&dst);
        qemu_img(&args);
        path
    };
    let images = [
        ("gz", gz),
        ("zst", zst),
        ("zst, two frames", zst2),
        ("xz", xz),
        ("qcow2", qcow2("plain.qcow2", &[])),
        ("qcow2 -c", qcow2("deflate.qcow2", &["-c"])),
        (
            "qcow2 zstd",
            qcow2("zstd.qcow2", &["-c", "-o", "compression_type=zstd"]),
        ),
        ("qcow2 v2", qcow2("v2.qcow2", &["-o", "compat=0.10"])),
        (
            "qcow2 4k clusters",
            qcow2("small.qcow2", &["-c", "-o", "cluster_size=4096"]),
        ),
        (
            "qcow2 metadata preallocated",
            qcow2("prealloc.qcow2", &["-o", "preallocation=metadata"]),
        ),
    ];
    let server = Server::start().await;
    let options = Options::new().expect("options");
    for (what, path) in images {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let url = server.add(&name, Served::File(path.clone()));
        let checksum = sha256_file(&path);
        let target = disk(dir.path(), "disk", 8 * GIB);
        fs::OpenOptions::new()
            .write(true)
            .open(&target.path)
            .expect("open")
            .write_all(&vec![0xee; len as usize])
            .expect("fill");
        let result = deploy_with(
            &options,
            &deploy_of(&url, &checksum, true),
            &target,
            &|_: &str, _| {},
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(result.bytes_written, len, "{what}");
        assert_eq!(result.checksum, format!("sha256:{checksum}"), "{what}");
        // Everything but the table (which gained the config drive) is the original.
        let written = read(&target, 0, len);
        let first_bad = (MIB as usize..(len - MIB) as usize).find(|&i| written[i] != original[i]);
        assert_eq!(first_bad, None, "{what}");
        let (label, _) = config_drive_files(&target);
        assert_eq!(label, "config-2", "{what}");
        fs::remove_file(&target.path).expect("rm");
    }
}

//! Bad input gets a clear error and never a half-written disk: wrong checksums, missing and
//! unreachable images, images larger than the disk, unknown formats, broken downloads, and
//! root device hints no disk matches.

mod common;

use std::fs;

use common::*;
use metal3_agent_api::{ImageFormat, RootDeviceHints};
use metal3_agent_disk::checksum::ChecksumError;
use metal3_agent_disk::qcow2::Qcow2Error;
use metal3_agent_disk::{DeployError, HintError, clean_metadata, deploy, select_root};

/// The disk holds no partition table and no signature at either end.
fn assert_wiped(target: &metal3_agent_disk::BlockDevice) {
    assert!(
        table(target).is_none(),
        "{}: a partition table is left",
        target.name
    );
    assert!(zeros(target, 0, MIB), "{}: first MiB", target.name);
    assert!(
        zeros(target, target.size - MIB, MIB),
        "{}: last MiB",
        target.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_checksums_wipe_the_disk() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    for image in ["test-uefi.raw", "test-bios.qcow2"] {
        let url = server.add(image, Served::File(images.join(image)));
        let target = disk(dir.path(), "vda", 8 * GIB);
        let wrong = "0".repeat(64);
        let err = deploy(&deploy_of(&url, &wrong, true), &target, &|_: &str, _| {})
            .await
            .expect_err("mismatch");
        assert!(err.wiped(), "{err}");
        assert!(
            matches!(
                cause(&err),
                DeployError::Mismatch {
                    algorithm: "sha256",
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("checksum mismatch: the image's sha256 is "),
            "{text}"
        );
        assert!(
            text.ends_with("(what was written to the disk was wiped)"),
            "{text}"
        );
        assert_wiped(&target);
        // The image's own backup GPT (at the image's end) is gone too.
        assert!(zeros(&target, 47 * MIB, MIB), "{image}: the image's end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_unreachable_and_unlisted_images() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let target = disk(dir.path(), "vda", 8 * GIB);
    let missing = format!("{}/nope.qcow2", server.base);
    let err = deploy(&deploy_of(&missing, "", false), &target, &|_: &str, _| {})
        .await
        .expect_err("404");
    assert_eq!(
        err.to_string(),
        format!("{missing} answered 404 Not Found: check the URL")
    );

    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let url = format!("http://user:secret@{closed}/image.raw?token=abc");
    let err = deploy(&deploy_of(&url, "", false), &target, &|_: &str, _| {})
        .await
        .expect_err("unreachable");
    assert!(matches!(err, DeployError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach http://{closed}/image.raw: ")),
        "{text}"
    );
    assert!(
        !text.contains("secret") && !text.contains("token"),
        "{text}"
    );

    // Not http(s).
    let err = deploy(
        &deploy_of("file:///etc/passwd", "", false),
        &target,
        &|_: &str, _| {},
    )
    .await
    .expect_err("file URL");
    assert!(matches!(err, DeployError::BadUrl { .. }), "{err}");

    // A checksums file without the image's line, and a missing checksums file.
    let url = server.add("test-bios.raw", Served::File(images.join("test-bios.raw")));
    let sums = server.add("SHA256SUMS", Served::Bytes("abc  other.raw\n".into()));
    let err = deploy(&deploy_of(&url, &sums, false), &target, &|_: &str, _| {})
        .await
        .expect_err("not listed");
    assert!(
        matches!(err, DeployError::Checksum(ChecksumError::NotInFile { .. })),
        "{err}"
    );
    let err = deploy(
        &deploy_of(&url, &format!("{}/MISSING", server.base), false),
        &target,
        &|_: &str, _| {},
    )
    .await
    .expect_err("no sums");
    assert!(matches!(err, DeployError::NotFound { .. }), "{err}");
    // Nothing was written.
    assert!(zeros(&target, 0, 48 * MIB));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_larger_than_the_disk() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let small = disk(dir.path(), "vdb", 32 * MIB);
    // Raw with a length, and qcow2 with its virtual size: refused before any write.
    for image in ["test-bios.raw", "test-uefi.qcow2"] {
        let url = server.add(image, Served::File(images.join(image)));
        let err = deploy(&deploy_of(&url, "", false), &small, &|_: &str, _| {})
            .await
            .expect_err("too big");
        assert!(!err.wiped(), "{image}: nothing was written: {err}");
        assert!(
            matches!(err, DeployError::TooBig { needed, capacity, .. } if needed == 48 * MIB && capacity == 32 * MIB),
            "{image}: {err}"
        );
        assert!(zeros(&small, 0, 32 * MIB), "{image}");
    }
    // Compressed raw: found out while writing, then wiped.
    let raw = fs::read(images.join("test-bios.raw")).expect("raw");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &raw).expect("gzip");
    let url = server.add(
        "test-bios.raw.gz",
        Served::Bytes(enc.finish().expect("gzip").into()),
    );
    let err = deploy(&deploy_of(&url, "", false), &small, &|_: &str, _| {})
        .await
        .expect_err("too big");
    assert!(err.wiped(), "{err}");
    assert!(matches!(cause(&err), DeployError::TooBig { .. }), "{err}");
    assert_wiped(&small);
    // Room for the image but not for the config drive after it.
    let snug = disk(dir.path(), "vdc", 64 * MIB);
    let url = server.add("test-uefi.raw", Served::File(images.join("test-uefi.raw")));
    let err = deploy(&deploy_of(&url, "", true), &snug, &|_: &str, _| {})
        .await
        .expect_err("no room for the config drive");
    assert!(
        err.to_string().starts_with("no room for the config drive"),
        "{err}"
    );
    assert_wiped(&snug);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_mismatched_formats() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let target = disk(dir.path(), "vda", 8 * GIB);
    let mut vmdk = b"KDMV\x01\x00\x00\x00".to_vec();
    vmdk.resize(4096, 0);
    let url = server.add("image.vmdk", Served::Bytes(vmdk.into()));
    let err = deploy(&deploy_of(&url, "", false), &target, &|_: &str, _| {})
        .await
        .expect_err("vmdk");
    assert_eq!(
        err.to_string(),
        "the image is in vmdk format, which the agent does not write: convert it to raw or qcow2"
    );
    // A qcow2 image given as raw, and a raw one given as qcow2.
    let qcow2 = server.add(
        "test-bios.qcow2",
        Served::File(images.join("test-bios.qcow2")),
    );
    let raw = server.add("test-bios.raw", Served::File(images.join("test-bios.raw")));
    for (url, given, found) in [
        (&qcow2, ImageFormat::Raw, "qcow2"),
        (&raw, ImageFormat::Qcow2, "raw"),
    ] {
        let mut d = deploy_of(url, "", false);
        d.image.format = given;
        let err = deploy(&d, &target, &|_: &str, _| {})
            .await
            .expect_err("mismatch");
        assert!(
            matches!(err, DeployError::FormatMismatch { found: f, .. } if f == found),
            "{err}"
        );
    }
    // A qcow2 image with a backing file.
    let overlay = dir.path().join("overlay.qcow2");
    let base = images.join("test-bios.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        &base.display().to_string(),
        &overlay.display().to_string(),
    ]);
    let url = server.add("overlay.qcow2", Served::File(overlay));
    let err = deploy(&deploy_of(&url, "", false), &target, &|_: &str, _| {})
        .await
        .expect_err("backing file");
    assert!(
        matches!(err, DeployError::Qcow2(Qcow2Error::BackingFile)),
        "{err}"
    );
    assert!(zeros(&target, 0, 48 * MIB), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_downloads_wipe_the_disk() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    for image in ["test-uefi.raw", "test-uefi.qcow2"] {
        let url = server.add(image, Served::Broken(images.join(image), 12 * MIB as usize));
        let target = disk(dir.path(), "vda", 8 * GIB);
        let err = deploy(&deploy_of(&url, "", true), &target, &|_: &str, _| {})
            .await
            .expect_err("broken");
        assert!(err.wiped(), "{image}: {err}");
        assert!(
            matches!(cause(&err), DeployError::Download { .. }),
            "{image}: {err}"
        );
        assert_wiped(&target);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_that_match_no_disk_and_cleaning_after_a_deploy() {
    let images = vm_images();
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut disks = vec![
        disk(dir.path(), "vda", 8 * GIB),
        disk(dir.path(), "vdb", 10 * GIB),
    ];
    disks[1].serial = "SECOND".into();
    let hints = RootDeviceHints {
        serial_number: "THIRD".into(),
        ..RootDeviceHints::default()
    };
    let err = select_root(&disks, Some(&hints)).expect_err("no match");
    assert!(matches!(err, HintError::NoMatch { .. }));
    assert!(
        err.to_string()
            .contains("/dev/vdb has serialNumber \"SECOND\""),
        "{err}"
    );
    // The hint for the second disk picks it; the image goes there.
    let hints = RootDeviceHints {
        serial_number: "second".into(),
        ..RootDeviceHints::default()
    };
    let root = select_root(&disks, Some(&hints)).expect("match").clone();
    assert_eq!(root.name, "/dev/vdb");
    let url = server.add(
        "test-uefi.qcow2",
        Served::File(images.join("test-uefi.qcow2")),
    );
    deploy(&deploy_of(&url, "", true), &root, &|_: &str, _| {})
        .await
        .expect("deploy");
    assert!(table(&root).is_some());
    assert!(zeros(&disks[0], 0, MIB), "the other disk is untouched");
    // Metadata cleaning leaves no table and no file system signature.
    clean_metadata(&disks).expect("clean");
    for d in &disks {
        assert_wiped(d);
    }
    assert!(zeros(&root, MIB, MIB), "the file system's signature");
}

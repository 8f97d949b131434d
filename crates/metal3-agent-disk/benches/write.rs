//! Raw image write throughput: the agent's deploy (HTTP download over loopback, sha256 as the
//! bytes stream, 4 MiB positional writes, fsync) against two copies of the same file to a file
//! on the same file system plus fsync, measured in the same run: `std::io::copy` (which Linux
//! does in the kernel, `copy_file_range`) and a `dd bs=4M`-style read/write loop. The issue's
//! target (≥ 0.9× `dd` on a VM's disk) is measured on a VM; this is the host-side ratio, with
//! the image served over loopback by the same process (so on few cores it competes).
//!
//! `cargo bench -p metal3-agent-disk --bench write` (env: WRITE_BENCH_MIB, default 512;
//! WRITE_BENCH_RUNS, default 3). Prints a Markdown table of medians.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use axum::body::Body;
use axum::http::header;
use axum::response::IntoResponse;
use metal3_agent_api::{ChecksumType, Deploy, ImageFormat, ImageSource};
use metal3_agent_disk::{BlockDevice, Options, deploy_with};
use sha2::{Digest, Sha256};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A file of `mib` MiB of noise (incompressible, so nothing is cheaper than it should be).
fn make_image(path: &Path, mib: u64) -> String {
    let mut out = BufWriter::with_capacity(4 << 20, File::create(path).expect("create"));
    let mut hash = Sha256::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        hash.update(&block);
        out.write_all(&block).expect("write");
    }
    out.flush().expect("flush");
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn copy_once(src: &Path, dst: &Path) -> f64 {
    let _ = std::fs::remove_file(dst);
    let start = Instant::now();
    let mut from = File::open(src).expect("open");
    let mut to = File::create(dst).expect("create");
    std::io::copy(&mut from, &mut to).expect("copy");
    to.sync_all().expect("sync");
    start.elapsed().as_secs_f64()
}

/// `dd bs=4M`: read into a buffer, write it out.
fn dd_once(src: &Path, dst: &Path) -> f64 {
    use std::io::Read;
    let _ = std::fs::remove_file(dst);
    let start = Instant::now();
    let mut from = File::open(src).expect("open");
    let mut to = File::create(dst).expect("create");
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = from.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).expect("write");
    }
    to.sync_all().expect("sync");
    start.elapsed().as_secs_f64()
}

async fn deploy_once(options: &Options, url: &str, sha: &str, dst: &Path, size: u64) -> f64 {
    let _ = std::fs::remove_file(dst);
    File::create(dst)
        .expect("disk")
        .set_len(size + (1 << 30))
        .expect("len");
    let target = BlockDevice {
        name: "/dev/bench".into(),
        path: dst.to_path_buf(),
        size: size + (1 << 30),
        ..BlockDevice::default()
    };
    let deploy = Deploy {
        image: ImageSource {
            url: url.to_string(),
            format: ImageFormat::Raw,
            checksum: sha.to_string(),
            checksum_type: ChecksumType::Sha256,
        },
        root_device_hints: None,
        config_drive: None,
    };
    let start = Instant::now();
    let result = deploy_with(options, &deploy, &target, &|_: &str, _| {})
        .await
        .expect("deploy");
    assert_eq!(result.bytes_written, size);
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mib = env_or("WRITE_BENCH_MIB", 512);
    let runs = env_or("WRITE_BENCH_RUNS", 3).max(1);
    let dir = tempfile::tempdir().expect("tmp");
    let image = dir.path().join("image.raw");
    let sha = make_image(&image, mib);
    let size = mib << 20;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/image.raw", listener.local_addr().expect("addr"));
    let served = image.clone();
    let app = axum::Router::new().fallback(move || {
        let path = served.clone();
        async move {
            let file = tokio::fs::File::open(&path).await.expect("open");
            let len = file.metadata().await.expect("meta").len();
            let body =
                Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
            ([(header::CONTENT_LENGTH, len.to_string())], body).into_response()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let options = Options::new().expect("options");
    let (mut copies, mut dds, mut deploys) = (Vec::new(), Vec::new(), Vec::new());
    let dst = dir.path().join("disk");
    // Alternate, so no side gets a warmer page cache.
    for _ in 0..runs {
        copies.push(copy_once(&image, &dst));
        dds.push(dd_once(&image, &dst));
        deploys.push(deploy_once(&options, &url, &sha, &dst, size).await);
    }
    let (copy, dd, ours) = (median(copies), median(dds), median(deploys));
    let rate = |s: f64| mib as f64 / s;
    println!(
        "| raw image, {mib} MiB, median of {runs} | seconds | MiB/s | agent's throughput / this |"
    );
    println!("|---|---|---|---|");
    println!(
        "| `std::io::copy` file to file + fsync | {copy:.2} | {:.0} | {:.2}× |",
        rate(copy),
        copy / ours
    );
    println!(
        "| read/write loop, 4 MiB buffer (`dd bs=4M`) + fsync | {dd:.2} | {:.0} | {:.2}× |",
        rate(dd),
        dd / ours
    );
    println!(
        "| agent deploy: HTTP + sha256 + write + fsync | {ours:.2} | {:.0} | |",
        rate(ours)
    );
}

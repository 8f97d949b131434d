//! Helpers for the deploy tests: a loopback HTTP server for images, temp files as disks, the
//! VM test images `hack/vm/build.sh` builds, and qemu-img.
#![allow(dead_code)] // each test binary uses some of them

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use metal3_agent_api::{ChecksumType, ConfigDrive, Deploy, ImageFormat, ImageSource, Progress};
use metal3_agent_disk::partition::{Extent, Table};
use metal3_agent_disk::{BlockDevice, DeployError};
use serde_json::json;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// What the server answers for a path.
#[derive(Clone)]
pub enum Served {
    /// A file, streamed, with its length.
    File(PathBuf),
    /// Bytes from memory.
    Bytes(Bytes),
    /// The first `n` bytes of a file, then the connection breaks (length announced whole).
    Broken(PathBuf, usize),
}

/// A loopback HTTP server for images.
pub struct Server {
    pub base: String,
    routes: Arc<Mutex<HashMap<String, Served>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start() -> Server {
        let routes: Arc<Mutex<HashMap<String, Served>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(routes.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Server {
            base,
            routes,
            _task: task,
        }
    }

    /// Serves `what` at `/name`; returns its URL.
    pub fn add(&self, name: &str, what: Served) -> String {
        self.routes
            .lock()
            .expect("routes")
            .insert(format!("/{name}"), what);
        format!("{}/{name}", self.base)
    }
}

async fn serve(
    State(routes): State<Arc<Mutex<HashMap<String, Served>>>>,
    req: Request,
) -> Response {
    let found = routes
        .lock()
        .expect("routes")
        .get(req.uri().path())
        .cloned();
    match found {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Served::Bytes(b)) => b.into_response(),
        Some(Served::File(path)) => {
            let file = tokio::fs::File::open(&path).await.expect("open");
            let len = file.metadata().await.expect("metadata").len();
            let body =
                Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 << 10));
            ([(header::CONTENT_LENGTH, len.to_string())], body).into_response()
        }
        Some(Served::Broken(path, n)) => {
            let data = std::fs::read(&path).expect("read");
            let len = data.len();
            let head = Bytes::copy_from_slice(&data[..n]);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(head),
                Err(std::io::Error::other("connection reset by the test")),
            ];
            let body = Body::from_stream(futures::stream::iter(chunks));
            ([(header::CONTENT_LENGTH, len.to_string())], body).into_response()
        }
    }
}

/// A sparse temp file standing for a disk of `size` bytes.
pub fn disk(dir: &Path, name: &str, size: u64) -> BlockDevice {
    let path = dir.join(name);
    let file = File::create(&path).expect("disk");
    file.set_len(size).expect("size");
    BlockDevice {
        name: format!("/dev/{name}"),
        path,
        size,
        ..BlockDevice::default()
    }
}

/// `len` bytes of the disk from `offset`.
pub fn read(disk: &BlockDevice, offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    File::open(&disk.path)
        .expect("open disk")
        .read_exact_at(&mut buf, offset)
        .expect("read disk");
    buf
}

/// Whether `[offset, offset + len)` of the disk is all zeros.
pub fn zeros(disk: &BlockDevice, offset: u64, len: u64) -> bool {
    read(disk, offset, len).iter().all(|b| *b == 0)
}

/// The partition table on the disk, if any.
pub fn table(disk: &BlockDevice) -> Option<Table> {
    let file = File::open(&disk.path).expect("open disk");
    Table::read(&file, disk.size).expect("read table")
}

/// The directory of VM test images (`$METAL3_VM_IMAGES`, else what `hack/vm/build.sh` prints).
pub fn vm_images() -> PathBuf {
    if let Some(dir) = std::env::var_os("METAL3_VM_IMAGES") {
        return PathBuf::from(dir);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/vm/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("run hack/vm/build.sh");
    assert!(
        out.status.success(),
        "hack/vm/build.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

/// Runs qemu-img (from hack/vm/install.sh) with `args`.
pub fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img (Debian package qemu-utils, see hack/vm/install.sh) must be installed");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sha256 of a file, in hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut f = File::open(path).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A deploy of `url` with the given checksum, format auto, no hints.
pub fn deploy_of(url: &str, checksum: &str, config_drive: bool) -> Deploy {
    Deploy {
        image: ImageSource {
            url: url.to_string(),
            format: ImageFormat::Auto,
            checksum: checksum.to_string(),
            checksum_type: ChecksumType::Auto,
        },
        root_device_hints: None,
        config_drive: config_drive.then(|| ConfigDrive {
            meta_data: json!({"uuid": "u-1", "hostname": "node-0", "name": "node-0"}),
            user_data: Some("#cloud-config\nwrite_files: []\n".into()),
            network_data: Some(json!({"links": [], "networks": [], "services": []})),
        }),
    }
}

/// Progress reports as they came.
#[derive(Default, Clone)]
pub struct Reports(pub Arc<Mutex<Vec<(String, Progress)>>>);

impl Reports {
    pub fn callback(&self) -> impl Fn(&str, Progress) + Send + Sync + use<> {
        let all = self.0.clone();
        move |step: &str, p: Progress| all.lock().expect("reports").push((step.to_string(), p))
    }

    pub fn all(&self) -> Vec<(String, Progress)> {
        self.0.lock().expect("reports").clone()
    }
}

/// The config drive partition: the last partition of the disk's table.
pub fn config_drive_extent(disk: &BlockDevice) -> Extent {
    let t = table(disk).expect("a partition table");
    *t.partitions()
        .iter()
        .max_by_key(|e| e.start)
        .expect("partitions")
}

/// The label and `openstack/latest` files of the config drive, read by the fatfs crate.
pub fn config_drive_files(disk: &BlockDevice) -> (String, Vec<(String, Vec<u8>)>) {
    let part = config_drive_extent(disk);
    let bytes = read(disk, part.start, part.len);
    let fs =
        fatfs::FileSystem::new(std::io::Cursor::new(bytes), fatfs::FsOptions::new()).expect("fat");
    let label = fs
        .read_volume_label_from_root_dir()
        .expect("label")
        .unwrap_or_default();
    let mut files = Vec::new();
    for entry in fs
        .root_dir()
        .open_dir("openstack/latest")
        .expect("dir")
        .iter()
    {
        let entry = entry.expect("entry");
        let mut content = Vec::new();
        if entry.is_file() {
            entry.to_file().read_to_end(&mut content).expect("content");
            files.push((entry.file_name(), content));
        }
    }
    files.sort();
    (label.trim_end().to_string(), files)
}

/// The error under the note that the disk was wiped.
pub fn cause(e: &DeployError) -> &DeployError {
    e.cause()
}

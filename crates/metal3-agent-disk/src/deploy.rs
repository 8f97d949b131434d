//! A deploy from start to end: the checksum (given, or from a checksums file), the image
//! download streamed to the writing thread ([`crate::pipeline`]) with backpressure, and
//! progress reported at least every second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use metal3_agent_api::{Deploy, DeployResult, Progress};
use reqwest::Client;
use tokio::sync::mpsc;

use crate::checksum;
use crate::error::DeployError;
use crate::fetch;
use crate::pipeline::{self, Chunk, Job};
use crate::progress::{Counters, RateMeter};
use crate::qcow2::stream::DEFAULT_ORPHAN_LIMIT;
use crate::sysfs::BlockDevice;

/// How often progress is reported.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Downloaded chunks waiting for the writer, at most (backpressure on the download).
const QUEUE: usize = 64;

/// How a deploy runs, beyond what the command says.
#[derive(Clone, Debug)]
pub struct Options {
    /// The HTTP client (the agent's, with its TLS roots and resolver).
    pub client: Client,
    /// Bytes of qcow2 clusters kept while the table mapping them is still ahead.
    pub orphan_limit: usize,
}

impl Options {
    /// The default client and limits.
    pub fn new() -> Result<Self, DeployError> {
        Ok(Options {
            client: fetch::client()?,
            orphan_limit: DEFAULT_ORPHAN_LIMIT,
        })
    }
}

/// Writes the image of `deploy` (and its config drive) to `target`, calling `progress` with
/// the step and the bytes settled at least every second.
pub async fn deploy(
    deploy: &Deploy,
    target: &BlockDevice,
    progress: &(dyn Fn(&str, Progress) + Send + Sync),
) -> Result<DeployResult, DeployError> {
    deploy_with(&Options::new()?, deploy, target, progress).await
}

/// [`deploy`] with the given client and limits.
pub async fn deploy_with(
    options: &Options,
    deploy: &Deploy,
    target: &BlockDevice,
    progress: &(dyn Fn(&str, Progress) + Send + Sync),
) -> Result<DeployResult, DeployError> {
    let image = &deploy.image;
    let url = image.url.trim();
    if !fetch::is_http_url(url) {
        return Err(DeployError::BadUrl {
            url: fetch::redact(url),
        });
    }
    let counters = Arc::new(Counters::default());
    let mut report = Reporter::new(&counters, progress);
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    // The checksum (perhaps from a checksums file) and the image's response, reporting the
    // while (the first tick is at once).
    let prepare = async {
        let checksum_text = if fetch::is_http_url(&image.checksum) {
            let file = fetch::checksums_file(&options.client, image.checksum.trim()).await?;
            checksum::from_checksums_file(&file, &fetch::file_name(url))?
        } else {
            image.checksum.clone()
        };
        let expected = checksum::expected(&checksum_text, image.checksum_type)?;
        let response = fetch::get(&options.client, url).await?;
        Ok::<_, DeployError>((expected, response))
    };
    tokio::pin!(prepare);
    let (expected, response) = loop {
        tokio::select! {
            prepared = &mut prepare => break prepared?,
            _ = ticks.tick() => report.tick(),
        }
    };
    let job = Job {
        format: image.format,
        expected,
        content_length: response.content_length(),
        config_drive: deploy.config_drive.clone(),
        disk_name: target.name.clone(),
        disk_path: target.path.clone(),
        disk_size: target.size,
        counters: counters.clone(),
        orphan_limit: options.orphan_limit,
    };
    let (tx, rx) = mpsc::channel::<Chunk>(QUEUE);
    let writer = tokio::task::spawn_blocking(move || pipeline::run(job, rx));
    let mut body = response.bytes_stream();
    let mut downloaded = 0u64;
    // Download until the body ends, the writer stops taking bytes, or the download fails.
    loop {
        tokio::select! {
            chunk = body.next() => match chunk {
                Some(Ok(bytes)) => {
                    downloaded += bytes.len() as u64;
                    if tx.send(Ok(bytes)).await.is_err() {
                        break;
                    }
                }
                Some(Err(e)) => {
                    let failure = DeployError::Download {
                        url: fetch::redact(url),
                        bytes: downloaded,
                        cause: fetch::cause(&e),
                    };
                    let _ = tx.send(Err(failure)).await;
                    break;
                }
                None => break,
            },
            _ = ticks.tick() => report.tick(),
        }
    }
    drop(tx);
    drop(body);
    let mut writer = writer;
    let result = loop {
        tokio::select! {
            done = &mut writer => break done,
            _ = ticks.tick() => report.tick(),
        }
    };
    report.tick();
    result.map_err(|e| DeployError::Internal(e.to_string()))?
}

/// Calls the progress callback with the rate over the last seconds.
struct Reporter<'a> {
    counters: &'a Counters,
    callback: &'a (dyn Fn(&str, Progress) + Send + Sync),
    meter: RateMeter,
    start: Instant,
}

impl<'a> Reporter<'a> {
    fn new(counters: &'a Counters, callback: &'a (dyn Fn(&str, Progress) + Send + Sync)) -> Self {
        Reporter {
            counters,
            callback,
            meter: RateMeter::new(Duration::from_secs(5)),
            start: Instant::now(),
        }
    }

    fn tick(&mut self) {
        let rate = self
            .meter
            .sample(self.start.elapsed(), self.counters.settled());
        (self.callback)(self.counters.step().name(), self.counters.progress(rate));
    }
}

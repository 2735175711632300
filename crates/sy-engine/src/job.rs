//! [`SyncJob`]: one `sy SRC... DST` as a value — resolve the endpoints, connect where a side
//! is remote (again, when the link breaks), and run the sync of each source in turn.

use std::path::Path;
use std::sync::Arc;

use sy_transport::{Bucket, Cancel, Local, Transport};

use crate::connect::Connection;
use crate::endpoint::RemoteSpec;
use crate::observer::{Forward, NoObserver, Observer};
use crate::pacing::{Pacing, Throttle};
use crate::resolve::{Side, Transfer, resolve};
use crate::retry::{Attempt, with_reconnects};
use crate::run::sync_transfer;
use crate::totals::{Totals, Traffic};
use crate::verify::Unverified;
use crate::{Endpoint, SyncError, SyncOptions};

/// A sync of one or more sources into one destination, ready to run.
///
/// Each source is synced in turn. Entries that fail are reported to the observer and counted
/// in [`Totals::failed`]; the run goes on. A source that cannot be synced at all (unreadable,
/// unreachable) ends the run with its error — or, when there are several sources, is reported,
/// counted in [`Totals::failed_sources`], and the next source runs.
#[must_use = "a SyncJob does nothing until it is run"]
pub struct SyncJob<O = NoObserver> {
    sources: Vec<Endpoint>,
    destination: Endpoint,
    options: SyncOptions,
    observer: Arc<O>,
    cancel: Cancel,
}

impl SyncJob {
    /// A sync of `sources` into `destination`, with no observer.
    pub fn new(sources: Vec<Endpoint>, destination: Endpoint, options: SyncOptions) -> SyncJob {
        SyncJob {
            sources,
            destination,
            options,
            observer: Arc::new(NoObserver),
            cancel: Cancel::default(),
        }
    }
}

impl<O: Observer + 'static> SyncJob<O> {
    /// Sends the run's events to `observer` (an `Arc<T>` of an observer is one too, so the
    /// caller can keep a handle).
    pub fn observer<P: Observer + 'static>(self, observer: P) -> SyncJob<P> {
        SyncJob {
            sources: self.sources,
            destination: self.destination,
            options: self.options,
            observer: Arc::new(observer),
            cancel: self.cancel,
        }
    }

    /// Stops the run at the next safe point once `cancel` is set: no file is left torn, and
    /// files in flight are kept as partials that the next run resumes.
    pub fn cancel_on(mut self, cancel: Cancel) -> SyncJob<O> {
        self.cancel = cancel;
        self
    }

    /// Runs the sync to the end on a runtime of its own; see [`SyncJob::run_async`].
    pub fn run(self) -> Result<Totals, SyncError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(self.options.jobs * 2 + 4)
            .enable_all()
            .build()
            .map_err(SyncError::Runtime)?;
        runtime.block_on(self.run_async())
    }

    /// Runs the sync to the end (on a multi-threaded tokio runtime: file writes run on its
    /// blocking threads). Nothing is changed when the request is invalid.
    pub async fn run_async(self) -> Result<Totals, SyncError> {
        let SyncJob {
            sources,
            destination,
            options,
            observer,
            cancel,
        } = self;
        if sources.is_empty() {
            return Err(SyncError::Invalid("no source to sync".to_owned()));
        }
        let single = sources.len() == 1;
        let transfers = sources
            .iter()
            .map(|src| resolve(src, &destination, single, &options))
            .collect::<Result<Vec<_>, _>>()?;
        if options.delete && !single && transfers.iter().any(|t| t.scanned(&t.dst).is_root()) {
            return Err(SyncError::Invalid(
                "--delete with several sources that copy their contents (trailing slash) into \
                 one destination would delete each other's files; sync them one at a time"
                    .to_owned(),
            ));
        }
        let run = Run {
            options: &options,
            observer: &observer,
            throttle: options.bwlimit.map(Throttle::new),
            cancel: &cancel,
        };
        let mut totals = Totals::default();
        for transfer in &transfers {
            if cancel.is_cancelled() {
                break;
            }
            if transfer.same {
                observer.warning(&format!(
                    "source {} and destination are the same directory; nothing to do",
                    transfer.shown
                ));
                continue;
            }
            match run.transfer(transfer).await {
                Ok(done) => totals.add(&done),
                Err(e) if single => return Err(e),
                Err(e) => {
                    observer.failed(None, &sy_transport::describe_error(&e));
                    totals.failed_sources += 1;
                }
            }
        }
        Ok(totals)
    }
}

/// What every transfer of one run shares.
struct Run<'a, O> {
    options: &'a SyncOptions,
    observer: &'a Arc<O>,
    /// The bandwidth limit, shared by all transfers.
    throttle: Option<Throttle>,
    cancel: &'a Cancel,
}

impl<O: Observer + 'static> Run<'_, O> {
    /// Syncs one source: opens both sides (connecting to a remote one, again after a broken
    /// link while retries remain) and runs the sync.
    async fn transfer(&self, transfer: &Transfer) -> Result<Totals, SyncError> {
        tracing::info!(
            "syncing {} to {}",
            transfer.shown,
            transfer
                .dst
                .remote
                .as_ref()
                .map_or_else(|| transfer.dst.root.display().to_string(), |s| s.shown())
        );
        let make_dst = !self.options.dry_run;
        let unverified = &Unverified::default();
        if transfer.src.store.is_some() || transfer.dst.store.is_some() {
            return self.with_store(transfer, unverified).await;
        }
        match (&transfer.src.remote, &transfer.dst.remote) {
            (None, None) => {
                if make_dst {
                    create_local_dir(&transfer.dst.root)?;
                }
                let src = Arc::new(Local::open(&transfer.src.root)?);
                let dst = Arc::new(Local::open(&transfer.dst.root)?);
                self.sync_paced(src, dst, transfer, unverified).await
            }
            (Some(spec), None) => {
                if make_dst {
                    create_local_dir(&transfer.dst.root)?;
                }
                let dst = Arc::new(Local::open(&transfer.dst.root)?);
                self.connected(transfer, spec, &dst, Direction::Pull, unverified)
                    .await
            }
            (None, Some(spec)) => {
                let src = Arc::new(Local::open(&transfer.src.root)?);
                self.connected(transfer, spec, &src, Direction::Push, unverified)
                    .await
            }
            (Some(_), Some(_)) => Err(SyncError::Invalid(
                "copying between two remote hosts is not supported".to_owned(),
            )),
        }
    }

    /// Syncs between this machine and a bucket (the object store retries failed requests
    /// itself, so there is no reconnecting here).
    async fn with_store(
        &self,
        transfer: &Transfer,
        unverified: &Unverified,
    ) -> Result<Totals, SyncError> {
        match (&transfer.src.store, &transfer.dst.store) {
            (Some(url), None) => {
                if !self.options.dry_run {
                    create_local_dir(&transfer.dst.root)?;
                }
                let src = Arc::new(Bucket::open(url)?);
                let dst = Arc::new(Local::open(&transfer.dst.root)?);
                self.sync_paced(src, dst, transfer, unverified).await
            }
            // Not paced: an upload reports its progress on the runtime's own threads, where
            // the pacing's sleep would stall every other request.
            (None, Some(url)) => {
                let src = Arc::new(Local::open(&transfer.src.root)?);
                let dst = Arc::new(Bucket::open(url)?);
                let observer = Arc::clone(self.observer);
                self.sync(src, dst, transfer, observer, unverified).await
            }
            _ => Err(SyncError::Invalid(
                "copying between two object-store locations is not supported yet".to_owned(),
            )),
        }
    }

    /// Syncs between this machine (`local`) and `spec`'s host, connecting again after a broken
    /// link while retries remain.
    async fn connected(
        &self,
        transfer: &Transfer,
        spec: &RemoteSpec,
        local: &Arc<Local>,
        direction: Direction,
        unverified: &Unverified,
    ) -> Result<Totals, SyncError> {
        let (remote_side, mkdir) = match direction {
            Direction::Pull => (&transfer.src, false),
            Direction::Push => (&transfer.dst, !self.options.dry_run),
        };
        let root = &remote_root(remote_side);
        with_reconnects(
            &self.options.retry,
            self.observer,
            self.cancel,
            |observer| async move {
                let connection = Connection::start(
                    &self.options.remote,
                    spec,
                    root,
                    mkdir,
                    self.throttle.as_ref(),
                    self.cancel,
                )
                .await?;
                let remote = Arc::new(connection.transport.clone());
                let local = Arc::clone(local);
                let synced = match direction {
                    Direction::Pull => {
                        self.sync(remote, local, transfer, observer, unverified)
                            .await
                    }
                    Direction::Push => {
                        self.sync(local, remote, transfer, observer, unverified)
                            .await
                    }
                };
                Ok(finish_attempt(connection, synced).await)
            },
        )
        .await
    }

    /// Syncs without a connection of sy's own to pace, into a local directory (from another,
    /// or from a bucket): `--bwlimit` paces the bytes written, from the progress callbacks of
    /// the blocking threads that write.
    async fn sync_paced<S, D>(
        &self,
        src: Arc<S>,
        dst: Arc<D>,
        transfer: &Transfer,
        unverified: &Unverified,
    ) -> Result<Totals, SyncError>
    where
        S: Transport,
        D: Transport,
    {
        match &self.throttle {
            Some(throttle) => {
                let paced = Arc::new(Forward {
                    next: Arc::clone(self.observer),
                    intercept: Pacing(throttle.clone()),
                });
                self.sync(src, dst, transfer, paced, unverified).await
            }
            None => {
                let observer = Arc::clone(self.observer);
                self.sync(src, dst, transfer, observer, unverified).await
            }
        }
    }

    async fn sync<S, D, P>(
        &self,
        src: Arc<S>,
        dst: Arc<D>,
        transfer: &Transfer,
        observer: Arc<P>,
        unverified: &Unverified,
    ) -> Result<Totals, SyncError>
    where
        S: Transport,
        D: Transport,
        P: Observer + 'static,
    {
        sync_transfer(
            src,
            dst,
            transfer,
            self.options,
            observer,
            unverified,
            self.cancel,
        )
        .await
    }
}

/// Which way a remote transfer goes.
#[derive(Debug, Clone, Copy)]
enum Direction {
    /// From the remote host to this machine.
    Pull,
    /// From this machine to the remote host.
    Push,
}

fn create_local_dir(root: &Path) -> Result<(), SyncError> {
    std::fs::create_dir_all(root).map_err(|source| SyncError::Destination {
        path: root.to_path_buf(),
        source,
    })
}

/// The agent's root as the remote shell gets it (remote paths are UTF-8 by construction).
fn remote_root(side: &Side) -> String {
    side.root.to_string_lossy().into_owned()
}

/// Closes the connection after an attempt at a job and says how both ended
/// ([`with_reconnects`] decides whether that was the last attempt).
async fn finish_attempt(mut connection: Connection, synced: Result<Totals, SyncError>) -> Attempt {
    let closed = connection.finish().await;
    let traffic = connection.transport.traffic();
    Attempt {
        synced,
        closed,
        established: connection.transport.established(),
        traffic: Traffic {
            sent: traffic.sent.logical,
            wire_sent: traffic.sent.wire,
            received: traffic.received.logical,
            wire_received: traffic.received.wire,
            compressed_sent: traffic.sent.compressed,
            compressed_received: traffic.received.compressed,
            compression: connection.transport.compression(),
            sent_levels: traffic.sent_levels,
        },
    }
}

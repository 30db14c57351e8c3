//! The write side of the pipeline: blobs are deduplicated against the index, then
//! compressed and encrypted by worker threads, collected into packs (data and tree
//! blobs apart), and packs are uploaded by uploader threads. Only after a pack is
//! durable do its blobs enter the index; index files are written along the way, so an
//! interrupted backup leaves packs that the next run finds and reuses.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::blob::BlobType;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{IndexFile, IndexPack};
use crate::pack::{PackBuilder, PACK_SIZE};
use crate::repository::Repository;
use crate::storage::FileType;
use crate::unpacked::ZSTD_LEVEL;

/// Write an index file when this many new blobs are waiting, or this much time passed.
const INDEX_BLOBS: usize = 50_000;
const INDEX_EVERY: Duration = Duration::from_secs(60);

/// The worker count to use: `requested`, or one per core when it is 0.
pub fn worker_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

/// What the saver added to the repository.
#[derive(Clone, Copy, Debug, Default)]
pub struct SaverStats {
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Plaintext bytes of new blobs.
    pub data_added: u64,
    /// Bytes of new blobs as stored (compressed and encrypted).
    pub data_added_packed: u64,
}

struct Job {
    blob_type: BlobType,
    id: Id,
    data: Vec<u8>,
    /// `Some(uncompressed length)` when `data` is already sealed (compressed and
    /// encrypted) and only needs a place in a pack.
    sealed: Option<u32>,
}

struct Shared {
    repo: Arc<Repository>,
    /// Skip blobs the index already has (off when repacking: those are the point).
    dedup_index: bool,
    pending: Mutex<HashSet<(BlobType, Id)>>,
    packers: [Mutex<PackBuilder>; 2],
    unindexed: Mutex<(Vec<IndexPack>, usize, Instant)>,
    error: Mutex<Option<Error>>,
    data_blobs: AtomicU64,
    tree_blobs: AtomicU64,
    data_added: AtomicU64,
    data_added_packed: AtomicU64,
}

impl Shared {
    fn fail(&self, e: Error) {
        let mut slot = self.error.lock().expect("error slot");
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    fn failed(&self) -> bool {
        self.error.lock().expect("error slot").is_some()
    }

    fn packer(&self, t: BlobType) -> &Mutex<PackBuilder> {
        &self.packers[t as usize]
    }

    /// Writes an index file for uploaded packs not yet in one (all of them with `force`).
    fn write_index(&self, force: bool) -> Result<()> {
        let packs = {
            let mut u = self.unindexed.lock().expect("unindexed");
            if u.0.is_empty() || (!force && u.1 < INDEX_BLOBS && u.2.elapsed() < INDEX_EVERY) {
                return Ok(());
            }
            u.1 = 0;
            u.2 = Instant::now();
            std::mem::take(&mut u.0)
        };
        self.repo.save_json(
            FileType::Index,
            &IndexFile {
                supersedes: Vec::new(),
                packs,
            },
        )?;
        Ok(())
    }

    fn upload(&self, pack: PackBuilder) -> Result<()> {
        let (id, bytes, blobs) = pack.finish(self.repo.key());
        self.repo.storage().write(FileType::Pack, &id, bytes)?;
        let ip = IndexPack::new(id, &blobs);
        self.repo.index_add(std::slice::from_ref(&ip));
        {
            let mut u = self.unindexed.lock().expect("unindexed");
            u.1 += ip.blobs.len();
            u.0.push(ip);
        }
        self.write_index(false)
    }
}

/// Saves blobs into a repository with bounded memory and parallel workers.
pub struct BlobSaver {
    shared: Arc<Shared>,
    jobs: Option<Sender<Job>>,
    uploads: Option<Sender<PackBuilder>>,
    workers: Vec<JoinHandle<()>>,
    uploaders: Vec<JoinHandle<()>>,
}

impl BlobSaver {
    /// Starts `threads` compress/encrypt workers and `uploaders` upload threads.
    pub fn new(repo: Arc<Repository>, threads: usize, uploaders: usize) -> BlobSaver {
        Self::with_dedup(repo, threads, uploaders, true)
    }

    /// A saver that writes every blob given to it once, even if the index already has
    /// it elsewhere: prune uses it to move live blobs out of packs it will delete.
    pub fn for_repack(repo: Arc<Repository>, threads: usize) -> BlobSaver {
        Self::with_dedup(repo, threads, 1, false)
    }

    fn with_dedup(
        repo: Arc<Repository>,
        threads: usize,
        uploaders: usize,
        dedup_index: bool,
    ) -> BlobSaver {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            repo,
            dedup_index,
            pending: Mutex::default(),
            packers: [Mutex::default(), Mutex::default()],
            unindexed: Mutex::new((Vec::new(), 0, Instant::now())),
            error: Mutex::default(),
            data_blobs: AtomicU64::new(0),
            tree_blobs: AtomicU64::new(0),
            data_added: AtomicU64::new(0),
            data_added_packed: AtomicU64::new(0),
        });
        let (jtx, jrx) = bounded::<Job>(threads * 2);
        // A full pack is handed straight to an uploader (no queue): one 16 MiB buffer less.
        let (utx, urx) = bounded::<PackBuilder>(0);
        let workers = (0..threads)
            .map(|i| {
                let (s, rx, utx) = (shared.clone(), jrx.clone(), utx.clone());
                std::thread::Builder::new()
                    .name(format!("bunker-seal-{i}"))
                    .spawn(move || seal_loop(&s, &rx, &utx))
                    .expect("spawn worker")
            })
            .collect();
        let uploader_threads = (0..uploaders.max(1))
            .map(|i| {
                let (s, rx) = (shared.clone(), urx.clone());
                std::thread::Builder::new()
                    .name(format!("bunker-upload-{i}"))
                    .spawn(move || {
                        for pack in rx {
                            if s.failed() {
                                continue;
                            }
                            if let Err(e) = s.upload(pack) {
                                s.fail(e);
                            }
                        }
                    })
                    .expect("spawn uploader")
            })
            .collect();
        BlobSaver {
            shared,
            jobs: Some(jtx),
            uploads: Some(utx),
            workers,
            uploaders: uploader_threads,
        }
    }

    /// Saves a blob unless the repository (or this run) already has it. Returns its id
    /// and whether it was new.
    pub fn save(&self, blob_type: BlobType, data: Vec<u8>) -> Result<(Id, bool)> {
        let id = Id::hash(&data);
        let new = self.save_with_id(blob_type, id, data)?;
        Ok((id, new))
    }

    pub fn save_with_id(&self, blob_type: BlobType, id: Id, data: Vec<u8>) -> Result<bool> {
        self.submit(blob_type, id, data, None)
    }

    /// Stores a blob exactly as it is sealed elsewhere (prune moves verified blobs this
    /// way: each blob is encrypted on its own, so it can change packs unchanged).
    pub fn save_sealed(
        &self,
        blob_type: BlobType,
        id: Id,
        sealed: Vec<u8>,
        uncompressed_length: u32,
    ) -> Result<bool> {
        self.submit(blob_type, id, sealed, Some(uncompressed_length))
    }

    fn submit(
        &self,
        blob_type: BlobType,
        id: Id,
        data: Vec<u8>,
        sealed: Option<u32>,
    ) -> Result<bool> {
        if let Some(e) = self.shared.error.lock().expect("error slot").as_ref() {
            return Err(Error::Invalid(format!("saving blobs failed earlier: {e}")));
        }
        if self.shared.dedup_index && self.shared.repo.index().has(blob_type, &id) {
            return Ok(false);
        }
        if !self
            .shared
            .pending
            .lock()
            .expect("pending")
            .insert((blob_type, id))
        {
            return Ok(false);
        }
        let jobs = self.jobs.as_ref().expect("saver open");
        jobs.send(Job {
            blob_type,
            id,
            data,
            sealed,
        })
        .map_err(|_| Error::Invalid("blob saver stopped".into()))?;
        Ok(true)
    }

    /// Flushes everything: remaining blobs, partial packs, the index. After this returns
    /// Ok, every blob saved is durable and indexed.
    pub fn finish(mut self) -> Result<SaverStats> {
        drop(self.jobs.take());
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let uploads = self.uploads.take().expect("saver open");
        for t in [BlobType::Data, BlobType::Tree] {
            let p = std::mem::take(&mut *self.shared.packer(t).lock().expect("packer"));
            if !p.is_empty() {
                let _ = uploads.send(p);
            }
        }
        drop(uploads);
        for u in self.uploaders.drain(..) {
            let _ = u.join();
        }
        if let Some(e) = self.shared.error.lock().expect("error slot").take() {
            return Err(e);
        }
        self.shared.write_index(true)?;
        let s = &self.shared;
        Ok(SaverStats {
            data_blobs: s.data_blobs.load(Ordering::Relaxed),
            tree_blobs: s.tree_blobs.load(Ordering::Relaxed),
            data_added: s.data_added.load(Ordering::Relaxed),
            data_added_packed: s.data_added_packed.load(Ordering::Relaxed),
        })
    }
}

impl Drop for BlobSaver {
    fn drop(&mut self) {
        drop(self.jobs.take());
        drop(self.uploads.take());
        for w in self.workers.drain(..).chain(self.uploaders.drain(..)) {
            let _ = w.join();
        }
    }
}

fn seal_loop(s: &Shared, rx: &Receiver<Job>, uploads: &Sender<PackBuilder>) {
    let compress = s.repo.compresses();
    let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("zstd");
    for job in rx {
        if s.failed() {
            continue;
        }
        let (sealed, uncompressed_length, plain_len) = match job.sealed {
            Some(ulen) => {
                let plain = if ulen != 0 {
                    ulen as usize
                } else {
                    job.data.len().saturating_sub(crate::crypto::OVERHEAD)
                };
                (job.data, ulen, plain)
            }
            None => {
                let plain_len = job.data.len();
                let (payload, ulen) = match compress.then(|| compressor.compress(&job.data)) {
                    Some(Ok(c)) if c.len() < plain_len => (c, plain_len as u32),
                    _ => (job.data, 0),
                };
                (s.repo.key().encrypt(&payload), ulen, plain_len)
            }
        };
        match job.blob_type {
            BlobType::Data => s.data_blobs.fetch_add(1, Ordering::Relaxed),
            BlobType::Tree => s.tree_blobs.fetch_add(1, Ordering::Relaxed),
        };
        s.data_added.fetch_add(plain_len as u64, Ordering::Relaxed);
        s.data_added_packed
            .fetch_add(sealed.len() as u64, Ordering::Relaxed);
        let full = {
            let mut p = s.packer(job.blob_type).lock().expect("packer");
            p.add(job.blob_type, job.id, &sealed, uncompressed_length);
            (p.len() >= PACK_SIZE).then(|| std::mem::take(&mut *p))
        };
        if let Some(p) = full {
            if uploads.send(p).is_err() {
                return;
            }
        }
    }
}

//! Fault injection for local disks: a layer over opendal's file-system service that
//! makes a chosen fraction of writes fail the way a full or failing disk fails them, so
//! that tests can show every write either lands whole or fails cleanly, leaving nothing
//! behind (the HTTP services have theirs in `faults`).
//!
//! Enabled by `BUNKER_INJECT_DISK_FAULTS`, e.g. `enospc=0.1,eio=0.05,short=0.1,seed=7`:
//! - `enospc`: part of a write reaches the file, then the write fails with ENOSPC, as
//!   on a disk that fills up during it;
//! - `eio`: closing the file (its fsync) fails with EIO, as on a failing disk;
//! - `short`: the end of a write is silently lost and the write reports success, as
//!   with a file system that lies; the size check after each write must catch it.

use std::sync::{Arc, Mutex};

use opendal::raw::{
    new_std_io_error, oio, Layer, OpCopy, OpCreateDir, OpList, OpPresign, OpRead, OpRename, OpStat,
    OpWrite, RpCreateDir, RpPresign, RpRename, RpStat, Service, ServiceInfo, Servicer,
};
use opendal::{Buffer, Capability, Metadata, OperationContext};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

/// The probabilities of each fault, and the random source that rolls them.
#[derive(Clone)]
pub struct DiskFaultLayer {
    enospc: f64,
    eio: f64,
    short: f64,
    rng: Arc<Mutex<StdRng>>,
}

impl std::fmt::Debug for DiskFaultLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DiskFaultLayer(enospc={}, eio={}, short={})",
            self.enospc, self.eio, self.short
        )
    }
}

impl DiskFaultLayer {
    pub fn parse(spec: &str) -> Result<DiskFaultLayer> {
        let mut layer = DiskFaultLayer {
            enospc: 0.0,
            eio: 0.0,
            short: 0.0,
            rng: Arc::new(Mutex::new(StdRng::from_entropy())),
        };
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let bad = || {
                Error::Invalid(format!(
                    "BUNKER_INJECT_DISK_FAULTS: {part:?} is not NAME=NUMBER"
                ))
            };
            let (name, value) = part.split_once('=').ok_or_else(bad)?;
            if name == "seed" {
                let seed = value.parse::<u64>().map_err(|_| bad())?;
                layer.rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
                continue;
            }
            let p = value
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(bad)?;
            match name {
                "enospc" => layer.enospc = p,
                "eio" => layer.eio = p,
                "short" => layer.short = p,
                _ => return Err(bad()),
            }
        }
        Ok(layer)
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0 && self.rng().gen_bool(p)
    }

    fn below(&self, n: usize) -> usize {
        self.rng().gen_range(0..n.max(1))
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Layer for DiskFaultLayer {
    fn apply_service(&self, inner: Servicer) -> Servicer {
        Arc::new(FaultyDisk {
            inner,
            faults: self.clone(),
        })
    }
}

/// The error opendal's file-system service gives for an OS error.
fn os_error(errno: nix::errno::Errno) -> opendal::Error {
    new_std_io_error(std::io::Error::from_raw_os_error(errno as i32))
}

#[derive(Debug)]
struct FaultyDisk {
    inner: Servicer,
    faults: DiskFaultLayer,
}

impl Service for FaultyDisk {
    type Reader = oio::Reader;
    type Writer = FaultyWriter;
    type Lister = oio::Lister;
    type Deleter = oio::Deleter;
    type Copier = oio::Copier;
    type Composer = oio::Composer;

    fn info(&self) -> ServiceInfo {
        self.inner.info()
    }

    fn capability(&self) -> Capability {
        self.inner.capability()
    }

    async fn create_dir(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpCreateDir,
    ) -> opendal::Result<RpCreateDir> {
        self.inner.create_dir(ctx, path, args).await
    }

    async fn stat(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpStat,
    ) -> opendal::Result<RpStat> {
        self.inner.stat(ctx, path, args).await
    }

    fn read(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpRead,
    ) -> opendal::Result<oio::Reader> {
        self.inner.read(ctx, path, args)
    }

    fn write(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpWrite,
    ) -> opendal::Result<FaultyWriter> {
        Ok(FaultyWriter {
            inner: self.inner.write(ctx, path, args)?,
            faults: self.faults.clone(),
        })
    }

    fn delete(&self, ctx: &OperationContext) -> opendal::Result<oio::Deleter> {
        self.inner.delete(ctx)
    }

    fn list(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpList,
    ) -> opendal::Result<oio::Lister> {
        self.inner.list(ctx, path, args)
    }

    fn copy(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpCopy,
    ) -> opendal::Result<oio::Copier> {
        self.inner.copy(ctx, from, to, args)
    }

    async fn rename(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpRename,
    ) -> opendal::Result<RpRename> {
        self.inner.rename(ctx, from, to, args).await
    }

    async fn presign(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpPresign,
    ) -> opendal::Result<RpPresign> {
        self.inner.presign(ctx, path, args).await
    }
}

/// A file being written, failing as the layer's dice say.
struct FaultyWriter {
    inner: oio::Writer,
    faults: DiskFaultLayer,
}

impl oio::Write for FaultyWriter {
    async fn write(&mut self, bs: Buffer) -> opendal::Result<()> {
        let f = &self.faults;
        if f.roll(f.enospc) {
            let part = f.below(bs.len());
            self.inner.write(bs.slice(0..part)).await?;
            return Err(os_error(nix::errno::Errno::ENOSPC));
        }
        if f.roll(f.short) {
            let part = f.below(bs.len());
            return self.inner.write(bs.slice(0..part)).await;
        }
        self.inner.write(bs).await
    }

    async fn close(&mut self) -> opendal::Result<Metadata> {
        if self.faults.roll(self.faults.eio) {
            return Err(os_error(nix::errno::Errno::EIO));
        }
        self.inner.close().await
    }

    async fn abort(&mut self) -> opendal::Result<()> {
        self.inner.abort().await
    }
}

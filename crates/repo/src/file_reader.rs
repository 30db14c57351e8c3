//! One file of a snapshot as a byte stream (`dump`, database restores): its blobs are
//! fetched ahead in the background, several at a time, and handed over in order.

use std::io::Read;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};
use rayon::prelude::*;

use crate::blob::BlobType;
use crate::error::Result;
use crate::id::Id;
use crate::repository::Repository;

/// Blobs fetched in parallel per batch; two batches are in flight.
const BATCH: usize = 8;

/// A `Read` over a file's content blobs. A damaged or missing blob is an I/O error
/// whose message names it.
pub struct FileReader {
    rx: Receiver<Result<Vec<Vec<u8>>>>,
    batch: std::vec::IntoIter<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl FileReader {
    /// Reads `content` (a node's blob list) from `repo`, whose index must be loaded.
    pub fn new(repo: Arc<Repository>, content: Vec<Id>) -> FileReader {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            for ids in content.chunks(BATCH) {
                let batch: Result<Vec<Vec<u8>>> = ids
                    .par_iter()
                    .map(|id| repo.read_blob(BlobType::Data, id))
                    .collect();
                let failed = batch.is_err();
                // The reader went away: stop fetching.
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        FileReader {
            rx,
            batch: Vec::new().into_iter(),
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.cur.len() {
            if let Some(next) = self.batch.next() {
                self.cur = next;
                self.pos = 0;
                continue;
            }
            match self.rx.recv() {
                Ok(Ok(batch)) => self.batch = batch.into_iter(),
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

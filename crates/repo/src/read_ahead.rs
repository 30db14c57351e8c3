//! A pipe read in its own thread: waiting for the producer (pg_dump, a command,
//! standard input) overlaps chunking and hashing instead of alternating with them.
//! A pipe hands over at most its buffer (64 KiB) per read; without this the chunker
//! stops at every one of them.

use std::io::{self, Read};

use crossbeam_channel::{bounded, Receiver};

/// Bytes gathered per hand-over, and hand-overs in flight.
const PIECE: usize = 1 << 20;
const IN_FLIGHT: usize = 4;

struct Pieces {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(piece)) => {
                    self.cur = piece;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Runs `f` on a reader that yields what `rd` yields, read ahead by a second thread.
/// If `f` stops early, the thread ends at its next hand-over.
pub(crate) fn with_read_ahead<R: Read + Send, T>(rd: R, f: impl FnOnce(&mut dyn Read) -> T) -> T {
    let (tx, rx) = bounded(IN_FLIGHT);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut rd = rd;
            loop {
                let mut piece = vec![0u8; PIECE];
                let mut n = 0;
                let result = loop {
                    match rd.read(&mut piece[n..]) {
                        Ok(0) => break Ok(true),
                        Ok(k) => {
                            n += k;
                            if n == PIECE {
                                break Ok(false);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                piece.truncate(n);
                let (send, done) = match result {
                    Ok(eof) => (n > 0, eof),
                    Err(e) => {
                        if n > 0 && tx.send(Ok(piece)).is_err() {
                            return;
                        }
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                if send && tx.send(Ok(piece)).is_err() {
                    return;
                }
                if done {
                    return;
                }
            }
        });
        let mut pieces = Pieces {
            rx,
            cur: Vec::new(),
            pos: 0,
        };
        f(&mut pieces)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_the_same_bytes_and_the_error() {
        let data: Vec<u8> = (0..3 * PIECE + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let out = with_read_ahead(&data[..], |r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        });
        assert_eq!(out, data);

        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("producer died"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(1);
                self.0 -= n;
                Ok(n)
            }
        }
        let err = with_read_ahead(Failing(5000), |r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap_err()
        });
        assert_eq!(err.to_string(), "producer died");
    }
}

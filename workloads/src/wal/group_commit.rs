//! Group commit of a write-ahead log, as PostgreSQL's `XLogFlush` and InnoDB's log writer do.
//!
//! Committers append records to an in-memory log (a ring of the log's most recent bytes:
//! PostgreSQL's `wal_buffers`, InnoDB's log buffer) under one lock, which advances the
//! *insert* position. To make its commit durable, a committer waits until the *flushed*
//! position passes its record's end. The first committer to find no write in progress
//! becomes the leader (PostgreSQL: the backend that gets `WALWriteLock`): it writes the
//! block-aligned span from the start of the block holding the written position to the block
//! end after the current insert position, so the partly filled tail block is written again
//! by each flush until it fills, then syncs. Everyone who appended before the leader took
//! the insert position is covered by that one sync: with N clients there are fewer syncs
//! than commits (the c8 trace: 0.72 `fdatasync` per transaction,
//! benchmark-method.md §3.1). Committers who arrive during the leader's I/O wait and check
//! again when it finishes.
//!
//! The file side (segments, padding, which sync call) is the profile's [`LogSink`]; how
//! records are laid out in blocks (page headers) is its [`LogFormat`].

use super::control::POLL;
use crate::WorkloadError;
use std::sync::{Condvar, Mutex, MutexGuard};

/// The most recent bytes of the log, addressed by log position (wrapping).
#[derive(Debug)]
pub(crate) struct Ring {
    buf: Vec<u8>,
}

impl Ring {
    /// A ring of `len` bytes (at least one byte).
    pub(crate) fn new(len: usize) -> Self {
        Self {
            buf: vec![0; len.max(1)],
        }
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Copies `bytes` to log position `at`.
    pub(crate) fn put(&mut self, at: u64, bytes: &[u8]) {
        let n = self.buf.len();
        let mut i = (at % n as u64) as usize;
        let mut rest = bytes;
        while !rest.is_empty() {
            let k = rest.len().min(n - i);
            self.buf[i..i + k].copy_from_slice(&rest[..k]);
            rest = &rest[k..];
            i = (i + k) % n;
        }
    }

    /// Zeroes `len` bytes from log position `at`.
    pub(crate) fn zero(&mut self, at: u64, len: u64) {
        let n = self.buf.len() as u64;
        let mut i = at % n;
        let mut left = len.min(n);
        while left > 0 {
            let k = left.min(n - i);
            self.buf[i as usize..(i + k) as usize].fill(0);
            left -= k;
            i = (i + k) % n;
        }
    }

    /// The bytes from log position `from` to `to`.
    pub(crate) fn read(&self, from: u64, to: u64) -> Vec<u8> {
        let n = self.buf.len() as u64;
        let mut out = Vec::with_capacity(to.saturating_sub(from) as usize);
        let mut i = from % n;
        let mut left = to.saturating_sub(from);
        while left > 0 {
            let k = left.min(n - i);
            out.extend_from_slice(&self.buf[i as usize..(i + k) as usize]);
            left -= k;
            i = (i + k) % n;
        }
        out
    }
}

/// How a log lays records out in its blocks.
pub(crate) trait LogFormat: Send + Sync {
    /// The write granularity: a flush writes whole blocks (8 KiB WAL pages, 512-byte redo
    /// blocks).
    fn block(&self) -> u64;
    /// Where a record of `len` bytes appended at `insert` ends (block headers included).
    fn end_of(&self, insert: u64, len: usize) -> u64;
    /// Puts the record into the ring (headers, zeroed fresh blocks) and returns its end,
    /// which is `end_of(insert, record.len())`.
    fn place(&self, ring: &mut Ring, insert: u64, record: &[u8]) -> u64;
}

/// Where the log goes.
pub(crate) trait LogSink: Send {
    /// Writes `data`: the log from `from` (a block boundary) to the end of the block holding
    /// position `upto - 1`.
    fn write(&mut self, from: u64, upto: u64, data: &[u8]) -> Result<(), WorkloadError>;
    /// Makes what was written durable (a no-op for files opened `O_DSYNC`).
    fn sync(&mut self) -> Result<(), WorkloadError>;
}

/// What a committer waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Written and synced (PostgreSQL `synchronous_commit=on`, InnoDB
    /// `innodb_flush_log_at_trx_commit=1`).
    Durable,
    /// Written to the file, not synced (InnoDB `=2`).
    Written,
    /// Nothing: the record stays in memory (InnoDB `=0`).
    Buffered,
}

#[derive(Debug)]
struct LogState {
    ring: Ring,
    insert: u64,
    written: u64,
    flushed: u64,
    busy: bool,
    failed: bool,
}

/// The shared log: appends, group commit, and the sink behind it.
#[derive(Debug)]
pub(crate) struct GroupCommit<F, S> {
    format: F,
    state: Mutex<LogState>,
    cv: Condvar,
    sink: Mutex<S>,
}

fn poisoned<T>(_: T) -> WorkloadError {
    WorkloadError::Failed("a log writer thread panicked".to_owned())
}

impl<F: LogFormat, S: LogSink> GroupCommit<F, S> {
    /// A log starting at position `start` (a block boundary), buffered in a ring of
    /// `ring_len` bytes (a multiple of the block size, larger than any one record).
    pub(crate) fn new(format: F, sink: S, start: u64, ring_len: u64) -> Self {
        Self {
            format,
            state: Mutex::new(LogState {
                ring: Ring::new(ring_len as usize),
                insert: start,
                written: start,
                flushed: start,
                busy: false,
                failed: false,
            }),
            cv: Condvar::new(),
            sink: Mutex::new(sink),
        }
    }

    /// The insert position: where the next record goes.
    pub(crate) fn insert_lsn(&self) -> Result<u64, WorkloadError> {
        Ok(self.state.lock().map_err(poisoned)?.insert)
    }

    /// The flushed position: everything before it is durable.
    pub(crate) fn flushed_lsn(&self) -> Result<u64, WorkloadError> {
        Ok(self.state.lock().map_err(poisoned)?.flushed)
    }

    /// Appends a record; returns (its start, its end). When the ring has no room, the
    /// appender first writes out (without syncing) what is in it, or waits for the leader
    /// to, as PostgreSQL's `AdvanceXLInsertBuffer` and InnoDB's full log buffer do.
    pub(crate) fn append(&self, record: &[u8]) -> Result<(u64, u64), WorkloadError> {
        let mut st = self.state.lock().map_err(poisoned)?;
        loop {
            if st.failed {
                return Err(failed());
            }
            let end = self.format.end_of(st.insert, record.len());
            let oldest = align_down(st.written, self.format.block());
            if end - oldest <= st.ring.len() {
                let start = st.insert;
                let st_ref = &mut *st;
                st_ref.insert = self.format.place(&mut st_ref.ring, start, record);
                return Ok((start, st_ref.insert));
            }
            if end - st.insert > st.ring.len() {
                return Err(WorkloadError::Failed(format!(
                    "a log record of {} bytes does not fit the {}-byte log buffer",
                    record.len(),
                    st.ring.len()
                )));
            }
            st = if st.busy {
                self.wait(st)?
            } else {
                self.lead(st, false)?
            };
        }
    }

    /// Waits until the log is written (or durable) up to `lsn`; the caller may become the
    /// leader and do the I/O. Returns true if this caller did a sync.
    pub(crate) fn commit(&self, lsn: u64, wait: Wait) -> Result<bool, WorkloadError> {
        let mut st = self.state.lock().map_err(poisoned)?;
        let mut synced = false;
        loop {
            if st.failed {
                return Err(failed());
            }
            let done = match wait {
                Wait::Durable => st.flushed >= lsn,
                Wait::Written => st.written >= lsn,
                Wait::Buffered => true,
            };
            if done {
                return Ok(synced);
            }
            if st.busy {
                // The leader always clears `busy` and notifies; the timeout only guards
                // against a leader that can no longer do so.
                st = self.wait(st)?;
            } else {
                synced |= wait == Wait::Durable;
                st = self.lead(st, wait == Wait::Durable)?;
            }
        }
    }

    fn wait<'a>(
        &'a self,
        st: MutexGuard<'a, LogState>,
    ) -> Result<MutexGuard<'a, LogState>, WorkloadError> {
        let (st, _) = self.cv.wait_timeout(st, POLL).map_err(poisoned)?;
        Ok(st)
    }

    /// As the leader: writes from the written position's block to the insert position and,
    /// if `sync`, syncs; then wakes the waiters.
    fn lead<'a>(
        &'a self,
        mut st: MutexGuard<'a, LogState>,
        sync: bool,
    ) -> Result<MutexGuard<'a, LogState>, WorkloadError> {
        st.busy = true;
        let target = st.insert;
        let block = self.format.block();
        let from = align_down(st.written, block);
        let data = if target > st.written {
            Some(st.ring.read(from, align_up(target, block)))
        } else {
            None
        };
        let need_sync = sync && st.flushed < target;
        drop(st);
        let result = (|| {
            let mut sink = self.sink.lock().map_err(poisoned)?;
            if let Some(data) = &data {
                sink.write(from, target, data)?;
            }
            if need_sync {
                sink.sync()?;
            }
            Ok(())
        })();
        let mut st = self.state.lock().map_err(poisoned)?;
        st.busy = false;
        match &result {
            Ok(()) => {
                st.written = st.written.max(target);
                if sync {
                    st.flushed = st.flushed.max(target);
                }
            }
            Err(_) => st.failed = true,
        }
        self.cv.notify_all();
        result.map(|()| st)
    }

    /// The sink, once every thread is done.
    pub(crate) fn into_sink(self) -> Result<S, WorkloadError> {
        self.sink.into_inner().map_err(poisoned)
    }
}

fn failed() -> WorkloadError {
    WorkloadError::Failed("the log writer failed (see the first error)".to_owned())
}

/// `x` rounded down to a multiple of `a`.
pub(crate) fn align_down(x: u64, a: u64) -> u64 {
    x - x % a
}

/// `x` rounded up to a multiple of `a`.
pub(crate) fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Records as they are: 64-byte blocks, no headers.
    struct Plain;
    impl LogFormat for Plain {
        fn block(&self) -> u64 {
            64
        }
        fn end_of(&self, insert: u64, len: usize) -> u64 {
            insert + len as u64
        }
        fn place(&self, ring: &mut Ring, insert: u64, record: &[u8]) -> u64 {
            ring.put(insert, record);
            insert + record.len() as u64
        }
    }

    /// Remembers every write and counts syncs; a sync takes `delay`.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<(u64, u64, Vec<u8>)>,
        syncs: Arc<AtomicUsize>,
        delay: Duration,
    }
    impl LogSink for Recorder {
        fn write(&mut self, from: u64, upto: u64, data: &[u8]) -> Result<(), WorkloadError> {
            self.writes.push((from, upto, data.to_vec()));
            Ok(())
        }
        fn sync(&mut self) -> Result<(), WorkloadError> {
            std::thread::sleep(self.delay);
            self.syncs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn ring_wraps() {
        let mut r = Ring::new(8);
        r.put(6, b"abcd");
        assert_eq!(r.read(6, 10), b"abcd");
        r.zero(7, 2);
        assert_eq!(r.read(6, 10), b"a\0\0d");
        assert_eq!(r.len(), 8);
    }

    #[test]
    fn one_committer_rewrites_the_tail_block() {
        let gc = GroupCommit::new(Plain, Recorder::default(), 0, 1024);
        let (s, e) = gc.append(&[1; 40]).unwrap();
        assert_eq!((s, e), (0, 40));
        assert!(gc.commit(e, Wait::Durable).unwrap());
        let (_, e) = gc.append(&[2; 40]).unwrap();
        assert!(gc.commit(e, Wait::Durable).unwrap());
        assert!(!gc.commit(e, Wait::Durable).unwrap(), "already durable");
        assert_eq!(gc.flushed_lsn().unwrap(), 80);
        let sink = gc.into_sink().unwrap();
        let spans: Vec<(u64, u64, usize)> = sink
            .writes
            .iter()
            .map(|(f, u, d)| (*f, *u, d.len()))
            .collect();
        // The second flush starts again at the start of the partly filled block 0 and
        // covers blocks 0 and 1.
        assert_eq!(spans, vec![(0, 40, 64), (0, 80, 128)]);
        assert_eq!(
            &sink.writes[1].2[..80],
            &[[1u8; 40], [2u8; 40]].concat()[..]
        );
        assert!(sink.writes[1].2[80..].iter().all(|&b| b == 0));
        assert_eq!(sink.syncs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn one_flush_covers_everyone_queued_before_it() {
        let sink = Recorder {
            delay: Duration::from_millis(5),
            ..Recorder::default()
        };
        let syncs = sink.syncs.clone();
        let gc = GroupCommit::new(Plain, sink, 0, 1 << 16);
        // Three committers append before anyone flushes: the first flush covers all three.
        let ends: Vec<u64> = (0..3).map(|_| gc.append(&[7; 10]).unwrap().1).collect();
        assert!(gc.commit(ends[0], Wait::Durable).unwrap());
        assert!(!gc.commit(ends[1], Wait::Durable).unwrap());
        assert!(!gc.commit(ends[2], Wait::Durable).unwrap());
        assert_eq!(syncs.load(Ordering::SeqCst), 1);

        // Eight threads committing 50 times each while a sync takes 5 ms: far fewer syncs
        // than commits, and every commit is durable when commit() returns.
        let commits = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let (_, e) = gc.append(&[9; 30]).unwrap();
                        gc.commit(e, Wait::Durable).unwrap();
                        assert!(gc.flushed_lsn().unwrap() >= e);
                        commits.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        let n = syncs.load(Ordering::SeqCst) - 1;
        assert_eq!(commits.load(Ordering::SeqCst), 400);
        assert!(n < 300, "{n} syncs for 400 commits");
        let sink = gc.into_sink().unwrap();
        // Writes never go backwards past a block and end where the log ends.
        for w in sink.writes.windows(2) {
            assert!(
                w[1].0 >= align_down(w[0].1, 64),
                "{:?} then {:?}",
                w[0].0,
                w[1].0
            );
        }
        assert_eq!(sink.writes.last().unwrap().1, 30 + 400 * 30);
    }

    #[test]
    fn written_and_buffered_commits_do_not_sync() {
        let gc = GroupCommit::new(Plain, Recorder::default(), 0, 1024);
        let (_, e) = gc.append(&[1; 10]).unwrap();
        assert!(!gc.commit(e, Wait::Buffered).unwrap());
        assert!(!gc.commit(e, Wait::Written).unwrap());
        assert_eq!(gc.flushed_lsn().unwrap(), 0);
        // A later durable flush syncs what was only written.
        assert!(gc.commit(e, Wait::Durable).unwrap());
        let sink = gc.into_sink().unwrap();
        assert_eq!(sink.writes.len(), 1);
        assert_eq!(sink.syncs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_full_ring_is_written_out_first() {
        let gc = GroupCommit::new(Plain, Recorder::default(), 0, 128);
        for _ in 0..10 {
            gc.append(&[3; 50]).unwrap();
        }
        assert!(gc.flushed_lsn().unwrap() == 0, "written, not synced");
        let e = gc.append(&[3; 500]).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
        let sink = gc.into_sink().unwrap();
        assert!(!sink.writes.is_empty());
        assert_eq!(sink.syncs.load(Ordering::SeqCst), 0);
    }

    struct Failing;
    impl LogSink for Failing {
        fn write(&mut self, _: u64, _: u64, _: &[u8]) -> Result<(), WorkloadError> {
            Err(WorkloadError::Failed(
                "pg_wal/x: pwrite: No space left on device".into(),
            ))
        }
        fn sync(&mut self) -> Result<(), WorkloadError> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_fails_every_committer() {
        let gc = GroupCommit::new(Plain, Failing, 0, 1024);
        let (_, e) = gc.append(&[1; 10]).unwrap();
        let err = gc.commit(e, Wait::Durable).unwrap_err().to_string();
        assert!(err.contains("No space left"), "{err}");
        let err = gc.commit(e, Wait::Durable).unwrap_err().to_string();
        assert!(err.contains("log writer failed"), "{err}");
        assert!(gc.append(&[1]).is_err());
    }
}

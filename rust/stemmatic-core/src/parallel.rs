//! Rayon pools sized by the caller's `workers`, else by the
//! `STEMMATIC_NUM_THREADS` environment variable, else by the number of CPUs.
//!
//! Pools are built once per size and cached: building one per call would cost
//! more than hashing a small batch. Results never depend on the pool size;
//! every batch function writes row `i`'s result to slot `i`.
//!
//! Batches are split by bytes, not rows ([`ranges_by_bytes`]): a task is a run
//! of consecutive rows holding about the same amount of text as every other
//! task, so 400-byte documents and 4-MB ones keep every worker equally busy,
//! and a task is large enough (at least [`MIN_TASK_BYTES`]) that handing it to
//! a thread, and setting up its buffers, costs nothing next to its work.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{CoreError, Result};

/// Environment variable that sets the default number of worker threads.
pub const NUM_THREADS_ENV: &str = "STEMMATIC_NUM_THREADS";

/// Most worker threads per CPU a caller may ask for: more is a mistake (a
/// pool of 100,000 threads takes minutes to build), not a speed-up.
pub const MAX_WORKERS_PER_CPU: usize = 16;

/// The number of worker threads to use: `workers` if given (0 means "all
/// CPUs"), else `STEMMATIC_NUM_THREADS`, else the number of CPUs.
///
/// # Errors
/// `STEMMATIC_NUM_THREADS` is set but is not a non-negative integer, or the
/// number asked for is more than [`MAX_WORKERS_PER_CPU`] per CPU (and more
/// than 256).
pub fn resolve_workers(workers: Option<usize>) -> Result<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let requested = match workers {
        Some(n) => n,
        None => match std::env::var(NUM_THREADS_ENV) {
            Ok(value) if !value.trim().is_empty() => {
                value.trim().parse::<usize>().map_err(|_| {
                    CoreError::param(
                        "STEMMATIC_NUM_THREADS",
                        format!("{value:?} is not a non-negative integer"),
                    )
                })?
            }
            _ => 0,
        },
    };
    let limit = (cpus * MAX_WORKERS_PER_CPU).max(256);
    if requested > limit {
        return Err(CoreError::param(
            "workers",
            format!(
                "{requested} threads is more than {limit} ({MAX_WORKERS_PER_CPU} per CPU on {cpus} CPUs); pass 0 for one per CPU"
            ),
        ));
    }
    Ok(if requested == 0 { cpus } else { requested })
}

fn pools() -> &'static Mutex<HashMap<usize, Arc<ThreadPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Run `job` on a pool of `threads` workers (built on first use, then reused).
///
/// # Errors
/// The pool could not be built (the OS refused the threads).
pub fn run_in_pool<R: Send>(threads: usize, job: impl FnOnce() -> R + Send) -> Result<R> {
    let threads = threads.max(1);
    let pool = {
        let mut cache = pools().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = cache.get(&threads) {
            Arc::clone(pool)
        } else {
            let pool = ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("stemmatic-{i}"))
                .build()
                .map_err(|err| CoreError::ThreadPool {
                    threads,
                    reason: err.to_string(),
                })?;
            let pool = Arc::new(pool);
            cache.insert(threads, Arc::clone(&pool));
            pool
        }
    };
    Ok(pool.install(job))
}

/// The least text a parallel task holds: below this a thread hand-off and a
/// task's buffers cost more than the parallelism saves.
pub const MIN_TASK_BYTES: usize = 1 << 15;

/// Tasks per worker: enough that the last, unequal ones leave no worker idle for long.
const TASKS_PER_WORKER: usize = 16;

/// What a row costs besides its bytes (a call, its status, its output), in
/// bytes of text: rows without text still count.
const ROW_COST_BYTES: usize = 32;

/// Consecutive row ranges of about equal bytes (`bytes_of` each row, plus a
/// fixed cost per row) covering `rows` in order: one range for one worker or
/// a batch under two tasks' worth of text, else about [`TASKS_PER_WORKER`] per
/// worker, none under [`MIN_TASK_BYTES`] (but for the last). A row is never split.
pub fn ranges_by_bytes<R>(
    rows: &[R],
    bytes_of: impl Fn(&R) -> usize,
    workers: usize,
) -> Vec<Range<usize>> {
    let cost = |row: &R| bytes_of(row).saturating_add(ROW_COST_BYTES);
    let total = rows.iter().map(cost).fold(0usize, usize::saturating_add);
    if workers <= 1 || rows.len() < 2 || total < 2 * MIN_TASK_BYTES {
        return std::iter::once(0..rows.len()).collect();
    }
    let target = (total / (workers * TASKS_PER_WORKER)).max(MIN_TASK_BYTES);
    let mut ranges = Vec::with_capacity(total / target + 1);
    let (mut start, mut held) = (0, 0usize);
    for (i, row) in rows.iter().enumerate() {
        let row_cost = cost(row);
        if held > 0 && held.saturating_add(row_cost) > 2 * target {
            // A long row starts a task of its own rather than doubling this one.
            ranges.push(start..i);
            (start, held) = (i, 0);
        }
        held = held.saturating_add(row_cost);
        if held >= target {
            ranges.push(start..i + 1);
            (start, held) = (i + 1, 0);
        }
    }
    if start < rows.len() {
        ranges.push(start..rows.len());
    }
    ranges
}

/// `data`, `width` values per row, cut into one mutable slice per range of
/// `ranges` (consecutive, from row 0, as [`ranges_by_bytes`] gives them).
///
/// # Panics
/// The ranges are not consecutive from 0 or reach past `data` (a bug of the caller).
pub fn split_by_ranges<'a, T>(
    mut data: &'a mut [T],
    ranges: &[Range<usize>],
    width: usize,
) -> Vec<&'a mut [T]> {
    let mut parts = Vec::with_capacity(ranges.len());
    let mut next = 0;
    for range in ranges {
        assert_eq!(range.start, next, "ranges must be consecutive");
        let (part, rest) = data.split_at_mut(range.len() * width);
        parts.push(part);
        data = rest;
        next = range.end;
    }
    parts
}

/// Write `value` to every slot of `slots` and view them as initialised: for
/// output memory a worker fills in place, never written before (so no
/// thread fills a whole batch's output first).
pub fn init_with<T: Copy>(slots: &mut [MaybeUninit<T>], value: T) -> &mut [T] {
    for slot in slots.iter_mut() {
        slot.write(value);
    }
    // SAFETY: every element was just written, and `MaybeUninit<T>` has the
    // size, alignment and layout of `T`.
    unsafe { &mut *(std::ptr::from_mut(slots) as *mut [T]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_rows_in_order_with_balanced_bytes() {
        // 10,000 rows of 400 bytes and one of 1 MB, on 2 workers.
        let mut lens = vec![400usize; 10_000];
        lens[5_000] = 1 << 20;
        let ranges = ranges_by_bytes(&lens, |&n| n, 2);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(lens.len()));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert!(
            ranges.len() >= 2 * TASKS_PER_WORKER / 2,
            "{} ranges",
            ranges.len()
        );
        let total: usize = lens.iter().map(|n| n + ROW_COST_BYTES).sum();
        let target = total / (2 * TASKS_PER_WORKER);
        let bytes = |range: &Range<usize>| -> usize {
            lens[range.clone()].iter().map(|n| n + ROW_COST_BYTES).sum()
        };
        let long_row = |range: &Range<usize>| range.len() == 1 && bytes(range) > 2 * target;
        for (k, range) in ranges[..ranges.len() - 1].iter().enumerate() {
            // At least the target and at most twice it, but for a long row
            // alone and the shorter task cut just before it.
            assert!(
                (target..=2 * target).contains(&bytes(range))
                    || long_row(range)
                    || long_row(&ranges[k + 1]),
                "{range:?}: {}",
                bytes(range)
            );
        }
        let big = ranges.iter().find(|r| r.contains(&5_000)).unwrap();
        assert_eq!(big.len(), 1, "the 1 MB row is a task of its own: {big:?}");
    }

    #[test]
    fn small_batches_and_one_worker_are_one_range() {
        assert_eq!(ranges_by_bytes(&[400usize; 100], |&n| n, 2), vec![0..100]);
        assert_eq!(
            ranges_by_bytes(&vec![400usize; 100_000], |&n| n, 1),
            vec![0..100_000]
        );
        assert_eq!(ranges_by_bytes::<usize>(&[], |&n| n, 4), vec![0..0]);
        // Many empty rows still split: each row has a cost of its own.
        assert!(ranges_by_bytes(&vec![0usize; 100_000], |&n| n, 2).len() > 1);
    }

    #[test]
    fn split_by_ranges_gives_each_range_its_rows() {
        let mut data: Vec<u32> = (0..30).collect();
        let parts = split_by_ranges(&mut data, &[0..2, 2..3, 3..10], 3);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [6, 3, 21]
        );
        assert_eq!(parts[1], &[6, 7, 8]);
    }

    #[test]
    fn explicit_workers_win() {
        assert_eq!(resolve_workers(Some(3)).unwrap(), 3);
        assert!(resolve_workers(Some(0)).unwrap() >= 1);
    }

    #[test]
    fn pool_runs_the_job_with_its_size() {
        let seen = run_in_pool(2, rayon::current_num_threads).unwrap();
        assert_eq!(seen, 2);
    }
}

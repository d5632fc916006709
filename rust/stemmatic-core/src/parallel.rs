//! Rayon pools sized by the caller's `workers`, else by the
//! `STEMMATIC_NUM_THREADS` environment variable, else by the number of CPUs.
//!
//! Pools are built once per size and cached: building one per call would cost
//! more than hashing a small batch. Results never depend on the pool size;
//! every batch function writes row `i`'s result to slot `i`.

use std::collections::HashMap;
use std::num::NonZeroUsize;
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

#[cfg(test)]
mod tests {
    use super::*;

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

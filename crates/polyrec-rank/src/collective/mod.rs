//! The seam between the trainer and a distributed engine: a small set of collective
//! operations over the processes ("ranks") of one job.
//!
//! Data-parallel training needs four things from the engine, and nothing else: who am I
//! and how many are we ([`Collective::rank`], [`Collective::size`]), a sum of equally long
//! float buffers over every rank ([`Collective::all_reduce_sum`], the gradient average),
//! a copy of rank 0's bytes on every rank ([`Collective::broadcast_bytes`]: the starting
//! parameters, a resumed run's state, the early-stopping decision) and the bytes of every
//! rank at rank 0 ([`Collective::gather_bytes`]: the shards of `polyrec embed`).
//!
//! [`SingleProcess`] is the one-process job: every operation is the identity, so the
//! trainer has one code path. With the cargo feature `mpi`, [`MpiCollective`] implements
//! the same operations over MPI (any MPI launcher: `mpirun`, Slurm's `srun`); the
//! application, not this library, initialises MPI and passes the communicator down.
//!
//! A transport failure is not an error value here: MPI's default error handler ends the
//! whole job, which is what a data-parallel job wants (a rank that cannot take part must
//! not leave the others waiting). A rank that fails in its own work calls
//! [`Collective::abort`] with its error, which ends every rank.

#[cfg(feature = "mpi")]
mod mpi_impl;

#[cfg(feature = "mpi")]
pub use mpi_impl::MpiCollective;

/// Collective operations over the ranks of one job. Every rank must make the same calls in
/// the same order with buffers of the same lengths (the MPI rule); the trainer does.
pub trait Collective: std::fmt::Debug {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;
    /// Number of ranks in the job.
    fn size(&self) -> usize;
    /// This rank's index among the ranks on its own machine (its GPU, when there is one
    /// per rank).
    fn local_rank(&self) -> usize;
    /// Replaces `buf` on every rank by the element-wise sum of every rank's `buf`.
    fn all_reduce_sum(&self, buf: &mut [f32]);
    /// Replaces `buf` on every rank by rank 0's `buf` (same length on every rank).
    fn broadcast_f32(&self, buf: &mut [f32]);
    /// Replaces `bytes` on every rank by rank 0's bytes (any length).
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>);
    /// Every rank's `bytes`, in rank order, at rank 0 (`None` on the other ranks).
    fn gather_bytes(&self, bytes: &[u8]) -> Option<Vec<Vec<u8>>>;
    /// Waits until every rank has reached this call.
    fn barrier(&self);
    /// Ends the whole job with `code` after printing `message` (this rank's error).
    fn abort(&self, code: i32, message: &str) -> !;

    /// Whether this rank is the one that validates and writes (rank 0).
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// A job of one process: every collective operation is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn local_rank(&self) -> usize {
        0
    }
    fn all_reduce_sum(&self, _buf: &mut [f32]) {}
    fn broadcast_f32(&self, _buf: &mut [f32]) {}
    fn broadcast_bytes(&self, _bytes: &mut Vec<u8>) {}
    fn gather_bytes(&self, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        Some(vec![bytes.to_vec()])
    }
    fn barrier(&self) {}
    fn abort(&self, code: i32, message: &str) -> ! {
        eprintln!("error: {message}");
        std::process::exit(code)
    }
}

/// The part `[lo, hi)` of `len` items that rank `rank` of `size` takes: contiguous,
/// disjoint, together covering `0..len`, sizes differing by at most one.
pub fn shard_range(len: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    let lo = len * rank / size;
    let hi = len * (rank + 1) / size;
    lo..hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        for len in [0, 1, 2, 7, 64, 1000] {
            for size in 1..=9 {
                let mut next = 0;
                for rank in 0..size {
                    let r = shard_range(len, rank, size);
                    assert_eq!(r.start, next, "len {len} size {size} rank {rank}");
                    assert!(r.len() <= len.div_ceil(size));
                    next = r.end;
                }
                assert_eq!(next, len);
            }
        }
    }

    #[test]
    fn single_process_gathers_its_own_bytes() {
        let c = SingleProcess;
        assert_eq!(c.gather_bytes(b"abc"), Some(vec![b"abc".to_vec()]));
        let mut b = vec![1.0f32, 2.0];
        c.all_reduce_sum(&mut b);
        assert_eq!(b, [1.0, 2.0]);
    }
}

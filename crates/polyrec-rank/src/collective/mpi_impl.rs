//! [`Collective`] over MPI: host buffers, `MPI_Allreduce` (sum), `MPI_Bcast` from rank 0,
//! point-to-point sends for the gather, `MPI_Abort` for a failed rank.

use mpi::collective::SystemOperation;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Destination, Root, Source};

use super::Collective;

/// Largest piece of one MPI call, in elements (MPI counts are 32-bit ints).
const PIECE: usize = 1 << 28;

/// The ranks of an MPI communicator (usually `MPI_COMM_WORLD`).
pub struct MpiCollective {
    world: SimpleCommunicator,
    local_rank: usize,
}

impl std::fmt::Debug for MpiCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiCollective")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .field("local_rank", &self.local_rank)
            .finish()
    }
}

impl MpiCollective {
    /// The collective of `world`. Its local rank (the index among the ranks that share a
    /// machine, for picking a GPU) comes from an `MPI_COMM_TYPE_SHARED` split, so it holds
    /// under any launcher.
    pub fn new(world: SimpleCommunicator) -> Self {
        let local_rank = world.split_shared(world.rank()).rank().max(0) as usize;
        Self { world, local_rank }
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.world.rank().max(0) as usize
    }
    fn size(&self) -> usize {
        self.world.size().max(1) as usize
    }
    fn local_rank(&self) -> usize {
        self.local_rank
    }
    fn all_reduce_sum(&self, buf: &mut [f32]) {
        for piece in buf.chunks_mut(PIECE) {
            let send = piece.to_vec();
            self.world
                .all_reduce_into(&send[..], piece, SystemOperation::sum());
        }
    }
    fn broadcast_f32(&self, buf: &mut [f32]) {
        let root = self.world.process_at_rank(0);
        for piece in buf.chunks_mut(PIECE) {
            root.broadcast_into(piece);
        }
    }
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) {
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        for piece in bytes.chunks_mut(PIECE) {
            root.broadcast_into(piece);
        }
    }
    fn gather_bytes(&self, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        if self.rank() != 0 {
            let root = self.world.process_at_rank(0);
            root.send(&(bytes.len() as u64));
            for piece in bytes.chunks(PIECE) {
                root.send(piece);
            }
            return None;
        }
        let mut all = vec![bytes.to_vec()];
        for r in 1..self.world.size() {
            let from = self.world.process_at_rank(r);
            let (len, _) = from.receive::<u64>();
            let mut got = Vec::with_capacity(len as usize);
            while (got.len() as u64) < len {
                let (piece, _) = from.receive_vec::<u8>();
                got.extend_from_slice(&piece);
            }
            all.push(got);
        }
        Some(all)
    }
    fn barrier(&self) {
        self.world.barrier();
    }
    fn abort(&self, code: i32, message: &str) -> ! {
        eprintln!(
            "error on rank {} of {}: {message}",
            self.rank(),
            self.size()
        );
        self.world.abort(code)
    }
}

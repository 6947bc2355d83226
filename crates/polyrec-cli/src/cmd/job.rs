//! The processes of one job. Under an MPI launcher (`mpirun`, `srun`) and with the cargo
//! feature `mpi`, MPI is initialised here, by the application, and its communicator is
//! passed down to the library as a [`Collective`]; otherwise the job is this process.

use polyrec::rank::collective::{Collective, SingleProcess};

/// Environment variables by which MPI launchers tell a process it is one rank of a job:
/// Open MPI's `mpirun`, PMIx (Open MPI 4/5, `srun --mpi=pmix`), PMI (MPICH's Hydra,
/// `srun --mpi=pmi2`).
const LAUNCHER_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"];

/// Whether an MPI launcher started this process.
pub fn launched_by_mpi() -> bool {
    LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// The job this process belongs to. Dropping it finalises MPI.
pub struct Job {
    comm: Box<dyn Collective>,
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl Job {
    /// Joins the MPI job when an MPI launcher started this process (and the binary has
    /// MPI), otherwise a job of one. A binary without MPI under a launcher is an error:
    /// N copies would each train alone and overwrite each other's output.
    pub fn start() -> anyhow::Result<Self> {
        #[cfg(feature = "mpi")]
        if launched_by_mpi() {
            let universe = mpi::initialize()
                .ok_or_else(|| anyhow::anyhow!("MPI was initialised twice in one process"))?;
            let comm = polyrec::rank::collective::MpiCollective::new(universe.world());
            return Ok(Self {
                comm: Box::new(comm),
                _universe: Some(universe),
            });
        }
        #[cfg(not(feature = "mpi"))]
        if launched_by_mpi() && mpi_world_size() > 1 {
            anyhow::bail!(
                "started by an MPI launcher with {} processes, but this polyrec was built without the `mpi` feature: rebuild with `cargo build --release -p polyrec-cli --features mpi` (needs OpenMPI: scripts/setup.sh), or run one process",
                mpi_world_size()
            );
        }
        Ok(Self {
            comm: Box::new(SingleProcess),
            #[cfg(feature = "mpi")]
            _universe: None,
        })
    }

    /// The collective operations over the job's ranks.
    pub fn comm(&self) -> &dyn Collective {
        self.comm.as_ref()
    }
}

/// The job size an MPI launcher announces (1 when none does).
#[cfg(not(feature = "mpi"))]
fn mpi_world_size() -> usize {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(1)
}

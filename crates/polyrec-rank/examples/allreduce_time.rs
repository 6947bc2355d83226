//! Times the gradient all-reduce of data-parallel training by itself: N ranks sum a buffer
//! of F floats (the default model's trainable parameters unless given) R times, after a
//! barrier each time so that no rank's wait for a slower one is counted.
//!
//! ```sh
//! cargo build --release -p polyrec-rank --features mpi --example allreduce_time
//! mpirun -np 2 target/release/examples/allreduce_time 954192 200
//! ```

#[cfg(feature = "mpi")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use polyrec_rank::collective::{Collective, MpiCollective};
    let mut args = std::env::args().skip(1);
    let floats: usize = args.next().map_or(Ok(954_192), |a| a.parse())?;
    let rounds: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let universe = mpi::initialize().ok_or("MPI was already initialised")?;
    let comm = MpiCollective::new(universe.world());
    let mut buf = vec![1.0f32; floats];
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        comm.barrier();
        let t = std::time::Instant::now();
        comm.all_reduce_sum(&mut buf);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    if comm.is_root() {
        let ms = |q: f64| 1e3 * times[((times.len() - 1) as f64 * q) as usize];
        let bytes = 4.0 * floats as f64;
        let n = comm.size() as f64;
        println!(
            "{} ranks, {floats} floats ({:.2} MB), {rounds} rounds: median {:.3} ms, p10 {:.3} ms, p90 {:.3} ms; ring bytes per rank 2(N-1)/N x {:.2} MB = {:.2} MB, {:.2} GB/s at the median",
            comm.size(),
            bytes / 1e6,
            ms(0.5),
            ms(0.1),
            ms(0.9),
            bytes / 1e6,
            2.0 * (n - 1.0) / n * bytes / 1e6,
            2.0 * (n - 1.0) / n * bytes / (ms(0.5) / 1e3) / 1e9,
        );
    }
    Ok(())
}

#[cfg(not(feature = "mpi"))]
fn main() {
    eprintln!(
        "allreduce_time needs the feature mpi: cargo run -p polyrec-rank --features mpi --example allreduce_time"
    );
}

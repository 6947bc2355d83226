//! Build script shared by the crates that link libtorch through `tch`.
//!
//! `torch-sys` reports where it found libtorch (`DEP_TCH_LIBTORCH_LIB`). We embed that
//! directory as an rpath so binaries, tests and examples run without `LD_LIBRARY_PATH`.
//! When the libtorch install carries CUDA (the full PyPI wheel with its `nvidia/cudnn`
//! sibling), `libtorch_cuda.so` must be linked even though no symbol is used directly,
//! or `tch::Cuda::is_available()` reports false.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=POLYREC_LINK_CUDA");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    let lib_dir = std::path::Path::new(&lib);
    let has_cuda_stack =
        lib_dir.join("libtorch_cuda.so").exists() && lib_dir.join("../../nvidia/cudnn").exists();
    let forced = std::env::var("POLYREC_LINK_CUDA").ok();
    if forced.as_deref() == Some("1") || (forced.is_none() && has_cuda_stack) {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

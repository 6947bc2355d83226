//! The values of a CPU tensor as a slice, for the passes of this module.
//!
//! Both functions check the layout for real (CPU, `f32`, contiguous, the expected number
//! of elements, an aligned data pointer) and answer `None` otherwise, so that the caller
//! takes libtorch's ops instead. What no check can see is who else holds the storage: a
//! tensor shares it with its views and shallow clones, and libtorch writes through them
//! without Rust's borrow checker knowing. That part of the contract is the caller's, hence
//! `unsafe fn`.
#![allow(unsafe_code)] // slices over libtorch storage; the contract is on each function

use tch::{Device, Kind, Tensor};

/// The `len` values of `t`, or `None` when `t` is not a contiguous `f32` CPU tensor of
/// `len` elements.
///
/// # Safety
/// Nothing writes to `t`'s storage (through `t` or any tensor sharing it, on any thread)
/// while the returned slice is alive.
pub(super) unsafe fn data(t: &Tensor, len: usize) -> Option<&[f32]> {
    let ptr = checked_ptr(t, len)?;
    if len == 0 {
        return Some(&[]);
    }
    // SAFETY: `ptr` is non-null and aligned and starts `len` contiguous, initialised f32
    // values owned by `t`'s storage (checked in `checked_ptr`); the storage lives at least
    // as long as the borrow of `t`, and the caller vouches that nothing writes to it
    // meanwhile.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The `len` values of `t` for writing, or `None` when `t` is not a contiguous `f32` CPU
/// tensor of `len` elements.
///
/// # Safety
/// Nothing else reads or writes `t`'s storage while the returned slice is alive: `t` is
/// not a view of, nor shares storage with, any tensor in use elsewhere (the result of an
/// operation made by the caller, for instance).
pub(super) unsafe fn data_mut(t: &mut Tensor, len: usize) -> Option<&mut [f32]> {
    let ptr = checked_ptr(t, len)?;
    if len == 0 {
        return Some(&mut []);
    }
    // SAFETY: as in `data` for the memory; the caller vouches that this slice is the only
    // access to it while it lives.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// The data pointer of `t` when it holds exactly `len` contiguous `f32` values on the CPU
/// (any pointer when `len` is 0: the callers do not read it then).
fn checked_ptr(t: &Tensor, len: usize) -> Option<*mut f32> {
    let layout = t.device() == Device::Cpu
        && t.kind() == Kind::Float
        && t.is_contiguous()
        && t.numel() == len;
    if !layout {
        return None;
    }
    let ptr = t.data_ptr().cast::<f32>();
    (len == 0 || (!ptr.is_null() && ptr.is_aligned())).then_some(ptr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_contiguous_f32_cpu_tensors_of_the_stated_length_are_lent() {
        let opts = (Kind::Float, Device::Cpu);
        let t = Tensor::arange(6, opts).view([2, 3]);
        // SAFETY: nothing writes to these tensors in this test.
        unsafe {
            assert_eq!(data(&t, 6), Some(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0][..]));
            assert_eq!(data(&t, 5), None, "length");
            assert_eq!(data(&t.tr(), 6), None, "not contiguous");
            assert_eq!(data(&t.to_kind(Kind::Double), 6), None, "f64");
            assert_eq!(data(&t.narrow(0, 1, 1), 3), Some(&[3.0, 4.0, 5.0][..]));
            assert_eq!(data(&Tensor::zeros([0, 4], opts), 0), Some(&[][..]));
        }
        let mut fresh = Tensor::zeros([2, 2], opts);
        // SAFETY: `fresh` is made here and shared with nothing.
        let values = unsafe { data_mut(&mut fresh, 4) };
        values
            .expect("a fresh tensor")
            .copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            Vec::<f32>::try_from(fresh.view([-1])).ok(),
            Some(vec![1.0, 2.0, 3.0, 4.0])
        );
        let mut wrong = Tensor::zeros([2, 2], (Kind::Int64, Device::Cpu));
        // SAFETY: as above.
        assert!(unsafe { data_mut(&mut wrong, 4) }.is_none(), "int64");
    }
}

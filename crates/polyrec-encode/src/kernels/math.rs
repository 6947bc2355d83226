//! Scalar functions the passes vectorise: the exact GELU and `exp` for non-positive
//! inputs (the softmax of attention uses it too). Both are branch-free, so loops over them
//! compile to vector code for whatever features their caller enables.

/// Exact GELU, `x/2 * (1 + erf(x/sqrt 2))`.
#[inline(always)]
pub(super) fn gelu(x: f32) -> f32 {
    // Abramowitz and Stegun 7.1.26: erf(z) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-z^2),
    // t = 1 / (1 + p z), for z >= 0.
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / P.mul_add(z, 1.0);
    let poly = A5
        .mul_add(t, A4)
        .mul_add(t, A3)
        .mul_add(t, A2)
        .mul_add(t, A1)
        * t;
    // erfc(|z|) = poly * exp(-z^2); 1 + erf(x/sqrt 2) is 2 - erfc for x >= 0, erfc below.
    let erfc = poly * exp_nonpositive(-z * z);
    let one_plus_erf = if x >= 0.0 { 2.0 - erfc } else { erfc };
    0.5 * x * one_plus_erf
}

/// `exp(x)` for `x <= 0` (Cephes-style: `2^n * e^r`, `|r| <= ln 2 / 2`, degree-6
/// polynomial; relative error about 1e-7); inputs below -87 give about 1.6e-38 instead of
/// a denormal or zero, which no caller can tell apart from zero after the multiplication.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Rounding x / ln 2 to an integer n by adding 1.5 * 2^23: n lands in the low mantissa
    // bits, read back without a float-to-integer conversion (which would not vectorise).
    const SHIFT: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let shifted = x.mul_add(std::f32::consts::LOG2_E, SHIFT);
    let n = shifted - SHIFT;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let p = 1.987_569_1e-4_f32
        .mul_add(r, 1.398_199_9e-3)
        .mul_add(r, 8.333_452e-3)
        .mul_add(r, 4.166_579_6e-2)
        .mul_add(r, 0.166_666_65)
        .mul_add(r, 0.5);
    let e = p.mul_add(r * r, r) + 1.0;
    // 2^n through the exponent bits; n is in [-126, 0] here.
    let n_int = shifted.to_bits().wrapping_sub(SHIFT.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    e * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 (W. J. Cody's rational approximations are not needed: this series and
    /// continued fraction are exact to double precision over the range tested).
    fn erf64(x: f64) -> f64 {
        let z = x.abs();
        let v = if z < 3.0 {
            // Maclaurin series.
            let mut sum = z;
            let mut term = z;
            let mut k = 0.0;
            loop {
                k += 1.0;
                term *= -z * z / k;
                let add = term / (2.0 * k + 1.0);
                sum += add;
                if add.abs() < 1e-17 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // Continued fraction for erfc.
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (z + f);
            }
            1.0 - (-z * z).exp() / (std::f64::consts::PI.sqrt() * (z + f))
        };
        v.copysign(x)
    }

    #[test]
    fn exp_matches_the_standard_library() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let got = f64::from(exp_nonpositive(x));
            let want = f64::from(x).exp();
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp_nonpositive(-1000.0) < 1e-37);
    }

    #[test]
    fn gelu_matches_the_definition_within_float_precision() {
        let mut worst = 0.0f64;
        for i in -120_000..=120_000 {
            let x = i as f64 / 10_000.0;
            let want = 0.5 * x * (1.0 + erf64(x / std::f64::consts::SQRT_2));
            let got = f64::from(gelu(x as f32));
            worst = worst.max((got - want).abs());
        }
        assert!(worst < 3e-6, "worst absolute error {worst}");
        assert_eq!(gelu(0.0), 0.0);
        assert!(gelu(-30.0).abs() < 1e-30);
        assert_eq!(gelu(30.0), 30.0);
    }
}

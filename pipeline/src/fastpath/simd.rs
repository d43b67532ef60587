//! The fast path's vector kernels, chosen at run time: AVX2, or scalar code that gives
//! bit-identical results (each kernel is tested against the scalar one on random inputs).
//! Built for x86-64-v2, brisk runs on any DPDK-capable x86 server and uses AVX2 where the
//! CPU has it; `FastPathConfig::simd` (the bridge file's `fastpath.simd`, or `BRISK_SIMD`
//! in the benches) can pin the scalar path.
//!
//! Kernels (what each replaces, and what it measured, is in `docs/fastpath.md`):
//! - [`key_hash`]: the EMC's hash of the 29-word datapath key, NH-style (each word xored
//!   with a constant, its halves multiplied, the products summed), then one CRC32C to mix:
//!   four words per AVX2 instruction instead of one CRC per pair of words.
//!
//! AVX-512 versions of the hash and of the EMC bucket's signature compare were written and
//! measured slower on this project's Xeon (the hash 2x, the lookup stage +30 cycles per
//! packet), so there is no AVX-512 path: only what measurably pays is kept.

use crate::flow::{Flow, KEY_WORDS};

/// Which vector unit the fast path's kernels use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdPath {
    /// Plain 64-bit code (any x86-64-v2 CPU, and other architectures).
    Scalar,
    /// 256-bit AVX2.
    Avx2,
}

impl SimdPath {
    /// Every path, narrowest first.
    pub const ALL: [SimdPath; 2] = [SimdPath::Scalar, SimdPath::Avx2];

    /// The widest path this CPU runs.
    pub fn detect() -> SimdPath {
        Self::ALL
            .into_iter()
            .rev()
            .find(|p| p.available())
            .unwrap_or(SimdPath::Scalar)
    }

    /// True when this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            SimdPath::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            SimdPath::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The name used in configuration, `--version` and `pmd-stats`.
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Scalar => "scalar",
            SimdPath::Avx2 => "avx2",
        }
    }

    /// A path by name; `auto` is the widest available.
    pub fn parse(s: &str) -> Option<SimdPath> {
        match s {
            "auto" => Some(Self::detect()),
            _ => Self::ALL.into_iter().find(|p| p.name() == s),
        }
    }

    /// The paths this CPU runs, by name, narrowest first ("scalar, avx2"): for messages.
    pub fn available_names() -> String {
        let names: Vec<_> = Self::ALL
            .iter()
            .filter(|p| p.available())
            .map(|p| p.name())
            .collect();
        names.join(", ")
    }
}

/// Per-word constants of [`key_hash`] (random; zero past the key, so that the padding
/// lanes of the vector paths add nothing).
const NH_KEY: [u64; 32] = {
    let mut k = [0u64; 32];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut i = 0;
    while i < KEY_WORDS {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        k[i] = z ^ (z >> 31);
        i += 1;
    }
    k
};

/// The EMC's hash of a datapath key (its first [`KEY_WORDS`] words), the same on every
/// path. Only the EMC uses it, and an EMC hit is verified against its megaflow, so a
/// collision costs a probe, never a wrong answer. A path the CPU lacks runs the scalar
/// kernel (same result): the check is std's cached feature bit, one load.
#[inline(always)]
pub fn key_hash(path: SimdPath, k: &Flow) -> u32 {
    match path {
        #[cfg(target_arch = "x86_64")]
        SimdPath::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { x86::nh_sum_avx2(k).finish() }
        }
        _ => nh_sum_scalar(k).finish(),
    }
}

/// A sum of NH products, before mixing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NhSum(u64);

impl NhSum {
    #[inline(always)]
    fn finish(self) -> u32 {
        super::crc(0x1234_5678, self.0)
    }
}

#[inline(always)]
fn nh_sum_scalar(k: &Flow) -> NhSum {
    let mut s = 0u64;
    for (w, c) in k.w[..KEY_WORDS].iter().zip(&NH_KEY) {
        let a = w ^ c;
        s = s.wrapping_add((a & 0xffff_ffff) * (a >> 32));
    }
    NhSum(s)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{NhSum, NH_KEY};
    use crate::flow::{Flow, FLOW_WORDS, KEY_WORDS};
    use core::arch::x86_64::*;

    // The loads below read words 0..32 of a 40-word flow: always in bounds.
    const _: () = assert!(FLOW_WORDS >= 32 && KEY_WORDS > 28 && KEY_WORDS <= 32);

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn nh_sum_avx2(k: &Flow) -> NhSum {
        let p = k.w.as_ptr() as *const __m256i;
        let kp = NH_KEY.as_ptr() as *const __m256i;
        // SAFETY: the caller guarantees AVX2; the loads read words 0..32 (see above).
        unsafe {
            let mut acc = _mm256_setzero_si256();
            for j in 0..8 {
                let mut a =
                    _mm256_xor_si256(_mm256_loadu_si256(p.add(j)), _mm256_loadu_si256(kp.add(j)));
                if j == KEY_WORDS / 4 {
                    // Words 28..32: keep the key's, zero the metadata's.
                    let lanes = _mm256_set_epi64x(3, 2, 1, 0);
                    let keep = _mm256_set1_epi64x((KEY_WORDS % 4) as i64);
                    a = _mm256_and_si256(a, _mm256_cmpgt_epi64(keep, lanes));
                }
                acc = _mm256_add_epi64(acc, _mm256_mul_epu32(a, _mm256_srli_epi64::<32>(a)));
            }
            let s = _mm_add_epi64(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256::<1>(acc),
            );
            NhSum((_mm_cvtsi128_si64(s) as u64).wrapping_add(_mm_extract_epi64::<1>(s) as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flow_of(words: &[u64]) -> Flow {
        let mut f = Flow::ZERO;
        f.w.copy_from_slice(words);
        f
    }

    proptest! {
        /// Every available path hashes every key as the scalar path does, whatever the
        /// metadata words hold (they are not part of the key).
        #[test]
        fn key_hash_is_the_same_on_every_path(words in proptest::collection::vec(any::<u64>(), 40),
                                              sparse in any::<u64>()) {
            // Half the cases are sparse (most words zero), as real keys are.
            let mut f = flow_of(&words);
            if sparse & 1 == 1 {
                for i in 0..40 {
                    if sparse >> (i % 64) & 2 == 0 {
                        f.w[i] = 0;
                    }
                }
            }
            let want = key_hash(SimdPath::Scalar, &f);
            for p in SimdPath::ALL.into_iter().filter(|p| p.available()) {
                prop_assert_eq!(key_hash(p, &f), want, "{}", p.name());
            }
            let mut g = f;
            for x in &mut g.w[KEY_WORDS..] {
                *x = !*x;
            }
            prop_assert_eq!(key_hash(SimdPath::Scalar, &g), want);
        }
    }

    #[test]
    fn every_key_word_counts_and_nothing_else() {
        let base = Flow::ZERO;
        for p in SimdPath::ALL.into_iter().filter(|p| p.available()) {
            let h0 = key_hash(p, &base);
            for i in 0..40 {
                let mut k = base;
                k.w[i] = 1 << (i % 64);
                let changed = key_hash(p, &k) != h0;
                assert_eq!(changed, i < KEY_WORDS, "{} word {i}", p.name());
            }
        }
    }

    #[test]
    fn names_parse_back() {
        for p in SimdPath::ALL {
            assert_eq!(SimdPath::parse(p.name()), Some(p));
        }
        assert_eq!(SimdPath::parse("auto"), Some(SimdPath::detect()));
        assert_eq!(SimdPath::parse("sse9"), None);
    }
}

//! The one choice of CPU kernel: every SIMD call site (MinHash minima, the
//! token runs of MinHash and verification, the contamination scan's token
//! bounds) asks [`kernel`] which compiled path to run.
//!
//! The choice is made once per process (a [`OnceLock`]): the widest
//! [`Kernel`] whose every compiled-for feature this CPU has, unless the
//! environment variable `STEMMATIC_KERNEL` names one (`portable`, `avx2`,
//! `avx512`; `auto` or empty = detect). Every kernel gives the same values
//! (the tests compare each one the CPU has against the portable one), so the
//! override only changes speed: CI uses `STEMMATIC_KERNEL=portable` to run the
//! Python suite on the path that machines without AVX2 take.
//!
//! An unknown value, or a kernel this CPU cannot run, is an error from
//! [`try_kernel`] (the Python module raises it at import, naming what the CPU
//! lacks); [`kernel`], which hot paths call and which cannot fail, then runs
//! the detected kernel. No path ever runs code compiled for a feature the
//! CPU lacks: each `unsafe` call of a `#[target_feature]` function is reached
//! only through a [`Kernel`] that [`Kernel::is_supported`] accepted, and that
//! check tests exactly the features the function is compiled with.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::error::CoreError;

/// The environment variable that overrides the detected kernel.
pub const KERNEL_ENV: &str = "STEMMATIC_KERNEL";

/// A compiled path of the SIMD call sites, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kernel {
    /// General registers only (SWAR, 8 bytes at a time): every target.
    Portable,
    /// AVX2 (x86-64).
    Avx2,
    /// AVX-512 F, DQ, VL and BW, plus AVX2 (x86-64): what the MinHash kernel
    /// is compiled for. The token-bounds kernel also needs VBMI2
    /// ([`Kernel::token_bounds`]).
    Avx512,
}

impl Kernel {
    /// Every kernel, narrowest first.
    pub const ALL: [Kernel; 3] = [Kernel::Portable, Kernel::Avx2, Kernel::Avx512];

    /// `portable`, `avx2` or `avx512`: the values of `STEMMATIC_KERNEL`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// The CPU features this kernel's functions are compiled for
    /// (`#[target_feature]` names), all of which the CPU must have.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Kernel::Portable => &[],
            Kernel::Avx2 => &["avx2"],
            Kernel::Avx512 => &["avx2", "avx512f", "avx512dq", "avx512vl", "avx512bw"],
        }
    }

    /// The features of [`Kernel::features`] this CPU lacks (none: it can run
    /// the kernel). Feature detection is cached by the standard library.
    pub fn missing_features(self) -> Vec<&'static str> {
        self.features()
            .iter()
            .copied()
            .filter(|&feature| !has_feature(feature))
            .collect()
    }

    /// Whether this CPU has every feature the kernel is compiled for.
    pub fn is_supported(self) -> bool {
        self.features().iter().all(|&feature| has_feature(feature))
    }

    /// The widest kernel this CPU runs.
    pub fn detect() -> Kernel {
        Kernel::ALL
            .into_iter()
            .rev()
            .find(|kernel| kernel.is_supported())
            .unwrap_or(Kernel::Portable)
    }

    /// The kernels this CPU runs, narrowest first (for tests that compare
    /// each against [`Kernel::Portable`]).
    pub fn supported() -> impl Iterator<Item = Kernel> {
        Kernel::ALL
            .into_iter()
            .filter(|kernel| kernel.is_supported())
    }

    /// The path of the token-bounds function (the contamination scan's
    /// tokenizer) under this kernel: its AVX-512 form packs bounds with
    /// `vpcompressb`, so it also needs AVX-512 VBMI2 (and F, BW, AVX2, which
    /// [`Kernel::Avx512`] has); without VBMI2 it runs the AVX2 form.
    #[must_use]
    pub fn token_bounds(self) -> Kernel {
        if self == Kernel::Avx512 && !has_feature("avx512vbmi2") {
            Kernel::Avx2
        } else {
            self
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kernel {
    type Err = CoreError;

    /// A kernel name, whatever its case and surrounding spaces.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim().to_ascii_lowercase();
        Kernel::ALL
            .into_iter()
            .find(|kernel| kernel.name() == wanted)
            .ok_or_else(|| {
                CoreError::param(
                    KERNEL_ENV,
                    format!(
                        "unknown kernel {name:?}; expected one of \"auto\", \"portable\", \"avx2\", \"avx512\""
                    ),
                )
            })
    }
}

/// Whether the CPU has the `#[target_feature]` named `feature` (false for
/// any feature on a target other than x86-64, where only the portable kernel
/// is compiled).
fn has_feature(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avx512dq" => std::arch::is_x86_feature_detected!("avx512dq"),
            "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
            "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
            "avx512vbmi2" => std::arch::is_x86_feature_detected!("avx512vbmi2"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

/// The kernel `value` of `STEMMATIC_KERNEL` asks for (`None`: unset, empty
/// or `auto`, i.e. detect), checked against this CPU.
///
/// # Errors
/// [`CoreError::InvalidParameter`] for an unknown name, or a kernel whose
/// features the CPU lacks (named in the message).
pub fn parse_override(value: Option<&str>) -> Result<Kernel, CoreError> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() || value.eq_ignore_ascii_case("auto") {
        return Ok(Kernel::detect());
    }
    let kernel: Kernel = value.parse()?;
    let missing = kernel.missing_features();
    if !missing.is_empty() {
        let runnable: Vec<&str> = Kernel::supported().map(Kernel::name).collect();
        return Err(CoreError::param(
            KERNEL_ENV,
            format!(
                "this CPU cannot run the {kernel} kernel: it lacks {}; kernels it runs: {}",
                missing.join(", "),
                runnable.join(", ")
            ),
        ));
    }
    Ok(kernel)
}

/// The choice, made on first use from `STEMMATIC_KERNEL` and the CPU.
static CHOICE: OnceLock<Result<Kernel, CoreError>> = OnceLock::new();

fn choice() -> &'static Result<Kernel, CoreError> {
    CHOICE.get_or_init(|| {
        let value = std::env::var(KERNEL_ENV).ok();
        parse_override(value.as_deref())
    })
}

/// The kernel of this process: `STEMMATIC_KERNEL`'s, else the widest this
/// CPU runs. Always one the CPU supports.
///
/// # Errors
/// The error of an invalid `STEMMATIC_KERNEL` (see [`parse_override`]),
/// every time it is asked.
pub fn try_kernel() -> Result<Kernel, CoreError> {
    choice().clone()
}

/// [`try_kernel`] for the hot paths: with an invalid `STEMMATIC_KERNEL`
/// (which the Python module refuses at import), the detected kernel. Always
/// one the CPU supports.
#[inline]
pub fn kernel() -> Kernel {
    match choice() {
        Ok(kernel) => *kernel,
        Err(_) => Kernel::detect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kernel in Kernel::ALL {
            assert_eq!(kernel.name().parse::<Kernel>().unwrap(), kernel);
            assert_eq!(
                format!(" {} ", kernel.name().to_uppercase())
                    .parse::<Kernel>()
                    .unwrap(),
                kernel
            );
        }
        let err = "sse9".parse::<Kernel>().unwrap_err().to_string();
        assert!(
            err.contains("STEMMATIC_KERNEL") && err.contains("sse9"),
            "{err}"
        );
    }

    #[test]
    fn overrides_are_checked_against_the_cpu() {
        assert_eq!(parse_override(None).unwrap(), Kernel::detect());
        assert_eq!(parse_override(Some("")).unwrap(), Kernel::detect());
        assert_eq!(parse_override(Some("Auto")).unwrap(), Kernel::detect());
        assert_eq!(parse_override(Some("portable")).unwrap(), Kernel::Portable);
        assert!(parse_override(Some("fast")).is_err());
        for kernel in Kernel::ALL {
            match parse_override(Some(kernel.name())) {
                Ok(chosen) => {
                    assert_eq!(chosen, kernel);
                    assert!(kernel.is_supported());
                }
                Err(err) => {
                    assert!(!kernel.is_supported());
                    let message = err.to_string();
                    for feature in kernel.missing_features() {
                        assert!(message.contains(feature), "{message}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_choice_is_supported() {
        assert!(kernel().is_supported());
        assert!(kernel().token_bounds().is_supported());
        assert!(Kernel::detect().is_supported());
        assert!(Kernel::supported().any(|kernel| kernel == Kernel::Portable));
        // Each kernel needs at least the features of the narrower ones.
        for pair in Kernel::ALL.windows(2) {
            for feature in pair[0].features() {
                assert!(pair[1].features().contains(feature));
            }
        }
    }
}

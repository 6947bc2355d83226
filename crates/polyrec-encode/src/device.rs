//! Choosing where tensors live: CUDA when present, CPU otherwise, or what the user asks.
//!
//! The encoder is the lowest crate that places tensors, so the one device type lives here;
//! the ranking crate, the facade and the CLI (`--device`, parsed by clap through
//! [`FromStr`]) use it.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// A device request, as given on a command line or in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    /// CUDA device 0 when libtorch sees one, otherwise the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl FromStr for DeviceRequest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(Self::Cuda(i)),
                _ => Err(Error::Device {
                    requested: s.to_string(),
                    reason: "expected `auto`, `cpu`, `cuda` or `cuda:N`".to_string(),
                }),
            },
        }
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceRequest {
    /// Resolves the request against what libtorch sees on this machine.
    ///
    /// `Auto` never fails; an explicit `cuda` request fails with a clear error when no CUDA
    /// device (or not that many) is visible, rather than silently running on the CPU.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            Self::Auto => Ok(tch::Device::cuda_if_available()),
            Self::Cpu => Ok(tch::Device::Cpu),
            Self::Cuda(i) => {
                let n = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
                if i < n {
                    Ok(tch::Device::Cuda(i))
                } else {
                    Err(Error::Device {
                        requested: self.to_string(),
                        reason: format!("libtorch sees {n} CUDA device(s)"),
                    })
                }
            }
        }
    }
}

impl DeviceRequest {
    /// Resolves the request for the process with index `local_rank` among the processes of
    /// one job on this machine (one GPU per process): `cuda` (`cuda:0`) is GPU
    /// `local_rank`, `cuda:N` is GPU `N + local_rank`, `auto` is GPU `local_rank` modulo
    /// the GPUs there are (else the CPU). With `local_rank` 0 this is [`Self::resolve`].
    pub fn resolve_for_rank(self, local_rank: usize) -> Result<tch::Device> {
        match self {
            Self::Cpu => Ok(tch::Device::Cpu),
            Self::Auto => {
                let n = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
                Ok(if n > 0 && tch::Cuda::is_available() {
                    tch::Device::Cuda(local_rank % n)
                } else {
                    tch::Device::Cpu
                })
            }
            Self::Cuda(i) => {
                let n = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
                let ordinal = i.saturating_add(local_rank);
                if ordinal < n {
                    Ok(tch::Device::Cuda(ordinal))
                } else {
                    Err(Error::Device {
                        requested: self.to_string(),
                        reason: format!(
                            "the process with local rank {local_rank} would use GPU {ordinal}, but libtorch sees {n} CUDA device(s): start at most one process per GPU"
                        ),
                    })
                }
            }
        }
    }
}

/// What libtorch reports about the accelerators of this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// Whether CUDA is usable.
    pub cuda_available: bool,
    /// Number of CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn_available: bool,
    /// Threads libtorch uses for intra-op parallelism on the CPU.
    pub cpu_threads: i32,
}

impl DeviceReport {
    /// Queries libtorch.
    pub fn probe() -> Self {
        Self {
            cuda_available: tch::Cuda::is_available(),
            cuda_devices: tch::Cuda::device_count(),
            cudnn_available: tch::Cuda::cudnn_is_available(),
            cpu_threads: tch::get_num_threads(),
        }
    }
}

impl fmt::Display for DeviceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cuda_available {
            write!(
                f,
                "CUDA available ({} device(s), cuDNN {}), {} CPU threads",
                self.cuda_devices,
                if self.cudnn_available { "yes" } else { "no" },
                self.cpu_threads
            )
        } else {
            write!(
                f,
                "CUDA not available; CPU with {} threads",
                self.cpu_threads
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(
            "auto".parse::<DeviceRequest>().ok(),
            Some(DeviceRequest::Auto)
        );
        assert_eq!(
            "CPU".parse::<DeviceRequest>().ok(),
            Some(DeviceRequest::Cpu)
        );
        assert_eq!(
            "cuda".parse::<DeviceRequest>().ok(),
            Some(DeviceRequest::Cuda(0))
        );
        assert_eq!(
            "cuda:3".parse::<DeviceRequest>().ok(),
            Some(DeviceRequest::Cuda(3))
        );
        let err = "tpu".parse::<DeviceRequest>().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("tpu") && e.contains("cuda:N")));
    }

    #[test]
    fn cpu_always_resolves_and_missing_cuda_is_an_error() {
        assert_eq!(DeviceRequest::Cpu.resolve().ok(), Some(tch::Device::Cpu));
        let n = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
        assert!(DeviceRequest::Cuda(n).resolve().is_err());
    }
}

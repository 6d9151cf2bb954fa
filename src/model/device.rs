//! Which device the models run on: `--device auto|cpu|cuda` (and `metal` on macOS builds).
//!
//! `auto` takes a GPU when the binary was built with the `cuda` (or, on macOS, `metal`) feature
//! and one is present, else the CPU, saying so in one line on standard error. Asking for a GPU
//! explicitly is an error when the binary cannot use one, never a silent fall-back.

use candle_core::Device;

use super::ModelError;

/// The device asked for on the command line or in the viewer's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// A GPU when this build has one and it is present, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first NVIDIA GPU (a build with the `cuda` feature).
    Cuda,
    /// The Apple GPU (a macOS build with the `metal` feature).
    #[cfg(target_os = "macos")]
    Metal,
}

/// Whether this binary was built with the `cuda` feature.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// The device for `choice` (see the module documentation).
pub fn select_device(choice: DeviceChoice) -> Result<Device, ModelError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(auto_device()),
        DeviceChoice::Cuda => cuda_device(),
        #[cfg(target_os = "macos")]
        DeviceChoice::Metal => metal_device(),
    }
}

/// A GPU when built with one and present, else the CPU (with one line on standard error when a
/// GPU build finds none).
fn auto_device() -> Device {
    if CUDA_BUILT {
        match cuda_device() {
            Ok(d) => return d,
            Err(e) => eprintln!("warning: {e}; running on the CPU"),
        }
    }
    #[cfg(all(target_os = "macos", feature = "metal"))]
    match metal_device() {
        Ok(d) => return d,
        Err(e) => eprintln!("warning: {e}; running on the CPU"),
    }
    Device::Cpu
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, ModelError> {
    Device::new_cuda(0)
        .map_err(|e| ModelError::Invalid(format!("no CUDA device ({})", driver_reason(&e))))
}

/// The driver's error code (`CUDA_ERROR_NO_DEVICE`, …) out of candle's error, which may carry a
/// backtrace over many lines; else its first line.
#[cfg(feature = "cuda")]
fn driver_reason(e: &candle_core::Error) -> String {
    let text = e.to_string();
    if let Some(at) = text.find("CUDA_ERROR_") {
        let code: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        return code;
    }
    text.lines()
        .next()
        .unwrap_or("unknown error")
        .trim()
        .to_string()
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, ModelError> {
    Err(ModelError::Invalid(
        "--device cuda: this binary was built without the `cuda` feature (README.md, \
         \"GPU build\")"
            .into(),
    ))
}

#[cfg(all(target_os = "macos", feature = "metal"))]
fn metal_device() -> Result<Device, ModelError> {
    Device::new_metal(0).map_err(|e| ModelError::Invalid(format!("no Metal device ({e})")))
}

#[cfg(all(target_os = "macos", not(feature = "metal")))]
fn metal_device() -> Result<Device, ModelError> {
    Err(ModelError::Invalid(
        "--device metal: this binary was built without the `metal` feature".into(),
    ))
}

/// A short name for a device ("cpu", "cuda", "metal").
pub fn device_name(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn cpu_is_always_the_cpu() {
        assert!(matches!(select_device(DeviceChoice::Cpu), Ok(Device::Cpu)));
    }

    /// On a machine without a GPU (every test machine), `auto` falls back to the CPU whether or
    /// not the binary was built with `cuda`, and `--device cuda` is refused with the reason.
    #[test]
    fn without_a_gpu_auto_falls_back_and_cuda_is_refused() {
        if CUDA_BUILT && select_device(DeviceChoice::Cuda).is_ok() {
            eprintln!("skipped: a CUDA device is present");
            return;
        }
        assert!(matches!(select_device(DeviceChoice::Auto), Ok(Device::Cpu)));
        let err = select_device(DeviceChoice::Cuda).unwrap_err().to_string();
        if CUDA_BUILT {
            assert!(err.contains("no CUDA device"), "{err}");
        } else {
            assert!(err.contains("built without the `cuda` feature"), "{err}");
        }
    }

    #[test]
    fn unknown_names_are_refused_and_known_ones_parse() {
        assert_eq!(DeviceChoice::from_str("cuda", true), Ok(DeviceChoice::Cuda));
        assert_eq!(DeviceChoice::from_str("CPU", true), Ok(DeviceChoice::Cpu));
        assert!(DeviceChoice::from_str("tpu", true).is_err());
    }
}

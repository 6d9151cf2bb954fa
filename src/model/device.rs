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
    // The build of scripts/build-cuda.sh opens CUDA's libraries when a GPU is first asked for,
    // and cudarc panics when one is missing: that is the reason, not a crash.
    match catch_quietly(|| Device::new_cuda(0)) {
        Ok(Ok(device)) => Ok(device),
        Ok(Err(e)) => Err(ModelError::Invalid(format!(
            "no CUDA device ({})",
            driver_reason(&e)
        ))),
        Err(message) => Err(ModelError::Invalid(format!(
            "no CUDA device ({})",
            missing_library(&message)
        ))),
    }
}

/// Runs `f`, turning a panic into its message without printing it (the panic hook is swapped
/// for the call, one caller at a time; a panic on another thread meanwhile is not printed
/// either, so this is for the device choice at start-up, not for hot paths).
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn catch_quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".to_string())
    })
}

/// The library named in cudarc's "Unable to dynamically load the \"cublas\" shared library"
/// panic, as `CUDA library cublas not found`; else the message's first line.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn missing_library(message: &str) -> String {
    const LEAD: &str = "dynamically load the \"";
    if let Some(at) = message.find(LEAD) {
        let name: String = message[at + LEAD.len()..]
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        let name = if name == "cuda" {
            "cuda (the NVIDIA driver)"
        } else {
            name.as_str()
        };
        return format!("CUDA library {name} not found");
    }
    first_line(message)
}

/// The first line of an error's text (candle's and cudarc's may carry a backtrace or advice
/// over many lines), trimmed.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("unknown error")
        .trim()
        .to_string()
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
    first_line(&text)
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

    /// A missing CUDA library (cudarc's panic in the lazily-loading build) becomes one line
    /// naming it, and nothing is printed by the panic hook.
    #[test]
    fn a_missing_library_panic_becomes_its_name() {
        let caught = catch_quietly(|| -> u32 {
            panic!(
                "Unable to dynamically load the \"cublas\" shared library - searched for \
                 library names: [\"libcublas.so\"]. Ensure that `LD_LIBRARY_PATH` has the \
                 correct path"
            )
        });
        let message = caught.unwrap_err();
        assert_eq!(missing_library(&message), "CUDA library cublas not found");
        let driver = "Unable to dynamically load the \"cuda\" shared library - searched";
        assert_eq!(
            missing_library(driver),
            "CUDA library cuda (the NVIDIA driver) not found"
        );
        assert_eq!(missing_library("first line\nsecond"), "first line");
        assert_eq!(catch_quietly(|| 7), Ok(7));
        // The hook is the one before: a later panic still reports normally (nothing to assert
        // on stderr here; the call above returned, so the swap was undone without deadlock).
        assert_eq!(catch_quietly(|| 8), Ok(8));
    }

    #[test]
    fn unknown_names_are_refused_and_known_ones_parse() {
        assert_eq!(DeviceChoice::from_str("cuda", true), Ok(DeviceChoice::Cuda));
        assert_eq!(DeviceChoice::from_str("CPU", true), Ok(DeviceChoice::Cpu));
        assert!(DeviceChoice::from_str("tpu", true).is_err());
    }
}

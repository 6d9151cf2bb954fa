#![no_main]
//! Any bytes given to the PLY parser: an `Ok` or an `Err`, never a panic, hang or huge allocation.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spatia::scene::ply::parse_ply(std::path::Path::new("fuzz.ply"), data);
});

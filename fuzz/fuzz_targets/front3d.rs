#![no_main]
//! Any bytes given to the 3D-FRONT house parser: an `Ok` or an `Err`, never a panic or hang.

use libfuzzer_sys::fuzz_target;
use spatia::scene::LoadOptions;

fuzz_target!(|data: &[u8]| {
    let _ = spatia::scene::front3d::parse_house(
        std::path::Path::new("/nonexistent/fuzz.json"),
        data,
        &LoadOptions::default(),
    );
});

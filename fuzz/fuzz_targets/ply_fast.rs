#![no_main]
//! Differential: on any bytes, the fixed-stride fast path and the general PLY reader give the
//! same mesh or the same error (and neither panics, hangs or over-allocates).

use libfuzzer_sys::fuzz_target;
use spatia::scene::ply::{parse_ply, parse_ply_general};

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.ply");
    let fast = parse_ply(path, data).map_err(|e| e.to_string());
    let general = parse_ply_general(path, data).map_err(|e| e.to_string());
    assert_eq!(fast, general);
});

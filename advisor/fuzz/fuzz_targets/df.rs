#![no_main]
//! Fuzz target: arbitrary bytes never panic the df parser.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = btrtune_advisor::metrics::df::parse(&s, "fuzz");
});

//! bunker's integration tests: one binary, real oracles (restic, rustic), real files.

mod util;

mod errors;
mod interop;
mod roundtrip;

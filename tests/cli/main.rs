//! bunker's integration tests: one binary, real oracles (restic, rustic), real files.

mod util;

mod errors;
mod forget;
mod interop;
mod maintenance;
mod prune;
mod roundtrip;

//! bunker's integration tests: one binary, real oracles (restic, rustic), real files.

mod pgcluster;
mod servers;
mod util;

mod errors;
mod forget;
mod interop;
mod maintenance;
mod pg;
mod pitr;
mod prune;
mod roundtrip;
mod storage;

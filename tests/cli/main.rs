//! bunker's integration tests: one binary, real oracles (restic, rustic), real files.

mod pgcluster;
mod servers;
mod util;

mod alerts;
mod check;
mod configured;
mod daemon;
mod daemon_http;
mod dashboard;
mod disk;
mod errors;
mod exports;
mod forget;
mod fuzz;
mod interop;
mod jobs;
mod maintenance;
mod metrics;
mod pg;
mod physical_job;
mod pitr;
mod pitr_safety;
mod progress;
mod prune;
mod repair;
mod report;
mod restore;
mod roundtrip;
mod shared_repository;
mod sqlite;
mod storage;
mod watch;

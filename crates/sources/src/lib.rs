//! The systems bunker protects, seen as byte streams: the dump tools that produce them
//! and the restore tools that put them back. Nothing here knows the repository format.

pub mod postgres;

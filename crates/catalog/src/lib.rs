//! bunker-catalog

//! bunker-schedule

//! bunker-notify

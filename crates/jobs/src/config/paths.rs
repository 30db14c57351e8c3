//! Where bunker looks for its configuration and keeps its state, by the XDG rules.

use std::path::PathBuf;

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// `BUNKER_CONFIG`, else `$XDG_CONFIG_HOME/bunker/bunker.toml`, else
/// `~/.config/bunker/bunker.toml`.
pub fn default_config_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BUNKER_CONFIG") {
        return PathBuf::from(p);
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".config"))
        .join("bunker/bunker.toml")
}

/// `BUNKER_STATE_DIR`, else `$XDG_STATE_HOME/bunker`, else `~/.local/state/bunker`.
pub fn default_state_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BUNKER_STATE_DIR") {
        return PathBuf::from(p);
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".local/state"))
        .join("bunker")
}

/// bunker's cache directory: `BUNKER_CACHE_DIR`, else `$XDG_CACHE_HOME/bunker`, else
/// `~/.cache/bunker`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BUNKER_CACHE_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache"))
        .join("bunker")
}

//! Who may act: the bearer token of `[daemon] api_token`.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bunker_jobs::config::Config;

use super::reply::error;

/// Why a request that needs the token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The configuration has no `api_token`: actions are off (403).
    NoToken,
    /// The request's bearer token is missing or wrong (401).
    WrongToken,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NoToken => error(
                StatusCode::FORBIDDEN,
                "no api_token in [daemon]: actions are disabled",
            ),
            Refused::WrongToken => error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"),
        }
    }
}

/// Lets the request through when it carries `Authorization: Bearer TOKEN` with the
/// configured token.
pub fn bearer(headers: &HeaderMap, config: &Config) -> Result<(), Refused> {
    // The daemon does not start with an unresolved token; refuse all the same.
    let Some(Ok(token)) = config.daemon.api_token.as_ref().map(|t| t.resolve()) else {
        return Err(Refused::NoToken);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = format!("Bearer {token}");
    if !constant_time_eq(given, expected.as_bytes()) {
        return Err(Refused::WrongToken);
    }
    Ok(())
}

/// Compares a secret with what a client sent in a time that depends only on the
/// secret's length: not on where they differ, nor on how long the guess is.
pub(crate) fn constant_time_eq(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != secret.len());
    for (i, s) in secret.iter().enumerate() {
        diff |= s ^ given.get(i).copied().unwrap_or(!s);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_needs_every_byte_and_the_length() {
        assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abd", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer ab", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abcd", b"Bearer abc"));
        assert!(!constant_time_eq(b"", b"Bearer abc"));
        // A prefix padded with what the missing bytes would not be still fails.
        assert!(!constant_time_eq(b"Bearer ab\0", b"Bearer abc"));
    }
}

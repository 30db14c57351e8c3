//! Who is looking: logins (an argon2-hashed password from the configuration, or the API
//! token), sessions kept in memory behind an HttpOnly, SameSite=Strict cookie, and the
//! CSRF token that every form carries.
//!
//! Every visitor who is shown a form gets a session (anonymous until login), so that
//! the login form has a CSRF token like every other. Logging in replaces the session
//! id, so a cookie planted before the login is worth nothing after it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use bunker_jobs::config::Config;

use super::page::{esc, url};
use crate::http::AppState;

const COOKIE: &str = "bunker_session";
/// Sessions held at once; past it, the least recently used are forgotten.
const MAX_SESSIONS: usize = 1000;
/// How long a session nobody logged into lasts.
const ANONYMOUS_IDLE: Duration = Duration::from_secs(3600);
const DEFAULT_IDLE: Duration = Duration::from_secs(12 * 3600);

struct Session {
    csrf: String,
    logged_in: bool,
    last_used: Instant,
}

/// The sessions of the dashboard, in memory (a restart logs everyone out).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// One password check at a time: argon2 is slow and takes memory on purpose.
    checking: tokio::sync::Mutex<()>,
}

fn token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn idle_limit(config: &Config, logged_in: bool) -> Duration {
    if logged_in {
        config
            .daemon
            .dashboard
            .session_idle
            .map_or(DEFAULT_IDLE, |s| s.0)
    } else {
        ANONYMOUS_IDLE
    }
}

impl Sessions {
    /// The session behind `id`, if it is known and not expired; touches it.
    fn find(&self, id: &str, config: &Config) -> Option<(bool, String)> {
        let mut map = self.map.lock().expect("sessions");
        let s = map.get_mut(id)?;
        if s.last_used.elapsed() > idle_limit(config, s.logged_in) {
            map.remove(id);
            return None;
        }
        s.last_used = Instant::now();
        Some((s.logged_in, s.csrf.clone()))
    }

    /// A new session; returns its id and CSRF token.
    fn create(&self, logged_in: bool) -> (String, String) {
        let mut map = self.map.lock().expect("sessions");
        if map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| (s.logged_in, s.last_used))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let (id, csrf) = (token(), token());
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                logged_in,
                last_used: Instant::now(),
            },
        );
        (id, csrf)
    }

    fn remove(&self, id: &str) {
        self.map.lock().expect("sessions").remove(id);
    }
}

/// The visitor of a page: logged in or not, with the session's CSRF token when there
/// is a session. A handler that renders a form takes a `Viewer`; one that only shows
/// takes a [`Reader`].
#[derive(Clone)]
pub struct Viewer {
    pub logged_in: bool,
    csrf: String,
    /// A cookie to set on the response: the visitor had no session yet.
    new_cookie: Option<HeaderValue>,
}

impl Viewer {
    /// The hidden form field that proves a POST came from one of our pages.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            esc(&self.csrf)
        )
    }

    /// Whether `given` is this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        crate::http::constant_time_eq(given.as_bytes(), self.csrf.as_bytes())
            && !self.csrf.is_empty()
    }

    /// `response` with the new session's cookie, if one was made for this request.
    pub fn finish(&self, mut response: Response) -> Response {
        if let Some(c) = &self.new_cookie {
            response.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        response
    }
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(id: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict{age}"
    ))
    .expect("cookie is ASCII")
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &AppState) -> Result<Self, Response> {
        let config = shared.config();
        let sessions = &shared.dashboard.sessions;
        if let Some((logged_in, csrf)) =
            cookie_of(&parts.headers).and_then(|id| sessions.find(&id, &config))
        {
            return Ok(Viewer {
                logged_in,
                csrf,
                new_cookie: None,
            });
        }
        let (id, csrf) = sessions.create(false);
        Ok(Viewer {
            logged_in: false,
            csrf,
            new_cookie: Some(set_cookie(&id, None)),
        })
    }
}

/// A visitor allowed to read the pages: logged in, or on loopback when
/// `[daemon.dashboard] loopback_read` says so. Anyone else is sent to the login.
pub struct Reader(pub Viewer);

impl FromRequestParts<AppState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &AppState) -> Result<Self, Response> {
        let viewer = Viewer::from_request_parts(parts, shared).await?;
        let loopback = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback());
        if viewer.logged_in || (loopback && shared.config().daemon.dashboard.loopback_read) {
            return Ok(Reader(viewer));
        }
        let next = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let to = format!("/login?next={}", url(&next));
        Err(viewer.finish(Redirect::to(&to).into_response()))
    }
}

/// Whether `password` logs in: the argon2 hash of `[daemon.dashboard] password_hash`
/// or the API token.
fn password_ok(config: &Config, password: &str) -> bool {
    if password.is_empty() {
        return false;
    }
    if let Some(Ok(token)) = config.daemon.api_token.as_ref().map(|t| t.resolve()) {
        if crate::http::constant_time_eq(password.as_bytes(), token.as_bytes()) {
            return true;
        }
    }
    let Some(Ok(hash)) = config
        .daemon
        .dashboard
        .password_hash
        .as_ref()
        .map(|h| h.resolve())
    else {
        return false;
    };
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The argon2id hash (PHC string) of `password` with a fresh salt, for the
/// configuration's `password_hash`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Where to go after the login: a path on this site only (never `//host` or a URL).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

/// Checks a login: on success the old session is dropped and a logged-in one is set.
pub async fn log_in(
    shared: &AppState,
    headers: &HeaderMap,
    viewer: &Viewer,
    csrf: &str,
    password: String,
    next: &str,
) -> Result<Response, (StatusCode, &'static str)> {
    if !viewer.csrf_ok(csrf) {
        return Err((StatusCode::FORBIDDEN, "the form expired; try again"));
    }
    let config = shared.config();
    let ok = {
        let _one = shared.dashboard.sessions.checking.lock().await;
        let config = config.clone();
        tokio::task::spawn_blocking(move || password_ok(&config, &password))
            .await
            .unwrap_or(false)
    };
    if !ok {
        // A wrong guess costs the guesser a second more than the hash does.
        tokio::time::sleep(Duration::from_secs(1)).await;
        return Err((StatusCode::UNAUTHORIZED, "wrong password"));
    }
    let sessions = &shared.dashboard.sessions;
    if let Some(old) = cookie_of(headers) {
        sessions.remove(&old);
    }
    let (id, _) = sessions.create(true);
    let mut r = Redirect::to(next).into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&id, None));
    Ok(r)
}

/// Ends the session of the request.
pub fn log_out(shared: &AppState, headers: &HeaderMap) -> Response {
    if let Some(id) = cookie_of(headers) {
        shared.dashboard.sessions.remove(&id);
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie("", Some(0)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err());
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/jobs/db")), "/jobs/db");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn sessions_are_bounded() {
        let s = Sessions::default();
        for _ in 0..MAX_SESSIONS + 10 {
            s.create(false);
        }
        assert_eq!(s.map.lock().unwrap().len(), MAX_SESSIONS);
    }
}

//! `/login` and `/logout`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::page::{esc, Page};
use super::session::{self, safe_next, Viewer};
use crate::http::AppState;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

fn login_page(viewer: &Viewer, next: &str, message: Option<&str>) -> Page {
    let mut p = Page::new("Log in", "");
    if let Some(m) = message {
        p.push(&format!(
            "<p class=\"error\" id=\"login-error\">{}</p>",
            esc(m)
        ));
    }
    p.push(&format!(
        "<form method=\"post\" action=\"/login\" class=\"login\">{}\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Password or API token <input type=\"password\" name=\"password\" \
         id=\"password\" autocomplete=\"current-password\" required autofocus></label>\
         <button type=\"submit\" id=\"login\">Log in</button></form>",
        viewer.csrf_field(),
        esc(next)
    ));
    p
}

pub async fn form(viewer: Viewer, Query(q): Query<Next>) -> Response {
    let next = safe_next(q.next.as_deref());
    viewer.finish(login_page(&viewer, &next, None).render(&viewer))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn submit(
    State(shared): State<AppState>,
    headers: HeaderMap,
    viewer: Viewer,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    match session::log_in(&shared, &headers, &viewer, &f.csrf, f.password, &next).await {
        Ok(r) => r,
        Err((status, message)) => {
            let mut r = login_page(&viewer, &next, Some(message)).render(&viewer);
            *r.status_mut() = status;
            viewer.finish(r)
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(shared): State<AppState>,
    headers: HeaderMap,
    viewer: Viewer,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if !viewer.csrf_ok(&f.csrf) {
        return viewer.finish(super::page::problem(
            StatusCode::FORBIDDEN,
            &viewer,
            "the form expired; try again",
        ));
    }
    session::log_out(&shared, &headers)
}

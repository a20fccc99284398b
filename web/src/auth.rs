//! Sign-in: server-side sessions behind an HttpOnly, SameSite=Strict cookie (Secure behind
//! TLS), API keys as `Authorization: Bearer tt_…` for scripts, a per-session CSRF token for
//! every state-changing request made with the cookie, and roles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE, LOCATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use subtle::ConstantTimeEq;

use crate::accounts::{random_secret, Role};
use crate::html::url_component;
use crate::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tt_session";
/// Name of the cookie that pairs with the login form's CSRF field.
pub const LOGIN_COOKIE: &str = "tt_login";
/// A session ends after this long without a request.
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// … and after this long in any case.
const ABSOLUTE: Duration = Duration::from_secs(24 * 3600);

struct Session {
    name: String,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// The live sessions (in memory: a restart signs everybody out).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session for `name`; returns its cookie value.
    pub fn create(&self, name: &str) -> String {
        let id = random_secret();
        let now = Instant::now();
        let mut map = self.map.lock().expect("sessions lock");
        map.retain(|_, session| !expired(session, now));
        map.insert(
            id.clone(),
            Session {
                name: name.to_string(),
                csrf: random_secret(),
                created: now,
                last_seen: now,
            },
        );
        id
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.map.lock().expect("sessions lock").remove(id);
    }

    /// The user name and CSRF token of a live session.
    fn touch(&self, id: &str) -> Option<(String, String)> {
        let now = Instant::now();
        let mut map = self.map.lock().expect("sessions lock");
        let session = map.get_mut(id)?;
        if expired(session, now) {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some((session.name.clone(), session.csrf.clone()))
    }
}

fn expired(session: &Session, now: Instant) -> bool {
    now.duration_since(session.last_seen) > IDLE || now.duration_since(session.created) > ABSOLUTE
}

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value with the attributes every tokentrail cookie carries.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        text.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    HeaderValue::from_str(&text).expect("cookie values are URL-safe base64")
}

/// The signed-in user of a request.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token; `None` when authenticated by API key (no ambient credential,
    /// so no CSRF).
    pub csrf: Option<String>,
    /// Watchlist alerts raised since the user last acknowledged them (for the pages' banner;
    /// not counted for API requests).
    pub unseen_alerts: usize,
}

impl User {
    /// Checks the CSRF token sent with a state-changing request.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), Denied> {
        let Some(expected) = &self.csrf else {
            return Ok(());
        };
        match sent {
            Some(sent) if bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
            _ => Err(Denied(
                "missing or wrong CSRF token: reload the page and try again",
            )),
        }
    }

    /// The CSRF token for forms (empty for API-key users, who do not use forms).
    pub fn csrf_token(&self) -> &str {
        self.csrf.as_deref().unwrap_or("")
    }

    /// Fails unless the user is an admin.
    pub fn require_admin(&self) -> Result<(), Denied> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(Denied("this needs the admin role"))
        }
    }
}

/// A refused request (403 with a reason).
#[derive(Debug)]
pub struct Denied(pub &'static str);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        error_response(StatusCode::FORBIDDEN, self.0)
    }
}

/// A plain-text error (the API routes get JSON through [`api_error`]).
pub fn error_response(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
}

/// A JSON error `{"error": "..."}`.
pub fn api_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

impl FromRequestParts<AppState> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let key = value
                .to_str()
                .ok()
                .and_then(|text| text.strip_prefix("Bearer "))
                .map(str::trim);
            return match key.and_then(|key| state.accounts.verify_api_key(key)) {
                Some(principal) => Ok(User {
                    name: principal.name,
                    role: principal.role,
                    csrf: None,
                    unseen_alerts: 0,
                }),
                None => Err(api_error(StatusCode::UNAUTHORIZED, "invalid API key")),
            };
        }
        let session = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|id| state.sessions.touch(id))
            .and_then(|(name, csrf)| {
                let role = state.accounts.role_of(&name)?;
                Some(User {
                    name,
                    role,
                    csrf: Some(csrf),
                    unseen_alerts: 0,
                })
            });
        let path = parts.uri.path();
        if let Some(mut user) = session {
            if !is_api_path(path) {
                user.unseen_alerts = state.alerts.unseen(&user.name);
            }
            return Ok(user);
        }
        if is_api_path(path) {
            let mut response = api_error(
                StatusCode::UNAUTHORIZED,
                "sign in (session cookie) or send an API key as 'Authorization: Bearer tt_…'",
            );
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Err(response);
        }
        let next = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let location = format!("/login?next={}", url_component(next));
        Err((
            StatusCode::SEE_OTHER,
            [(LOCATION, HeaderValue::from_str(&location).expect("encoded"))],
        )
            .into_response())
    }
}

/// Where to go after signing in: only a local path (no `//host`, no scheme).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control()) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/trace?jti=x")), "/trace?jti=x");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookies_carry_strict_attributes() {
        let value = set_cookie(SESSION_COOKIE, "abc", true, None);
        assert_eq!(
            value.to_str().unwrap(),
            "tt_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }
}

//! `keycloak-event`: lines of Keycloak's `jboss-logging` event listener (logger
//! `org.keycloak.events`), from `data/log/keycloak.log`, the console/journal, or WildFly's
//! `server.log`.
//!
//! Grammar (three line forms, one message grammar):
//! ```text
//! text   := [YYYY-MM-DD SP] HH:MM:SS,mmm SP+ LEVEL SP+ "[org.keycloak.events]" SP+ "(" thread ")" SP msg
//! json   := {"timestamp":"<RFC 3339>", "loggerName":"org.keycloak.events", "hostName":…, "message":msg, …}
//! bare   := msg                                  ; a syslog/journal line whose pattern is `%s`
//! msg    := ("type=" | "operationType=") V {", " key "=" V}    ; details unordered
//! V      := '"' text-with-\"-escapes '"' | bare | "'" text "'"  ; `null` = absent
//! ```
//! e.g. `2025-03-14 09:20:11,532 INFO  [org.keycloak.events] (executor-thread-12) type="CODE_TO_TOKEN", …`
//! and the legacy `10:22:19,903 WARN  [org.keycloak.events] (default task-147) type=REFRESH_TOKEN_ERROR, …`.
//! Text times are local (context zone); a line without a date takes the context's reference
//! date (the rotated file name or modification time), else the transport prefix's time.
//!
//! Fields of user events (`type=`): `jti` = `token_id` verbatim (the `onrtac:` prefix kept),
//! `sub` = `refresh_token_sub` or `userId`, `client_id` = `clientId`, `username`,
//! `client_ip` = `ipAddress`, `session_id` = `sessionId`, `scopes` = `scope`, `aud` =
//! `audience`, `grant_type` (`client_credentials` for `CLIENT_LOGIN` when not logged),
//! `status` = `error` with outcome `fail`.
//! Actions: `CODE_TO_TOKEN`, `OAUTH2_DEVICE_CODE_TO_TOKEN`, `CLIENT_LOGIN`, `AUTHREQID_TO_TOKEN`,
//! `PERMISSION_TOKEN` → `token.issue`; `REFRESH_TOKEN` → `token.refresh`; `TOKEN_EXCHANGE` →
//! `token.exchange`; `LOGIN` → `auth.login`; `INTROSPECT_TOKEN` → `token.introspect`;
//! `LOGOUT`, `REVOKE_GRANT` → `token.revoke`; `USER_DISABLED_BY_PERMANENT_LOCKOUT` →
//! `account.disable`; `DELETE_ACCOUNT` → `account.disable` (status `removed`); `X_ERROR` → the
//! action of `X`, failed (`LOGIN_ERROR` → `auth.fail`); anything else → `other`.
//!
//! Refresh-token chain: `parent_jti` of an issuing event is the refresh token the access token
//! is bound to — `refresh_token_id`, i.e. the one presented on `REFRESH_TOKEN` and the one
//! issued with the access token on a first grant (same rule as `iam-audit`). When a refresh
//! rotates the refresh token, the new one (`updated_refresh_token_id`) gets an event of its own:
//! a second `token.refresh` event of the same line with `jti` = the new refresh token and
//! `parent_jti` = the old one, so that the chain old RT → new RT → later access tokens is
//! followed through ordinary `jti`/`parent_jti` links.
//!
//! Admin events (`operationType=`): `UPDATE` of a `USER`/`CLIENT` whose representation says
//! `"enabled":false` → `account.disable`/`client.disable`; `DELETE` of a user or client → the
//! same with status `removed`; else `other`. `sub` = the user id in `resourcePath`
//! (`users/<id>`), `username`/`client_id` from the representation (only logged with
//! `include-representation=true`), `client_ip` = the admin's `ipAddress`. The admin's own
//! `userId`/`clientId` are internal ids and stay in `raw`.
//!
//! The issuer URL (`<scheme>://<host>/realms/<realm>`) is not in the log, so `iss` stays empty;
//! the realm name (`realmName`) stays searchable in `raw`.

use std::borrow::Cow;

use super::client_address;
use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::json::Object;
use crate::kv::{self, Pair};
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::time::{self, TimeContext};

/// The `keycloak-event` format.
pub static FORMAT: Format = Format {
    id: "keycloak-event",
    service: Service::Issuer,
    summary: "Keycloak org.keycloak.events lines (quoted, unquoted, JSON console)",
    programs: &["keycloak", "kc.sh"],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            time: context.time.clone(),
        })
    },
};

const LOGGER: &str = "org.keycloak.events";
const CATEGORY: &str = "[org.keycloak.events]";

fn sniff(text: &str, _file_name: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), LOGGER.as_bytes()).is_some() || is_bare_event(text)
}

/// An event message on its own: `type=LOGIN, realmId=…` or `operationType="UPDATE", realmId=…`.
fn is_bare_event(text: &str) -> bool {
    (text.starts_with("type=") || text.starts_with("operationType=")) && text.contains(", realmId=")
}

struct Parser {
    time: TimeContext,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let text = line.text.trim_end();
        let mut event = line.event(FORMAT.id, FORMAT.service);
        let message: Cow<'_, str>;
        if text.starts_with('{') {
            let Some(value) = Object::first_in(text) else {
                return if text.contains(LOGGER) {
                    Feed::Malformed
                } else {
                    Feed::NotMine
                };
            };
            if value.text("loggerName") != LOGGER {
                return Feed::NotMine;
            }
            if let Some(time) = json_time(&value.text("timestamp")) {
                event.time = Some(time);
            }
            event.host = value.text("hostName").into_owned();
            message = value.text("message");
        } else if let Some(at) = crate::parser::finder!(CATEGORY).find(text.as_bytes()) {
            let head = &text[..at];
            let tail = &text[at + CATEGORY.len()..];
            // The thread name may hold spaces and parentheses (`default task-147`): the message
            // starts after the `) ` that precedes the event's first key.
            let start = [
                crate::parser::finder!(") type="),
                crate::parser::finder!(") operationType="),
            ]
            .iter()
            .filter_map(|marker| marker.find(tail.as_bytes()))
            .min();
            let Some(start) = start else {
                return Feed::Malformed;
            };
            if let Some(time) = head_time(head.trim(), &self.time) {
                event.time = Some(time);
            }
            message = Cow::Borrowed(&tail[start + 2..]);
        } else if is_bare_event(text) {
            message = Cow::Borrowed(text);
        } else {
            return Feed::NotMine;
        }
        let before = out.len();
        if !describe(&message, event, out) {
            out.truncate(before);
            return Feed::Malformed;
        }
        Feed::Parsed
    }
}

/// The JSON console's `timestamp`: RFC 3339, or the JBoss default `…SSSZ` form whose offset
/// has no colon (`2025-03-14T10:20:11.532+0100`).
fn json_time(text: &str) -> Option<Timestamp> {
    Timestamp::parse(text).or_else(|| {
        chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
            .ok()
            .map(Timestamp::from)
    })
}

/// The time at the start of a text line: `2025-03-14 09:20:11,532` (or ISO with `T` and an
/// offset), or a bare `10:22:19,903` placed on the context's reference date.
fn head_time(head: &str, context: &TimeContext) -> Option<Timestamp> {
    if let Some((hour, minute, second, millis, _)) = time::hms_at(head) {
        let date = context.reference_date?;
        let naive = date.and_hms_milli_opt(hour, minute, second, millis)?;
        return Some(context.local(naive));
    }
    let date = time::date_at(head)?;
    let clock = head.get(11..)?;
    let (hour, minute, second, millis, used) = time::hms_at(clock)?;
    let naive = date.and_hms_milli_opt(hour, minute, second, millis)?;
    let zone = clock
        .get(used..)?
        .split_whitespace()
        .next()
        .unwrap_or_default();
    match zone {
        "" => Some(context.local(naive)),
        "Z" => Some(Timestamp(naive.and_utc().timestamp_millis())),
        _ => match time::parse_offset(zone) {
            Some(offset) => Some(Timestamp(
                naive.and_utc().timestamp_millis() - i64::from(offset.local_minus_utc()) * 1000,
            )),
            // A level word right after the time: no zone printed.
            None => Some(context.local(naive)),
        },
    }
}

/// Splits off the admin event's `representation` (JSON that the plain key=value reader would
/// break at its commas): (message without it, the representation, text after it).
fn split_representation(message: &str) -> (&str, Option<Cow<'_, str>>, &str) {
    const KEY: &str = ", representation=";
    let Some(at) = crate::parser::finder!(KEY).find(message.as_bytes()) else {
        return (message, None, "");
    };
    let value_start = at + KEY.len();
    if message.as_bytes().get(value_start) == Some(&b'"') {
        let (value, next) = kv::value_at(message, value_start);
        (
            &message[..at],
            Some(value),
            message.get(next..).unwrap_or(""),
        )
    } else {
        // Unquoted (old servers): the JSON runs to the end of the line.
        (
            &message[..at],
            Some(Cow::Borrowed(&message[value_start..])),
            "",
        )
    }
}

/// Fills and pushes the event(s) of one event message; `false` when it is not one.
fn describe(message: &str, mut event: Event, out: &mut Vec<Event>) -> bool {
    let (main, representation, after) = split_representation(message.trim());
    let mut pairs = kv::pairs(main);
    pairs.extend(kv::pairs(after));
    let first = pairs.first().map(|pair| pair.key);
    let get = |key: &str| -> &str {
        match kv::get(&pairs, key) {
            Some("null") | None => "",
            Some(value) => value,
        }
    };
    let error = get("error");
    event.status = error.to_string();
    event.outcome = if error.is_empty() {
        outcome::OK
    } else {
        outcome::FAIL
    }
    .into();
    event.client_ip = client_address(get("ipAddress"));
    match first {
        Some("type") => user_event(&pairs, get("type"), event, out),
        Some("operationType") => admin_event(&pairs, representation.as_deref(), event, out),
        _ => return false,
    }
    true
}

fn user_event(pairs: &[Pair<'_>], kind: &str, mut event: Event, out: &mut Vec<Event>) {
    let get = |key: &str| -> &str {
        match kv::get(pairs, key) {
            Some("null") | None => "",
            Some(value) => value,
        }
    };
    let (base, error_type) = match kind.strip_suffix("_ERROR") {
        Some(base) => (base, true),
        None => (kind, false),
    };
    if error_type {
        event.outcome = outcome::FAIL.into();
    }
    let failed = event.outcome == outcome::FAIL;
    let mut bound_refresh_token = false;
    event.action = match base {
        "CODE_TO_TOKEN"
        | "OAUTH2_DEVICE_CODE_TO_TOKEN"
        | "CLIENT_LOGIN"
        | "AUTHREQID_TO_TOKEN"
        | "PERMISSION_TOKEN" => {
            bound_refresh_token = true;
            action::TOKEN_ISSUE
        }
        "REFRESH_TOKEN" => {
            bound_refresh_token = true;
            action::TOKEN_REFRESH
        }
        "TOKEN_EXCHANGE" => {
            bound_refresh_token = true;
            action::TOKEN_EXCHANGE
        }
        "LOGIN" if failed => action::AUTH_FAIL,
        "LOGIN" => {
            // A resource-owner password grant logs its tokens on LOGIN.
            bound_refresh_token = true;
            action::AUTH_LOGIN
        }
        "INTROSPECT_TOKEN" => action::TOKEN_INTROSPECT,
        "LOGOUT" | "REVOKE_GRANT" => action::TOKEN_REVOKE,
        "USER_DISABLED_BY_PERMANENT_LOCKOUT" => action::ACCOUNT_DISABLE,
        "DELETE_ACCOUNT" => {
            if !failed {
                event.status = "removed".to_string();
            }
            action::ACCOUNT_DISABLE
        }
        _ => action::OTHER,
    }
    .into();
    event.jti = get("token_id").to_string();
    event.sub = match get("refresh_token_sub") {
        "" => get("userId"),
        sub => sub,
    }
    .to_string();
    event.client_id = get("clientId").to_string();
    event.username = get("username").to_string();
    event.session_id = get("sessionId").to_string();
    event.scopes = get("scope")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    event.aud = get("audience")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    event.grant_type = match (get("grant_type"), base) {
        ("", "CLIENT_LOGIN") => "client_credentials",
        (grant, _) => grant,
    }
    .to_string();
    let refresh_token = get("refresh_token_id");
    if bound_refresh_token {
        event.parent_jti = refresh_token.to_string();
    }
    let rotated = get("updated_refresh_token_id");
    let rotation =
        (base == "REFRESH_TOKEN" && !failed && !rotated.is_empty() && rotated != refresh_token)
            .then(|| {
                let mut rotation = event.clone();
                rotation.jti = rotated.to_string();
                rotation.parent_jti = refresh_token.to_string();
                rotation
            });
    out.push(event);
    out.extend(rotation);
}

fn admin_event(
    pairs: &[Pair<'_>],
    representation: Option<&str>,
    mut event: Event,
    out: &mut Vec<Event>,
) {
    let get = |key: &str| -> &str {
        match kv::get(pairs, key) {
            Some("null") | None => "",
            Some(value) => value,
        }
    };
    let operation = get("operationType");
    let resource_type = get("resourceType");
    let resource_path = get("resourcePath");
    let parsed = representation.and_then(Object::parse);
    let enabled = parsed
        .as_ref()
        .and_then(|value| value.bool("enabled"))
        .or_else(|| {
            // A representation that is not clean JSON (cut, or sanitised): look for the flag.
            let compact: String = representation?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if compact.contains("\"enabled\":false") {
                Some(false)
            } else if compact.contains("\"enabled\":true") {
                Some(true)
            } else {
                None
            }
        });
    let user_path = resource_path
        .strip_prefix("users/")
        .and_then(|rest| rest.split('/').next())
        .filter(|id| !id.is_empty());
    let is_user = resource_type == "USER" || (resource_type.is_empty() && user_path.is_some());
    let is_client = resource_type == "CLIENT";
    let failed = event.outcome == outcome::FAIL;
    event.action = match (operation, is_user, is_client) {
        ("UPDATE", true, _) if enabled == Some(false) => action::ACCOUNT_DISABLE,
        ("UPDATE", _, true) if enabled == Some(false) => action::CLIENT_DISABLE,
        ("DELETE", true, _) => action::ACCOUNT_DISABLE,
        ("DELETE", _, true) => action::CLIENT_DISABLE,
        _ => action::OTHER,
    }
    .into();
    if operation == "DELETE" && (is_user || is_client) && !failed {
        event.status = "removed".to_string();
    }
    if is_user {
        event.sub = user_path.unwrap_or_default().to_string();
    }
    if let Some(value) = parsed.as_ref() {
        if is_user {
            event.username = value.text("username").into_owned();
            if event.sub.is_empty() {
                event.sub = value.text("id").into_owned();
            }
        }
        if is_client {
            event.client_id = value.text("clientId").into_owned();
        }
    }
    out.push(event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::Zone;

    const CODE_TO_TOKEN: &str = r#"2025-03-14 09:20:11,532 INFO  [org.keycloak.events] (executor-thread-12) type="CODE_TO_TOKEN", realmId="986f1920-4f71-4fba-844b-ef12f1091cb3", realmName="egi", clientId="egi-notebooks", userId="433014c0-79d6-4647-8ceb-f7b8076e54d2", sessionId="56f7fe0b-766a-4938-9758-2efdec5d8f07", ipAddress="192.0.2.77", token_id="onrtac:52c5f547-4b46-4d07-a73c-6ca71651d798", grant_type="authorization_code", refresh_token_type="Refresh", scope="openid profile email eduperson_entitlement", refresh_token_id="3e79cd60-1d58-44ad-bbcf-6a5dbda24351", code_id="56f7fe0b-766a-4938-9758-2efdec5d8f07", client_auth_method="client-secret""#;
    const REFRESH_TOKEN: &str = r#"2025-03-14 09:50:02,118 INFO  [org.keycloak.events] (executor-thread-4) type="REFRESH_TOKEN", realmId="986f1920-4f71-4fba-844b-ef12f1091cb3", realmName="egi", clientId="egi-notebooks", userId="433014c0-79d6-4647-8ceb-f7b8076e54d2", sessionId="56f7fe0b-766a-4938-9758-2efdec5d8f07", ipAddress="192.0.2.77", token_id="onrtrt:0b6f3f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", grant_type="refresh_token", refresh_token_type="Refresh", scope="openid profile email eduperson_entitlement", refresh_token_id="3e79cd60-1d58-44ad-bbcf-6a5dbda24351", updated_refresh_token_id="9d8c7b6a-5e4f-4a3b-9c2d-1e0f9a8b7c6d", client_auth_method="client-secret", refresh_token_sub="433014c0-79d6-4647-8ceb-f7b8076e54d2""#;
    const CLIENT_LOGIN: &str = r#"2025-03-14 10:00:31,907 INFO  [org.keycloak.events] (executor-thread-9) type="CLIENT_LOGIN", realmId="986f1920-4f71-4fba-844b-ef12f1091cb3", realmName="egi", clientId="rucio-prod", userId="2f0c9a61-7d3e-4b5a-9e8f-6a1b2c3d4e5f", ipAddress="198.51.100.14", token_id="trrtcc:c4d5e6f7-0809-4a1b-8c2d-3e4f5a6b7c8d", grant_type="client_credentials", scope="profile email", client_auth_method="client-secret", username="service-account-rucio-prod", authSessionParentId="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", authSessionTabId="Qx3vR7tYp0A""#;
    const TOKEN_EXCHANGE: &str = r#"2025-03-14 10:05:44,260 INFO  [org.keycloak.events] (executor-thread-2) type="TOKEN_EXCHANGE", realmId="986f1920-4f71-4fba-844b-ef12f1091cb3", realmName="egi", clientId="fts-prod", userId="433014c0-79d6-4647-8ceb-f7b8076e54d2", sessionId="56f7fe0b-766a-4938-9758-2efdec5d8f07", ipAddress="198.51.100.20", token_id="onrtte:e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", audience="dcache-prod", scope="openid", username="jdoe", requested_token_type="urn:ietf:params:oauth:token-type:access_token", subject_token_client_id="egi-notebooks""#;
    const LOGIN_ERROR: &str = r#"2025-03-14 11:02:40,118 WARN  [org.keycloak.events] (executor-thread-3) type="LOGIN_ERROR", realmId="986f1920-4f71-4fba-844b-ef12f1091cb3", realmName="egi", clientId="egi-notebooks", userId="433014c0-79d6-4647-8ceb-f7b8076e54d2", ipAddress="198.51.100.23", error="user_disabled", auth_method="openid-connect", auth_type="code", redirect_uri="https://notebooks.example.org/hub/oauth_callback", code_id="7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", username="jdoe""#;
    const JSON_CONSOLE: &str = r#"{"timestamp":"2025-03-14T09:20:11.532104883Z","sequence":10412,"loggerClassName":"org.jboss.logging.Logger","loggerName":"org.keycloak.events","level":"INFO","message":"type=\"CODE_TO_TOKEN\", realmId=\"986f1920-4f71-4fba-844b-ef12f1091cb3\", realmName=\"egi\", clientId=\"egi-notebooks\", userId=\"433014c0-79d6-4647-8ceb-f7b8076e54d2\", sessionId=\"56f7fe0b-766a-4938-9758-2efdec5d8f07\", ipAddress=\"192.0.2.77\", token_id=\"onrtac:52c5f547-4b46-4d07-a73c-6ca71651d798\", grant_type=\"authorization_code\", scope=\"openid\", client_auth_method=\"client-secret\"","threadName":"executor-thread-12","threadId":88,"mdc":{},"ndc":"","hostName":"kc-0","processName":"/opt/java/openjdk/bin/java","processId":1}"#;
    const LEGACY: &str = "10:22:19,903 WARN  [org.keycloak.events] (default task-147) type=REFRESH_TOKEN_ERROR, realmId=alto, clientId=alto-portal, userId=null, ipAddress=52.200.32.228, error=invalid_token, grant_type=refresh_token, client_auth_method=client-secret";

    const ADMIN_PREFIX: &str =
        "2025-03-14 11:10:00,000 INFO  [org.keycloak.events] (executor-thread-7) ";

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Zurich),
                year_override: None,
                reference_date: chrono::NaiveDate::from_ymd_opt(2025, 3, 14),
            },
            host: "kc.example.org".into(),
            path: "logs/keycloak.log".into(),
            file_name: "keycloak.log".into(),
            ..Context::default()
        }
    }

    fn parse_with(text: &str, context: Context) -> Vec<Event> {
        parse_text(text, Some("keycloak-event"), context).unwrap().0
    }

    fn parse_one(text: &str) -> Event {
        let mut events = parse_with(text, context());
        assert_eq!(events.len(), 1, "{events:#?}");
        events.remove(0)
    }

    fn time(event: &Event) -> String {
        event.time.expect("event has a time").to_rfc3339()
    }

    #[test]
    fn code_to_token_issues_a_token_bound_to_its_refresh_token() {
        let event = parse_one(CODE_TO_TOKEN);
        assert_eq!(event.source, "keycloak-event");
        assert_eq!(event.service, "issuer");
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.jti, "onrtac:52c5f547-4b46-4d07-a73c-6ca71651d798");
        assert_eq!(event.sub, "433014c0-79d6-4647-8ceb-f7b8076e54d2");
        assert_eq!(event.client_id, "egi-notebooks");
        assert_eq!(event.client_ip, "192.0.2.77");
        assert_eq!(event.session_id, "56f7fe0b-766a-4938-9758-2efdec5d8f07");
        assert_eq!(event.grant_type, "authorization_code");
        assert_eq!(
            event.scopes,
            vec!["openid", "profile", "email", "eduperson_entitlement"]
        );
        assert_eq!(event.parent_jti, "3e79cd60-1d58-44ad-bbcf-6a5dbda24351");
        assert_eq!(event.iss, "");
        assert!(event.raw.contains("realmName=\"egi\""));
        // Local Zurich time (CET, +01:00) to UTC.
        assert_eq!(time(&event), "2025-03-14T08:20:11.532Z");
    }

    #[test]
    fn refresh_token_refreshes_and_records_the_rotated_refresh_token() {
        let events = parse_with(REFRESH_TOKEN, context());
        assert_eq!(events.len(), 2);
        let access = &events[0];
        assert_eq!(access.action, action::TOKEN_REFRESH);
        assert_eq!(access.jti, "onrtrt:0b6f3f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(access.parent_jti, "3e79cd60-1d58-44ad-bbcf-6a5dbda24351");
        assert_eq!(access.sub, "433014c0-79d6-4647-8ceb-f7b8076e54d2");
        assert_eq!(access.session_id, "56f7fe0b-766a-4938-9758-2efdec5d8f07");
        assert_eq!(access.grant_type, "refresh_token");
        assert_eq!(time(access), "2025-03-14T08:50:02.118Z");
        let rotation = &events[1];
        assert_eq!(rotation.action, action::TOKEN_REFRESH);
        assert_eq!(rotation.jti, "9d8c7b6a-5e4f-4a3b-9c2d-1e0f9a8b7c6d");
        assert_eq!(rotation.parent_jti, "3e79cd60-1d58-44ad-bbcf-6a5dbda24351");
        assert_eq!(rotation.client_id, "egi-notebooks");
        assert_eq!(rotation.origin, access.origin);
        assert_ne!(rotation.id, access.id);
    }

    #[test]
    fn refresh_token_sub_wins_over_user_id() {
        let line = REFRESH_TOKEN.replace(
            "refresh_token_sub=\"433014c0-79d6-4647-8ceb-f7b8076e54d2\"",
            "refresh_token_sub=\"pairwise-sub-1\"",
        );
        assert_eq!(parse_with(&line, context())[0].sub, "pairwise-sub-1");
    }

    #[test]
    fn client_login_is_a_client_credentials_issue() {
        let event = parse_one(CLIENT_LOGIN);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.grant_type, "client_credentials");
        assert_eq!(event.jti, "trrtcc:c4d5e6f7-0809-4a1b-8c2d-3e4f5a6b7c8d");
        assert_eq!(event.client_id, "rucio-prod");
        assert_eq!(event.sub, "2f0c9a61-7d3e-4b5a-9e8f-6a1b2c3d4e5f");
        assert_eq!(event.username, "service-account-rucio-prod");
        assert_eq!(event.client_ip, "198.51.100.14");
        assert_eq!(event.scopes, vec!["profile", "email"]);
        assert_eq!(event.session_id, "");
        assert_eq!(event.parent_jti, "");
        assert_eq!(time(&event), "2025-03-14T09:00:31.907Z");
        let without_grant = CLIENT_LOGIN.replace("grant_type=\"client_credentials\", ", "");
        assert_eq!(parse_one(&without_grant).grant_type, "client_credentials");
    }

    #[test]
    fn token_exchange_keeps_audience_and_user() {
        let event = parse_one(TOKEN_EXCHANGE);
        assert_eq!(event.action, action::TOKEN_EXCHANGE);
        assert_eq!(event.jti, "onrtte:e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b");
        assert_eq!(event.client_id, "fts-prod");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.sub, "433014c0-79d6-4647-8ceb-f7b8076e54d2");
        assert_eq!(event.aud, vec!["dcache-prod"]);
        assert_eq!(event.scopes, vec!["openid"]);
        assert_eq!(event.client_ip, "198.51.100.20");
        assert_eq!(event.parent_jti, "");
        assert_eq!(time(&event), "2025-03-14T09:05:44.260Z");
    }

    #[test]
    fn login_error_is_a_failed_login_with_the_error() {
        let event = parse_one(LOGIN_ERROR);
        assert_eq!(event.action, action::AUTH_FAIL);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "user_disabled");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.client_ip, "198.51.100.23");
        assert_eq!(event.sub, "433014c0-79d6-4647-8ceb-f7b8076e54d2");
        assert_eq!(time(&event), "2025-03-14T10:02:40.118Z");
    }

    #[test]
    fn json_console_line_reads_message_time_and_host() {
        let event = parse_one(JSON_CONSOLE);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.jti, "onrtac:52c5f547-4b46-4d07-a73c-6ca71651d798");
        assert_eq!(event.client_id, "egi-notebooks");
        assert_eq!(event.sub, "433014c0-79d6-4647-8ceb-f7b8076e54d2");
        assert_eq!(event.client_ip, "192.0.2.77");
        assert_eq!(event.scopes, vec!["openid"]);
        assert_eq!(event.host, "kc-0");
        assert_eq!(time(&event), "2025-03-14T09:20:11.532Z");
    }

    #[test]
    fn json_console_offset_without_colon_is_read() {
        let line = JSON_CONSOLE.replace(
            "2025-03-14T09:20:11.532104883Z",
            "2025-03-14T10:20:11.532+0100",
        );
        assert_eq!(time(&parse_one(&line)), "2025-03-14T09:20:11.532Z");
    }

    #[test]
    fn legacy_unquoted_line_without_date_uses_the_reference_date() {
        let utc = Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: None,
                reference_date: chrono::NaiveDate::from_ymd_opt(2023, 11, 20),
            },
            ..context()
        };
        let events = parse_with(LEGACY, utc);
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.action, action::TOKEN_REFRESH);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "invalid_token");
        assert_eq!(event.client_id, "alto-portal");
        assert_eq!(event.sub, "");
        assert_eq!(event.client_ip, "52.200.32.228");
        assert_eq!(event.grant_type, "refresh_token");
        assert_eq!(time(event), "2023-11-20T10:22:19.903Z");
    }

    #[test]
    fn legacy_line_without_any_date_has_no_time() {
        let bare = Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: Some(2023),
                reference_date: None,
            },
            ..context()
        };
        let events = parse_with(LEGACY, bare);
        assert_eq!(events[0].action, action::TOKEN_REFRESH);
        assert_eq!(events[0].time, None);
    }

    #[test]
    fn legacy_single_quoted_values_with_spaces() {
        let line = "10:22:19,903 INFO  [org.keycloak.events] (default task-1) type=CODE_TO_TOKEN, realmId=alto, clientId=alto-portal, userId=u-1, ipAddress=192.0.2.9, token_id=t-1, scope='openid profile', refresh_token_id=r-1";
        let event = parse_one(line);
        assert_eq!(event.scopes, vec!["openid", "profile"]);
        assert_eq!(event.jti, "t-1");
        assert_eq!(event.parent_jti, "r-1");
    }

    #[test]
    fn syslog_prefixed_error_line_is_read() {
        let line = r#"Oct 24 10:15:02 kc01 kc.sh[1234]: 2024-10-24 10:15:02,417 WARN  [org.keycloak.events] (executor-thread-1) type="CODE_TO_TOKEN_ERROR", realmId="r1", realmName="demo", clientId="demo-app", userId="null", sessionId="null", ipAddress="192.0.2.30", error="invalid_code", grant_type="authorization_code", code_id="c-1", client_auth_method="client-secret""#;
        let (events, _) = parse_text(line, None, context()).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.source, "keycloak-event");
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "invalid_code");
        assert_eq!(event.sub, "");
        assert_eq!(event.session_id, "");
        assert_eq!(event.host, "kc01");
        assert_eq!(time(event), "2024-10-24T08:15:02.417Z");
    }

    #[test]
    fn reordered_details_and_escaped_quotes_are_read() {
        let line = r#"2025-03-14 09:20:11,532 INFO  [org.keycloak.events] (executor-thread-12) type="LOGIN", realmId="r", realmName="egi", clientId="egi-notebooks", userId="u-1", sessionId="s-1", ipAddress="[2001:db8::7]", username="jo \"the boss\" doe", redirect_uri="https://x.example.org/cb?a=b, c", auth_method="openid-connect""#;
        let event = parse_one(line);
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.username, r#"jo "the boss" doe"#);
        assert_eq!(event.client_ip, "2001:db8::7");
        assert_eq!(event.session_id, "s-1");
    }

    #[test]
    fn thread_names_with_parentheses_are_skipped() {
        let line = CODE_TO_TOKEN.replace("(executor-thread-12)", "(pool (x) 1)");
        assert_eq!(
            parse_one(&line).jti,
            "onrtac:52c5f547-4b46-4d07-a73c-6ca71651d798"
        );
    }

    #[test]
    fn other_event_types_map_to_their_actions() {
        let base = r#"2025-03-14 09:20:11,532 INFO  [org.keycloak.events] (t) type="KIND", realmId="r", clientId="c", userId="u", ipAddress="192.0.2.1""#;
        for (kind, expected, failed) in [
            ("OAUTH2_DEVICE_CODE_TO_TOKEN", action::TOKEN_ISSUE, false),
            ("INTROSPECT_TOKEN", action::TOKEN_INTROSPECT, false),
            ("LOGOUT", action::TOKEN_REVOKE, false),
            ("REVOKE_GRANT", action::TOKEN_REVOKE, false),
            ("REFRESH_TOKEN_ERROR", action::TOKEN_REFRESH, true),
            ("TOKEN_EXCHANGE_ERROR", action::TOKEN_EXCHANGE, true),
            (
                "USER_DISABLED_BY_PERMANENT_LOCKOUT",
                action::ACCOUNT_DISABLE,
                false,
            ),
            ("DELETE_ACCOUNT", action::ACCOUNT_DISABLE, false),
            ("UPDATE_PASSWORD", action::OTHER, false),
        ] {
            let event = parse_one(&base.replace("KIND", kind));
            assert_eq!(event.action, expected, "{kind}");
            let wanted = if failed { outcome::FAIL } else { outcome::OK };
            assert_eq!(event.outcome, wanted, "{kind}");
        }
    }

    #[test]
    fn admin_update_disabling_a_user_disables_the_account() {
        let line = format!(
            r#"{ADMIN_PREFIX}operationType="UPDATE", realmId="r", realmName="egi", clientId="admin-cli-internal", userId="admin-internal", ipAddress="198.51.100.5", resourceType="USER", resourcePath="users/433014c0-79d6-4647-8ceb-f7b8076e54d2", representation="{{\"id\":\"433014c0-79d6-4647-8ceb-f7b8076e54d2\",\"username\":\"jdoe\",\"enabled\":false,\"emailVerified\":true}}""#
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
        assert_eq!(event.sub, "433014c0-79d6-4647-8ceb-f7b8076e54d2");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.client_id, "");
        assert_eq!(event.client_ip, "198.51.100.5");
        assert_eq!(time(&event), "2025-03-14T10:10:00.000Z");
        let enabled = line.replace("\\\"enabled\\\":false", "\\\"enabled\\\":true");
        assert_eq!(parse_one(&enabled).action, action::OTHER);
    }

    #[test]
    fn admin_update_disabling_a_client_disables_the_client() {
        let line = format!(
            r#"{ADMIN_PREFIX}operationType="UPDATE", realmId="r", realmName="egi", clientId="x", userId="y", ipAddress="198.51.100.5", resourceType="CLIENT", resourcePath="clients/7d1f", representation="{{\"id\":\"7d1f\",\"clientId\":\"rucio-prod\",\"enabled\":false}}", error="null""#
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::CLIENT_DISABLE);
        assert_eq!(event.client_id, "rucio-prod");
        assert_eq!(event.sub, "");
        assert_eq!(event.outcome, outcome::OK);
    }

    #[test]
    fn admin_events_without_representation_or_of_other_kinds() {
        let update = format!(
            r#"{ADMIN_PREFIX}operationType="UPDATE", realmId="r", clientId="x", userId="y", ipAddress="198.51.100.5", resourceType="USER", resourcePath="users/u-9""#
        );
        let event = parse_one(&update);
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.sub, "u-9");
        let delete = update.replace("\"UPDATE\"", "\"DELETE\"");
        let event = parse_one(&delete);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
        assert_eq!(event.status, "removed");
        assert_eq!(event.sub, "u-9");
        let failed = format!(r#"{delete}, error="unknown_error""#);
        let event = parse_one(&failed);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "unknown_error");
        let legacy = "operationType=UPDATE, realmId=r, clientId=x, userId=y, ipAddress=192.0.2.1, resourceType=USER, resourcePath=users/u-9, representation={\"id\":\"u-9\",\"username\":\"jdoe\",\"enabled\":false}";
        let event = parse_one(legacy);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
        assert_eq!(event.username, "jdoe");
    }

    #[test]
    fn null_literals_are_empty() {
        let line = CODE_TO_TOKEN
            .replace(
                "sessionId=\"56f7fe0b-766a-4938-9758-2efdec5d8f07\"",
                "sessionId=\"null\"",
            )
            .replace(
                "refresh_token_id=\"3e79cd60-1d58-44ad-bbcf-6a5dbda24351\"",
                "refresh_token_id=null",
            );
        let event = parse_one(&line);
        assert_eq!(event.session_id, "");
        assert_eq!(event.parent_jti, "");
    }

    #[test]
    fn bare_event_message_is_read_with_the_transport_time() {
        let line = format!(
            "Mar 14 09:20:11 kc01 keycloak[77]: {}",
            &CODE_TO_TOKEN[CODE_TO_TOKEN.find("type=").unwrap()..]
        );
        let (events, _) = parse_text(&line, None, context()).unwrap();
        assert_eq!(events[0].source, "keycloak-event");
        assert_eq!(events[0].jti, "onrtac:52c5f547-4b46-4d07-a73c-6ca71651d798");
        assert!(events[0].time.is_some());
    }

    #[test]
    fn truncated_and_broken_lines_are_malformed() {
        let mut parser = (FORMAT.new_parser)(&context());
        let mut out = Vec::new();
        let cut = &JSON_CONSOLE[..200];
        assert_eq!(
            parser.feed(&Line::plain(cut, 1, 0), &mut out),
            Feed::Malformed
        );
        let no_message =
            "2025-03-14 09:20:11,532 WARN  [org.keycloak.events] (t) Failed to send event";
        assert_eq!(
            parser.feed(&Line::plain(no_message, 2, 0), &mut out),
            Feed::Malformed
        );
        assert!(out.is_empty());
        // A truncated event message still yields what it holds.
        let cut = &CODE_TO_TOKEN[..CODE_TO_TOKEN.find(", ipAddress").unwrap() + 20];
        assert_eq!(parser.feed(&Line::plain(cut, 3, 0), &mut out), Feed::Parsed);
        assert_eq!(out[0].client_id, "egi-notebooks");
    }

    #[test]
    fn other_keycloak_loggers_and_formats_are_not_mine() {
        let mut parser = (FORMAT.new_parser)(&context());
        let mut out = Vec::new();
        for other in [
            "2025-03-14 09:20:11,532 INFO  [org.keycloak.services] (main) KC-SERVICES0050: Initializing master realm",
            r#"{"timestamp":"2025-03-14T09:20:11.532Z","loggerName":"io.quarkus","message":"started"}"#,
            r#"{"time":"2025-03-14T09:25:01.123456Z","type":"request","request":{"id":"x"}}"#,
            "type=SYSCALL msg=audit(1741943523.396:42): arch=c000003e syscall=59",
        ] {
            assert_eq!(parser.feed(&Line::plain(other, 1, 0), &mut out), Feed::NotMine, "{other}");
            if !other.contains("org.keycloak") {
                assert!(!sniff(other, ""), "{other}");
            }
        }
    }

    #[test]
    fn hostile_lines_do_not_panic() {
        let mut parser = (FORMAT.new_parser)(&context());
        let mut out = Vec::new();
        for text in [
            "[org.keycloak.events]",
            "[org.keycloak.events] (",
            "[org.keycloak.events] ) type=",
            "\u{e9}\u{e9}:\u{e9} [org.keycloak.events] (t) type=\"",
            "2025-03-14 99:99:99,999 INFO  [org.keycloak.events] (t) type=X, realmId=",
            "operationType=, realmId=, representation=\"",
            "operationType=, realmId=, representation=",
            "{\"loggerName\":\"org.keycloak.events\",\"message\":5}",
        ] {
            let _ = parser.feed(&Line::plain(text, 1, 0), &mut out);
        }
    }

    #[test]
    fn fixture_files_parse_every_line() {
        for text in [
            include_str!("../../../tests/fixtures/keycloak-event/keycloak.log"),
            include_str!("../../../tests/fixtures/keycloak-event/keycloak-json.log"),
            include_str!("../../../tests/fixtures/keycloak-event/server.log"),
        ] {
            let (events, stats) = parse_text(text, None, context()).unwrap();
            assert_eq!(stats.formats.len(), 1, "{stats:?}");
            let counts = &stats.formats["keycloak-event"];
            assert_eq!(counts.lines, text.lines().count() as u64);
            assert_eq!(counts.errors + counts.raw, 0);
            assert!(events.iter().all(|e| e.source == "keycloak-event"));
        }
    }
}

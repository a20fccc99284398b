//! `vault-audit`: the Vault/OpenBao file audit device, as htvault-config enables it for
//! htgettoken (`/var/log/htvault-config/auditlog`, `log_raw=true`).
//!
//! Grammar: one JSON object per line,
//! ```text
//! {"time":"<RFC 3339 nano>","type":"request"|"response","auth":{…},"request":{"id","operation",
//!  "path","remote_address",…},"response":{"data":{"access_token":"<JWT>",…}},"error":"…"}
//! ```
//! (keys in any order: newer Vault versions may write them sorted).
//!
//! Fields: `time` = `time`; `session_id` = `request.id` (ties a request to its response);
//! `client_ip` = `request.remote_address`; `username` = `auth.metadata.credkey`, else
//! `auth.display_name`; `path` = `request.path` (a Vault path, not a file: it makes a
//! credential read searchable); `status` = `error` with outcome `fail`.
//! Actions: the response to a read of `secret/oauth/creds/…` or `secret/oauth/sts/…` (any mount
//! of type `oauthapp` with `creds/` or `sts/`) → `token.issue`, with `iss`/`sub`/`jti`/
//! `client_id`/`scopes`/`aud`/`groups`/`token_iat`/`token_exp` decoded from the access token in
//! `response.data` (its signature was already redacted by the pipeline; the header and payload
//! are intact), `token_exp` from `expire_time` when the token is not a readable JWT, and the
//! requested `scopes`/`audiences` of an STS read when the token does not say. `auth/<mount>/login`
//! and the OIDC completion paths (`…/oidc/callback`, `…/oidc/device_wait`, a successful
//! `…/oidc/poll`) → `auth.login` (failed: `auth.fail`). Every other entry → `other`.
//!
//! Secrets: with `log_raw=true` the file holds live Vault tokens. No Vault token, accessor or
//! bearer token is copied into any field, and `raw` is redacted once more here: values of keys
//! ending in `accessor`, of `client_token`/`token`, and any string that looks like a Vault token
//! (`hvs.`, `hvb.`, `hvr.`, legacy `s.`/`b.`/`r.`) become `REDACTED-sha256:<12 hex>`.

use super::client_address;
use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::json::Object;
use crate::jwt::{self, Claims};
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `vault-audit` format.
pub static FORMAT: Format = Format {
    id: "vault-audit",
    service: Service::Issuer,
    summary: "Vault/OpenBao file audit device JSON (htgettoken)",
    programs: &["vault", "bao", "openbao"],
    sniff,
    new_parser: |_: &Context| Box::new(Parser),
};

fn sniff(text: &str, _file_name: &str) -> bool {
    let bytes = text.as_bytes();
    let has = |needle: &str| memchr::memmem::find(bytes, needle.as_bytes()).is_some();
    if !text.starts_with("{\"") || !(has("\"type\":\"request\"") || has("\"type\":\"response\"")) {
        return false;
    }
    text.starts_with("{\"time\":\"") || (has("\"request\":{") && has("\"operation\":\""))
}

struct Parser;

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let text = line.text.trim();
        if !text.starts_with('{') {
            return Feed::NotMine;
        }
        let Some(value) = Object::first_in(text) else {
            return if sniff(text, "") {
                Feed::Malformed
            } else {
                Feed::NotMine
            };
        };
        let kind = value.text("type");
        let Some(request) = value.object("request") else {
            return Feed::NotMine;
        };
        if !matches!(&*kind, "request" | "response") {
            return Feed::NotMine;
        }
        let mut event = line.event(FORMAT.id, FORMAT.service);
        event.raw = redact_vault_secrets(line.raw);
        if let Some(time) = Timestamp::parse(&value.text("time")) {
            event.time = Some(time);
        }
        let path = request.text("path");
        let operation = request.text("operation");
        let error = value.text("error");
        event.path = path.to_string();
        event.session_id = request.text("id").into_owned();
        event.client_ip = client_address(&request.text("remote_address"));
        let auth = value.object("auth").unwrap_or_default();
        let credkey = auth
            .object("metadata")
            .map(|metadata| metadata.text("credkey"))
            .unwrap_or_default();
        event.username = if credkey.is_empty() {
            auth.text("display_name")
        } else {
            credkey
        }
        .into_owned();
        event.status = error.to_string();
        let failed = !error.is_empty();
        event.outcome = if failed { outcome::FAIL } else { outcome::OK }.into();
        let mount_type = request.text("mount_type");
        event.action =
            if kind == "response" && operation == "read" && is_token_path(&path, &mount_type) {
                fill_token(&value, &request, &mut event);
                action::TOKEN_ISSUE
            } else if let Some(login) = login_kind(&path) {
                match (login, failed) {
                    (_, false) => action::AUTH_LOGIN,
                    // A poll that is still pending is not a failed login.
                    (Login::Poll, true) => action::OTHER,
                    (Login::Final, true) => action::AUTH_FAIL,
                }
            } else {
                action::OTHER
            }
            .into();
        out.push(event);
        Feed::Parsed
    }
}

/// A read that returns an access token minted by the oauthapp plugin.
fn is_token_path(path: &str, mount_type: &str) -> bool {
    if path.starts_with("secret/oauth/creds/") || path.starts_with("secret/oauth/sts/") {
        return true;
    }
    mount_type == "oauthapp" && (path.contains("/creds/") || path.contains("/sts/"))
}

enum Login {
    Final,
    Poll,
}

/// `auth/<mount>/login`, and the OIDC steps htgettoken ends a login with.
fn login_kind(path: &str) -> Option<Login> {
    let rest = path.strip_prefix("auth/")?;
    if rest.starts_with("token/") {
        return None;
    }
    let last = rest.rsplit('/').next().unwrap_or_default();
    match last {
        "login" | "callback" | "device_wait" => Some(Login::Final),
        "poll" => Some(Login::Poll),
        _ => None,
    }
}

fn fill_token(value: &Object<'_>, request: &Object<'_>, event: &mut Event) {
    let data = value
        .object("response")
        .and_then(|response| response.object("data"))
        .unwrap_or_default();
    if let Some(claims) = jwt_claims(&data.text("access_token")) {
        claims.fill(event);
    }
    if event.token_exp.is_none() {
        event.token_exp = ["expire_time", "expiry", "expires_at"]
            .iter()
            .find_map(|key| jwt::claim_time_at(&data, key));
    }
    // STS reads name what was asked for; the token's own claims win when readable.
    let request_data = request.object("data").unwrap_or_default();
    if event.scopes.is_empty() {
        event.scopes = words(&request_data, "scopes");
    }
    if event.aud.is_empty() {
        event.aud = words(&request_data, "audiences");
    }
}

/// `"a b"`, `"a,b"` or `["a","b"]` as a list.
fn words(value: &Object<'_>, key: &str) -> Vec<String> {
    if let Some(text) = value.string(key) {
        return text
            .split([' ', ','])
            .filter(|word| !word.is_empty())
            .map(str::to_string)
            .collect();
    }
    value.strings(key).unwrap_or_default()
}

/// The claims of a JWT's payload segment (the signature, already redacted, is not needed).
fn jwt_claims(token: &str) -> Option<Claims> {
    let mut segments = token.split('.');
    let header = segments.next()?;
    let payload = segments.next()?;
    if !header.starts_with("eyJ") {
        return None;
    }
    jwt::decode_payload(payload)
}

/// Does this JSON string value look like a Vault token? Current tokens have an `hv?.` prefix;
/// legacy ones a one-letter prefix and 24 characters, so a longer tail is required there to
/// spare names like `s.example`.
fn looks_like_vault_token(value: &str) -> bool {
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    for (prefix, min_tail) in [
        ("hvs.", 4),
        ("hvb.", 4),
        ("hvr.", 4),
        ("s.", 20),
        ("b.", 20),
        ("r.", 20),
    ] {
        if let Some(tail) = value.strip_prefix(prefix) {
            return tail.len() >= min_tail && tail.chars().all(token_char);
        }
    }
    false
}

/// Replaces Vault secrets the core redactor leaves in the line: accessors, `token` values and
/// anything shaped like a Vault token. Works on the text so that the rest of the line stays
/// byte for byte as logged.
fn redact_vault_secrets(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut copied = 0;
    let mut last_key: &str = "";
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'"' {
            index += 1;
            continue;
        }
        let start = index + 1;
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'"' {
            if bytes[end] == b'\\' {
                end += 1;
            }
            end += 1;
        }
        let end = end.min(bytes.len());
        let Some(content) = raw.get(start..end) else {
            break;
        };
        let after = raw.get(end + 1..).unwrap_or("").trim_start();
        if after.starts_with(':') {
            last_key = content;
        } else {
            let key = last_key.to_ascii_lowercase();
            let secret_key = key.ends_with("accessor") || key == "client_token" || key == "token";
            let already = content.starts_with(jwt::REDACTED) || content.starts_with("hmac-sha256:");
            if !content.is_empty() && !already && (secret_key || looks_like_vault_token(content)) {
                out.push_str(&raw[copied..start]);
                out.push_str(&jwt::fingerprint(content));
                copied = end;
            }
            last_key = "";
        }
        index = end + 1;
    }
    out.push_str(raw.get(copied..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};
    use serde_json::json;

    const REQUEST: &str = r#"{"time":"2025-03-14T09:25:01.123456Z","type":"request","auth":{"client_token":"s.Xq9...","accessor":"Lk3...","display_name":"oidc-cms-jdoe","policies":["default","oidc-cms-jdoe"],"token_policies":["default","oidc-cms-jdoe"],"metadata":{"credkey":"jdoe","role":"default"},"entity_id":"0c5e9a1b-2d3f-4a5b-8c7d-9e0f1a2b3c4d","token_type":"service"},"request":{"id":"fe5bdabb-84f5-4090-b107-3c4cb07acf12","operation":"read","mount_type":"oauthapp","client_token":"s.Xq9...","client_token_accessor":"Lk3...","namespace":{"id":"root"},"path":"secret/oauth/creds/cms/jdoe:default","data":{"minimum_seconds":"60"},"remote_address":"192.0.2.51","remote_port":40122}}"#;
    const RESPONSE: &str = r#"{"time":"2025-03-14T09:25:01.231007Z","type":"response","auth":{"client_token":"s.Xq9...","display_name":"oidc-cms-jdoe","metadata":{"credkey":"jdoe","role":"default"},"entity_id":"0c5e9a1b-2d3f-4a5b-8c7d-9e0f1a2b3c4d","token_type":"service"},"request":{"id":"fe5bdabb-84f5-4090-b107-3c4cb07acf12","operation":"read","mount_type":"oauthapp","path":"secret/oauth/creds/cms/jdoe:default","remote_address":"192.0.2.51","remote_port":40122},"response":{"mount_type":"oauthapp","data":{"access_token":"eyJraWQiOiJyc2ExIiwiYWxnIjoiUlMyNTYifQ.eyJ...","expire_time":"2025-03-14T10:12:03Z","type":"Bearer"}}}"#;

    const SIGNATURE: &str = "c2lnbmF0dXJlLXNlY3JldC12YWx1ZS0xMjM0NTY3ODkwYWJjZGVm";
    const VAULT_TOKEN: &str = "hvs.CAESIJ3kX9vQwErTyUiOpAsDfGhJkLzXcVbNm1234567890abcdefghijkl";
    const ACCESSOR: &str = "Lk3vQ8wErTyUiOpAsDfGhJkL";
    const LEGACY_TOKEN: &str = "s.Xq9vQ8wErTyUiOpAsDfGhJkL";

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Zurich),
                year_override: None,
                reference_date: None,
            },
            host: "htvault.example.org".into(),
            path: "logs/auditlog".into(),
            file_name: "auditlog".into(),
            ..Context::default()
        }
    }

    fn parse_one(text: &str) -> Event {
        let (mut events, _) = parse_text(text, None, context()).unwrap();
        assert_eq!(events.len(), 1, "{events:#?}");
        let event = events.remove(0);
        assert_eq!(event.source, "vault-audit", "{event:#?}");
        event
    }

    fn response_with_token(token: &str) -> String {
        let line = json!({
            "time": "2025-03-14T09:25:01.231007Z",
            "type": "response",
            "auth": {"client_token": VAULT_TOKEN, "accessor": ACCESSOR, "display_name": "oidc-cms-jdoe",
                     "metadata": {"credkey": "jdoe"}},
            "request": {"id": "r-1", "operation": "read", "mount_type": "oauthapp",
                        "client_token": LEGACY_TOKEN, "client_token_accessor": ACCESSOR,
                        "path": "secret/oauth/creds/cms/jdoe:default",
                        "remote_address": "2001:db8::51", "remote_port": 40122},
            "response": {"mount_type": "oauthapp", "data": {"access_token": token,
                         "expire_time": "2025-03-14T10:12:03Z", "type": "Bearer"},
                         "auth": {"client_token": VAULT_TOKEN, "accessor": ACCESSOR}}
        });
        line.to_string()
    }

    fn real_token() -> String {
        jwt::encode_test_jwt(
            &json!({"iss":"https://cms-auth.cern.ch/","sub":"46889569-dbbb-42c1-a30b-853eeeeb9f9b",
                    "jti":"e9b4a053-7ad2-4581-99a5-53b02b661b2c","client_id":"cms-vault-prod",
                    "scope":"storage.read:/ storage.create:/store/user/jdoe",
                    "aud":["https://wlcg.cern.ch/jwt/v1/any"],"wlcg.groups":["/cms"],
                    "iat":1741943523,"exp":1741947123}),
            SIGNATURE,
        )
    }

    #[test]
    fn request_for_credentials_is_other_with_session_ip_and_user() {
        let event = parse_one(REQUEST);
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.session_id, "fe5bdabb-84f5-4090-b107-3c4cb07acf12");
        assert_eq!(event.client_ip, "192.0.2.51");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.path, "secret/oauth/creds/cms/jdoe:default");
        assert_eq!(event.jti, "");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-14T09:25:01.123Z");
        for secret in ["s.Xq9", "Lk3..."] {
            assert!(!event.raw.contains(secret), "{secret} in {}", event.raw);
        }
    }

    #[test]
    fn response_with_credentials_issues_a_token() {
        let event = parse_one(RESPONSE);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.session_id, "fe5bdabb-84f5-4090-b107-3c4cb07acf12");
        assert_eq!(event.client_ip, "192.0.2.51");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.path, "secret/oauth/creds/cms/jdoe:default");
        // The example's token is shortened (`eyJ...`): only its expiry is known.
        assert_eq!(
            event.token_exp.unwrap().to_rfc3339(),
            "2025-03-14T10:12:03.000Z"
        );
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-14T09:25:01.231Z");
        assert_eq!(event.host, "htvault.example.org");
        assert!(!event.raw.contains("s.Xq9"));
    }

    #[test]
    fn response_with_a_real_jwt_yields_its_claims() {
        let event = parse_one(&response_with_token(&real_token()));
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.sub, "46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert_eq!(event.jti, "e9b4a053-7ad2-4581-99a5-53b02b661b2c");
        assert_eq!(event.client_id, "cms-vault-prod");
        assert_eq!(
            event.scopes,
            vec!["storage.read:/", "storage.create:/store/user/jdoe"]
        );
        assert_eq!(event.aud, vec!["https://wlcg.cern.ch/jwt/v1/any"]);
        assert_eq!(event.groups, vec!["/cms"]);
        assert_eq!(
            event.token_exp.unwrap().to_rfc3339(),
            "2025-03-14T10:12:03.000Z"
        );
        assert_eq!(event.client_ip, "2001:db8::51");
        assert_eq!(event.username, "jdoe");
    }

    #[test]
    fn no_bearer_token_vault_token_or_accessor_survives_in_any_field() {
        let token = real_token();
        let event = parse_one(&response_with_token(&token));
        let stored = serde_json::to_string(&event).unwrap();
        for secret in [
            SIGNATURE,
            token.as_str(),
            VAULT_TOKEN,
            "CAESIJ3kX9vQ",
            ACCESSOR,
            LEGACY_TOKEN,
        ] {
            assert!(!stored.contains(secret), "{secret} survived: {stored}");
        }
        assert!(event.raw.contains(jwt::REDACTED));
        // What is not secret stays as logged.
        assert!(event.raw.contains("\"display_name\":\"oidc-cms-jdoe\""));
        assert!(event.raw.contains("\"remote_port\":40122"));
    }

    #[test]
    fn token_lookup_and_wrapping_secrets_are_redacted_in_raw() {
        let line = json!({
            "time": "2025-03-14T09:25:02Z", "type": "response",
            "request": {"id": "r-2", "operation": "read", "path": "auth/token/lookup-self",
                        "remote_address": "192.0.2.51"},
            "response": {"data": {"id": VAULT_TOKEN, "accessor": ACCESSOR, "display_name": "x"},
                         "wrap_info": {"token": "abcdefghijklmnopqrstuvwx", "accessor": ACCESSOR,
                                       "creation_path": "sys/wrapping/wrap"}}
        })
        .to_string();
        let event = parse_one(&line);
        assert_eq!(event.action, action::OTHER);
        for secret in [VAULT_TOKEN, ACCESSOR, "abcdefghijklmnopqrstuvwx"] {
            assert!(!event.raw.contains(secret), "{secret} in {}", event.raw);
        }
        assert!(event.raw.contains("sys/wrapping/wrap"));
    }

    #[test]
    fn hmac_values_are_left_alone() {
        let raw = r#"{"auth":{"client_token":"hmac-sha256:7f1f","accessor":"hmac-sha256:f0f4"}}"#;
        assert_eq!(redact_vault_secrets(raw), raw);
    }

    #[test]
    fn sts_read_uses_requested_scopes_and_audiences_when_token_is_opaque() {
        let line = json!({
            "time": "2025-03-14T09:30:00Z", "type": "response",
            "request": {"id": "r-3", "operation": "read", "mount_type": "oauthapp",
                        "path": "secret/oauth/sts/cms/jdoe:default",
                        "data": {"scopes": "storage.read:/store/data", "audiences": "https://xrootd.example.org"},
                        "remote_address": "192.0.2.51"},
            "response": {"data": {"access_token": "opaque", "expire_time": "2025-03-14T10:30:00Z"}}
        })
        .to_string();
        let event = parse_one(&line);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.scopes, vec!["storage.read:/store/data"]);
        assert_eq!(event.aud, vec!["https://xrootd.example.org"]);
    }

    #[test]
    fn error_on_credentials_read_is_a_failed_issue() {
        let line = RESPONSE.replace(
            "\"type\":\"response\",",
            "\"type\":\"response\",\"error\":\"permission denied\",",
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "permission denied");
    }

    #[test]
    fn login_paths_are_logins() {
        let login = r#"{"time":"2025-03-14T09:24:00Z","type":"response","auth":{"client_token":"hvs.abcdefgh","accessor":"acc","display_name":"kerberos-jdoe","metadata":{"username":"jdoe"}},"request":{"id":"l-1","operation":"update","path":"auth/kerberos-cms_default/login","remote_address":"192.0.2.51"},"response":{}}"#;
        let event = parse_one(login);
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.username, "kerberos-jdoe");
        assert!(!event.raw.contains("hvs.abcdefgh"));
        let failed = login.replace(
            "\"type\":\"response\",",
            "\"type\":\"response\",\"error\":\"invalid credentials\",",
        );
        let event = parse_one(&failed);
        assert_eq!(event.action, action::AUTH_FAIL);
        assert_eq!(event.outcome, outcome::FAIL);
        let pending = failed
            .replace("auth/kerberos-cms_default/login", "auth/oidc-cms/oidc/poll")
            .replace("invalid credentials", "authorization_pending");
        assert_eq!(parse_one(&pending).action, action::OTHER);
        let device = login.replace(
            "auth/kerberos-cms_default/login",
            "auth/oidc-cms/oidc/device_wait",
        );
        assert_eq!(parse_one(&device).action, action::AUTH_LOGIN);
        let lookup = login.replace("auth/kerberos-cms_default/login", "auth/token/lookup-self");
        assert_eq!(parse_one(&lookup).action, action::OTHER);
    }

    #[test]
    fn reordered_keys_are_read() {
        let line = r#"{"auth":{"display_name":"oidc-cms-jdoe"},"request":{"id":"r-9","operation":"read","path":"secret/oauth/creds/cms/jdoe:default","remote_address":"192.0.2.51"},"response":{"data":{"expire_time":"2025-03-14T10:12:03Z"}},"time":"2025-03-14T09:25:01.5Z","type":"response"}"#;
        assert!(sniff(line, ""));
        let event = parse_one(line);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.username, "oidc-cms-jdoe");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-14T09:25:01.500Z");
    }

    #[test]
    fn truncated_line_is_malformed() {
        let cut = &REQUEST[..REQUEST.len() / 2];
        let (events, stats) = parse_text(cut, None, context()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].source, "vault-audit");
        assert_eq!(stats.formats["vault-audit"].errors, 1);
    }

    #[test]
    fn garbage_after_the_object_is_ignored() {
        let event = parse_one(&format!("{RESPONSE} trailing"));
        assert_eq!(event.action, action::TOKEN_ISSUE);
    }

    #[test]
    fn other_json_lines_are_not_mine() {
        let mut parser = (FORMAT.new_parser)(&context());
        let mut out = Vec::new();
        for other in [
            r#"{"timestamp":"2025-03-14T09:20:11.532Z","loggerName":"org.keycloak.events","message":"type=LOGIN"}"#,
            r#"{"@type":"AccountDisabledEvent","timestamp":1741950000012,"category":"ACCOUNT","principal":"x"}"#,
            r#"{"time":"2025-03-14T09:25:01Z","type":"transfer","request":{}}"#,
            r#"{"time":"2025-03-14T09:25:01Z","type":"request"}"#,
            "2025-03-14 09:20:11,532 INFO  type=request",
        ] {
            assert_eq!(
                parser.feed(&Line::plain(other, 1, 0), &mut out),
                Feed::NotMine,
                "{other}"
            );
            // An entry without `request` has Vault's shape (sniffed) but is no audit entry.
            if !other.starts_with("{\"time\"") {
                assert!(!sniff(other, ""), "{other}");
            }
        }
        assert!(out.is_empty());
    }

    #[test]
    fn hostile_lines_do_not_panic() {
        let mut parser = (FORMAT.new_parser)(&context());
        let mut out = Vec::new();
        for text in [
            "{",
            "{\"",
            "{\"time\":\"\\",
            "{\"time\":\"x\",\"type\":\"request\",\"request\":{\"path\":5}}",
            "{\"type\":\"response\",\"request\":{\"operation\":\"read\",\"path\":\"secret/oauth/creds/x\"},\"response\":{\"data\":{\"access_token\":\"eyJ.eyJ\u{e9}.x\"}}}",
        ] {
            let _ = parser.feed(&Line::plain(text, 1, 0), &mut out);
            let _ = redact_vault_secrets(text);
        }
        let _ = redact_vault_secrets("\"a\":\"\u{e9}\\");
    }

    #[test]
    fn fixture_file_parses_every_line() {
        let text = include_str!("../../../tests/fixtures/vault-audit/auditlog");
        let (events, stats) = parse_text(text, None, context()).unwrap();
        assert_eq!(stats.formats.len(), 1, "{stats:?}");
        let counts = &stats.formats["vault-audit"];
        assert_eq!(counts.lines, text.lines().count() as u64);
        assert_eq!(counts.errors + counts.raw, 0);
        assert!(events.iter().any(|e| e.action == action::TOKEN_ISSUE));
    }
}

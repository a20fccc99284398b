//! `iam-audit`: the INDIGO IAM audit log — logger `AUDIT` of `iam-login-service`, either the
//! console (journald, docker-compose) or the `iam-audit.log` file of the custom logback config.
//!
//! Grammar (Spring Boot 2 console/file pattern; Spring Boot 3 adds an offset and `[app]`):
//! ```text
//! [junk SP] YYYY-MM-DD[ T]HH:MM:SS.mmm[offset] SP+ LEVEL SP+ PID SP+ "---" {SP+ "[" .. "]"} SP+ "AUDIT" SP* ":" SP msg
//! msg := JSON object with "@type" | "Data parsing error: " text
//! ```
//! e.g. `2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] AUDIT    : {"@type":"…",…}`.
//! A bare JSON object with `@type`, `category` and `principal` (an appender with pattern `%m`)
//! is read too. The time is the JSON `timestamp` (epoch ms, UTC); the prefix time (local, in
//! the context zone unless it carries an offset) only when that is missing.
//!
//! Fields, by `@type`:
//! - `AccessTokenIssuedEvent`: `token.issue` (grant `refresh_token` → `token.refresh`, token
//!   exchange → `token.exchange`); `client_id` = `principal`, `username` = `subject`,
//!   `grant_type` = `grantType`; `iss`/`sub`/`jti`/`scopes`/`aud`/`groups`/`token_iat`/
//!   `token_exp` from `payload` (or `body`), envelope `scopes` when the payload has none.
//!   `parent_jti` = `refreshTokenJti`: the refresh token the access token is bound to — the one
//!   presented on a refresh, or the one issued with it on a first grant. Every access token of
//!   one refresh-token chain thus names the same parent. IAM never logs the subject token of an
//!   exchange, so on an exchange `parent_jti` is also only the refresh token (if any).
//! - `RefreshTokenIssuedEvent`: `token.issue` with `jti` = the refresh token's jti and
//!   `token_exp`; `client_id`/`username`/`grant_type`/`scopes` from the envelope. Its `iss` and
//!   `sub` are not in the line (the RT payload holds only `exp` and `jti`); the access-token
//!   event naming it in `parent_jti` carries them.
//! - `IdTokenIssuedEvent`, `RegistrationTokenIssuedEvent`, `ResourceTokenIssuedEvent`:
//!   `token.issue` with the payload's claims.
//! - `IntrospectionEvent`: `token.introspect` with the token's claims from `response`
//!   (`username` included); `active:false` → outcome `fail`, status `inactive`.
//! - `RevocationEvent`: `token.revoke`, `client_id` = the revoking client.
//! - `UserInfoEvent`: `other`, `client_id` = `authenticatedClientId`, `sub` = `returnedSub`.
//! - `IamAuthenticationSuccessEvent`: `auth.login`; `username` = the authenticated name (IAM
//!   does not say whether it is a user or a client), `client_ip` = `details.remoteAddress`,
//!   `session_id` = `details.sessionId`.
//! - `IamAuthenticationFailureEvent`: `auth.fail`, `status` = the exception message.
//! - `IamAuthorizationFailureEvent`: `authz.deny`, `status` = the message.
//! - Account events: `sub` = `account.uuid`, `username` = `account.name`.
//!   `AccountDisabledEvent` and `ActiveReplacedEvent` with `active:false` → `account.disable`,
//!   `active:true` and `AccountRestoredEvent` → `account.restore`, `AccountRemovedEvent` →
//!   `account.disable` with status `removed`.
//! - Client events: `client_id` = `client.clientId`. `ClientStatusChangedEvent` carries no
//!   status field (IAM's client serializer writes none), so its message decides: one saying
//!   "disabled" → `client.disable`. `ClientRemovedEvent` → `client.disable`, status `removed`.
//! - Everything else (group, membership, AUP, unknown types): `other`, with the account, client
//!   and token claims it carries.
//!
//! `Data parsing error: …` (IAM could not serialise the event) is `Malformed`. The outcome is
//! `ok` except for the failure events. The issuer URL only ever comes from a token payload.

use super::client_address;
use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::json::Object;
use crate::jwt::{claim_time_at, Claims};
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::time::{self, TimeContext};
use nom::bytes::complete::{tag, take_while, take_while1, take_while_m_n};
use nom::character::complete::{alpha1, char, digit1, one_of, space0, space1};
use nom::combinator::recognize;
use nom::multi::many1;
use nom::sequence::delimited;
use nom::{IResult, Parser as _};

/// The `iam-audit` format.
pub static FORMAT: Format = Format {
    id: "iam-audit",
    service: Service::Issuer,
    summary: "INDIGO IAM AUDIT log lines (Spring Boot prefix + JSON)",
    programs: &["iam-login-service"],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            time: context.time.clone(),
        })
    },
};

const PARSING_ERROR: &str = "Data parsing error:";

/// An AUDIT logger line with a JSON event (or IAM's serialisation error), or a bare IAM event.
fn sniff(text: &str, _file_name: &str) -> bool {
    let bytes = text.as_bytes();
    let has = |needle: &str| memchr::memmem::find(bytes, needle.as_bytes()).is_some();
    if has(" AUDIT") && (has("\"@type\":\"") || has(PARSING_ERROR)) {
        return true;
    }
    text.starts_with('{') && has("\"@type\":\"") && has("\"category\":\"") && has("\"principal\":")
}

struct Parser {
    time: TimeContext,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        // Once this parser is sticky it sees every line of the stream: a JSON line of another
        // service must stay `NotMine`, not become a malformed IAM event.
        if !sniff(line.text, "") {
            return Feed::NotMine;
        }
        let Some((stamp, message)) = split_line(line.text) else {
            return Feed::NotMine;
        };
        let message = message.trim();
        if message.starts_with(PARSING_ERROR) {
            return Feed::Malformed;
        }
        let Some(value) = Object::first_in(message) else {
            return Feed::Malformed;
        };
        let Some(kind) = value.string("@type") else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, FORMAT.service);
        let prefix_time = stamp.and_then(|stamp| prefix_time(stamp, &self.time));
        if let Some(time) = value
            .raw("timestamp")
            .and_then(epoch_millis)
            .or(prefix_time)
        {
            event.time = Some(time);
        }
        event.outcome = outcome::OK.into();
        describe(&kind, &value, &mut event);
        out.push(event);
        Feed::Parsed
    }
}

/// Splits a line into its prefix time text (if a Spring Boot prefix was found) and the message.
/// `None` when the line is not an AUDIT line.
fn split_line(text: &str) -> Option<(Option<&str>, &str)> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return Some((None, trimmed));
    }
    // The timestamp may follow junk a relay put in front (`(?:.*?\s)?` in the reference regex).
    let starts = std::iter::once(0).chain(
        text.char_indices()
            .filter(|(_, c)| c.is_whitespace())
            .map(|(index, c)| index + c.len_utf8()),
    );
    for start in starts.take(64) {
        let Some(candidate) = text.get(start..) else {
            continue;
        };
        if let Ok((rest, stamp)) = spring_prefix(candidate) {
            return Some((Some(stamp), rest.strip_prefix(' ').unwrap_or(rest)));
        }
    }
    // An unusual pattern: still an AUDIT logger line if ` AUDIT :` precedes a JSON event.
    let marker = text.find(" AUDIT")?;
    let rest = text.get(marker + " AUDIT".len()..)?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    (rest.starts_with('{') || rest.starts_with(PARSING_ERROR)).then_some((None, rest))
}

/// `2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] AUDIT   :` → the timestamp text.
fn spring_prefix(input: &str) -> IResult<&str, &str> {
    let (input, stamp) = recognize((
        take_while_m_n(10, 10, |c: char| c.is_ascii_digit() || c == '-'),
        one_of(" T"),
        take_while1(|c: char| !c.is_whitespace()),
    ))
    .parse(input)?;
    let bracket = delimited(char('['), take_while(|c: char| c != ']'), char(']'));
    let (input, _) = (
        space1,
        alpha1,
        space1,
        digit1,
        space1,
        tag("---"),
        many1((space1, bracket)),
        space1,
        tag("AUDIT"),
        space0,
        char(':'),
    )
        .parse(input)?;
    Ok((input, stamp))
}

/// The prefix time: local in the context zone, or with the Spring Boot 3 offset.
fn prefix_time(stamp: &str, context: &TimeContext) -> Option<Timestamp> {
    let date = time::date_at(stamp)?;
    let clock = stamp.get(11..)?;
    let (hour, minute, second, millis, used) = time::hms_at(clock)?;
    let naive = date.and_hms_milli_opt(hour, minute, second, millis)?;
    let zone = clock.get(used..)?;
    match zone {
        "" => Some(context.local(naive)),
        "Z" => Some(Timestamp(naive.and_utc().timestamp_millis())),
        _ => {
            let offset = time::parse_offset(zone)?;
            let utc =
                naive.and_utc().timestamp_millis() - i64::from(offset.local_minus_utc()) * 1000;
            Some(Timestamp(utc))
        }
    }
}

/// IAM's `timestamp` (raw JSON): epoch milliseconds (a number, sometimes a numeric string).
fn epoch_millis(raw: &str) -> Option<Timestamp> {
    if raw.starts_with('"') {
        return time::parse_epoch(&crate::json::scalar(raw)?);
    }
    let number: serde_json::Number = serde_json::from_str(raw).ok()?;
    number.as_i64().map(Timestamp::from_millis)
}

/// A name IAM printed for who acted; `<unknown>` (no security context) and Spring's anonymous
/// principal name nobody.
fn known_name(text: &str) -> &str {
    match text {
        "<unknown>" | "anonymousUser" => "",
        _ => text,
    }
}

fn set(slot: &mut String, value: &str) {
    if slot.is_empty() && !value.is_empty() {
        *slot = value.to_string();
    }
}

/// The token payload: `payload` until v1.12, `body` in the newer `TokenEvent`.
fn payload<'a>(value: &Object<'a>) -> Option<Object<'a>> {
    value.object("payload").or_else(|| value.object("body"))
}

/// Fills the event from one IAM audit event.
fn describe(kind: &str, value: &Object<'_>, event: &mut Event) {
    let principal = value.text("principal");
    let principal = known_name(&principal);
    let message = value.text("message");
    event.action = action::OTHER.into();
    match kind {
        "AccessTokenIssuedEvent" => {
            let grant = value.text("grantType");
            event.action = if grant == "refresh_token" {
                action::TOKEN_REFRESH
            } else if grant.ends_with("token-exchange") {
                action::TOKEN_EXCHANGE
            } else {
                action::TOKEN_ISSUE
            }
            .into();
            token_envelope(value, principal, event);
            event.parent_jti = value.text("refreshTokenJti").into_owned();
        }
        "RefreshTokenIssuedEvent"
        | "IdTokenIssuedEvent"
        | "RegistrationTokenIssuedEvent"
        | "ResourceTokenIssuedEvent" => {
            event.action = action::TOKEN_ISSUE.into();
            token_envelope(value, principal, event);
        }
        "IntrospectionEvent" => {
            event.action = action::TOKEN_INTROSPECT.into();
            if let Some(response) = value.object("response") {
                Claims::from_object(&response).fill(event);
                set(&mut event.username, known_name(&response.text("username")));
                if response.bool("active") == Some(false) {
                    event.outcome = outcome::FAIL.into();
                    event.status = "inactive".to_string();
                }
                if event.token_exp.is_none() {
                    event.token_exp = claim_time_at(&response, "exp");
                }
            }
        }
        "RevocationEvent" => {
            event.action = action::TOKEN_REVOKE.into();
            set(&mut event.client_id, principal);
        }
        "UserInfoEvent" => {
            set(&mut event.client_id, &value.text("authenticatedClientId"));
            set(&mut event.sub, &value.text("returnedSub"));
        }
        "IamAuthenticationSuccessEvent" => {
            event.action = action::AUTH_LOGIN.into();
            let source = value.object("sourceEvent").unwrap_or_default();
            set(&mut event.username, known_name(&source.text("principal")));
            set(&mut event.username, principal);
            if let Some(details) = source.object("details") {
                event.client_ip = client_address(&details.text("remoteAddress"));
                event.session_id = details.text("sessionId").into_owned();
            }
        }
        "IamAuthenticationFailureEvent" => {
            event.action = action::AUTH_FAIL.into();
            event.outcome = outcome::FAIL.into();
            event.status = message.to_string();
            let source = value.object("sourceEvent").unwrap_or_default();
            set(&mut event.username, known_name(&source.text("principal")));
        }
        "IamAuthorizationFailureEvent" => {
            event.action = action::AUTHZ_DENY.into();
            event.outcome = outcome::FAIL.into();
            event.status = message.to_string();
            let source = value.object("sourceAuthzEvent").unwrap_or_default();
            set(&mut event.username, known_name(&source.text("principal")));
            set(&mut event.username, principal);
        }
        "AccountDisabledEvent" => event.action = action::ACCOUNT_DISABLE.into(),
        "AccountRestoredEvent" => event.action = action::ACCOUNT_RESTORE.into(),
        "AccountRemovedEvent" => {
            event.action = action::ACCOUNT_DISABLE.into();
            event.status = "removed".to_string();
        }
        "ActiveReplacedEvent" => match value.bool("active") {
            Some(false) => event.action = action::ACCOUNT_DISABLE.into(),
            Some(true) => event.action = action::ACCOUNT_RESTORE.into(),
            None => {}
        },
        "ClientStatusChangedEvent" => {
            if message.to_ascii_lowercase().contains("disabled") {
                event.action = action::CLIENT_DISABLE.into();
            }
        }
        "ClientRemovedEvent" => {
            event.action = action::CLIENT_DISABLE.into();
            event.status = "removed".to_string();
        }
        _ => {
            // A type this parser does not know yet: keep whatever token it carries.
            if let Some(payload) = payload(value) {
                Claims::from_object(&payload).fill(event);
            }
        }
    }
    // The account or client an ACCOUNT/CLIENT/GROUP/MEMBERSHIP event is about.
    if let Some(account) = value.object("account") {
        set(&mut event.sub, &account.text("uuid"));
        set(&mut event.username, &account.text("name"));
    }
    if let Some(client) = value.object("client") {
        set(&mut event.client_id, &client.text("clientId"));
    }
}

/// The fields every token event of `IamTokenService` carries.
fn token_envelope(value: &Object<'_>, principal: &str, event: &mut Event) {
    set(&mut event.client_id, principal);
    set(&mut event.username, &value.text("subject"));
    event.grant_type = value.text("grantType").into_owned();
    if let Some(payload) = payload(value) {
        Claims::from_object(&payload).fill(event);
    }
    if event.scopes.is_empty() {
        if let Some(scopes) = value.strings("scopes") {
            event.scopes = scopes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::Zone;

    const AUTH_SUCCESS: &str = r#"2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] AUDIT                                    : {"@type":"IamAuthenticationSuccessEvent","timestamp":1741943523396,"category":"AUTHENTICATION","principal":"cms-vault-prod","message":"cms-vault-prod authenticated succesfully","sourceEvent":{"principal":"cms-vault-prod","type":"AuthenticationSuccessEvent","details":{"remoteAddress":"192.0.2.45","sessionId":null}},"source":"UsernamePasswordAuthenticationToken"}"#;
    const REFRESH_TOKEN_ISSUED: &str = r#"2025-03-14 09:12:03.409  INFO 7 --- [nio-8080-exec-4] AUDIT                                    : {"@type":"RefreshTokenIssuedEvent","timestamp":1741943523409,"category":"TOKEN","principal":"cms-vault-prod","message":"Issue refresh token","subject":"jdoe","scopes":["openid","offline_access","wlcg.groups","storage.read:/","storage.create:/store/user/jdoe"],"grantType":"urn:ietf:params:oauth:grant-type:device_code","payload":{"exp":1744535523405,"jti":"1a85743d-adf9-4133-a6b2-22645c9da6f4"},"source":"IamTokenService"}"#;
    const ACCESS_TOKEN_DEVICE: &str = r#"2025-03-14 09:12:03.417  INFO 7 --- [nio-8080-exec-4] AUDIT                                    : {"@type":"AccessTokenIssuedEvent","timestamp":1741943523417,"category":"TOKEN","principal":"cms-vault-prod","message":"Issue access token","scopes":["openid","offline_access","wlcg.groups","storage.read:/","storage.create:/store/user/jdoe"],"subject":"jdoe","grantType":"urn:ietf:params:oauth:grant-type:device_code","header":{"kid":"rsa1","alg":"RS256"},"payload":{"iss":"https://cms-auth.cern.ch/","iat":1741943523402,"exp":1741947123391,"sub":"46889569-dbbb-42c1-a30b-853eeeeb9f9b","jti":"e9b4a053-7ad2-4581-99a5-53b02b661b2c","client_id":"cms-vault-prod","nbf":1741943523402,"scope":"openid offline_access wlcg.groups storage.read:/ storage.create:/store/user/jdoe","wlcg.ver":"1.0","wlcg.groups":["/cms","/cms/uscms"],"aud":["https://wlcg.cern.ch/jwt/v1/any"]},"refreshTokenJti":"1a85743d-adf9-4133-a6b2-22645c9da6f4","source":"IamTokenService"}"#;
    const ACCESS_TOKEN_EXCHANGE: &str = r#"2025-03-14 10:02:11.880  INFO 7 --- [io-8080-exec-17] AUDIT                                    : {"@type":"AccessTokenIssuedEvent","timestamp":1741946531880,"category":"TOKEN","principal":"1850048a-0c74-4d53-b953-719f3ff36b13","message":"Issue access token","scopes":["storage.read:/store/data"],"subject":"jdoe","grantType":"urn:ietf:params:oauth:grant-type:token-exchange","header":{"kid":"rsa1","alg":"RS256"},"payload":{"iss":"https://cms-auth.cern.ch/","iat":1741946531861,"exp":1741950131850,"sub":"46889569-dbbb-42c1-a30b-853eeeeb9f9b","jti":"284c1c00-5510-41df-b06b-d9727169547e","client_id":"1850048a-0c74-4d53-b953-719f3ff36b13","aud":["https://xrootd.example.org"],"act":{"sub":"1850048a-0c74-4d53-b953-719f3ff36b13"},"nbf":1741946531861,"scope":"storage.read:/store/data","wlcg.ver":"1.0","wlcg.groups":["/cms"]},"source":"IamTokenService"}"#;
    const ACCESS_TOKEN_CLIENT_CREDENTIALS: &str = r#"2025-03-14 10:30:45.002  INFO 7 --- [nio-8080-exec-9] AUDIT                                    : {"@type":"AccessTokenIssuedEvent","timestamp":1741948245002,"category":"TOKEN","principal":"88ebd8c7-45ea-499a-a666-8bdff75ef5af","message":"Issue access token","scopes":["compute.create","compute.read"],"subject":"88ebd8c7-45ea-499a-a666-8bdff75ef5af","grantType":"client_credentials","header":{"kid":"rsa1","alg":"RS256"},"payload":{"iss":"https://wlcg.cloud.cnaf.infn.it/","iat":1741948244990,"exp":1741951844981,"sub":"88ebd8c7-45ea-499a-a666-8bdff75ef5af","jti":"7cebb595-496d-4f01-8518-f006d9ee392c","client_id":"88ebd8c7-45ea-499a-a666-8bdff75ef5af","nbf":1741948244990,"scope":"compute.create compute.read","wlcg.ver":"1.0","aud":["https://wlcg.cern.ch/jwt/v1/any"]},"source":"IamTokenService"}"#;
    const ACCOUNT_DISABLED: &str = r#"2025-03-14 11:00:00.012  INFO 7 --- [   scheduling-1] AUDIT                                    : {"@type":"AccountDisabledEvent","timestamp":1741950000012,"category":"ACCOUNT","principal":"<unknown>","message":"Account 'jdoe' has been disabled","account":{"uuid":"46889569-dbbb-42c1-a30b-853eeeeb9f9b","name":"jdoe"},"source":"DefaultIamAccountService"}"#;
    const ACTIVE_REPLACED_FALSE: &str = r#"2025-03-14 11:05:17.540  INFO 7 --- [nio-8080-exec-2] AUDIT                                    : {"@type":"ActiveReplacedEvent","timestamp":1741950317540,"category":"ACCOUNT","principal":"admin","message":"Replace user active status: false","account":{"uuid":"46889569-dbbb-42c1-a30b-853eeeeb9f9b","name":"jdoe"},"updaterType":"ACCOUNT_REPLACE_ACTIVE","active":false,"source":"ScimUserProvisioning"}"#;

    const PREFIX: &str = "2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] AUDIT                                    : ";

    fn context() -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Named(chrono_tz::Europe::Zurich),
                year_override: None,
                reference_date: None,
            },
            host: "iam01.example.org".into(),
            path: "logs/iam-audit.log".into(),
            file_name: "iam-audit.log".into(),
            ..Context::default()
        }
    }

    fn parse_all(text: &str) -> Vec<Event> {
        parse_text(text, Some("iam-audit"), context()).unwrap().0
    }

    fn parse_one(text: &str) -> Event {
        let mut events = parse_all(text);
        assert_eq!(events.len(), 1, "{events:#?}");
        events.remove(0)
    }

    fn time(event: &Event) -> String {
        event.time.expect("event has a time").to_rfc3339()
    }

    #[test]
    fn authentication_success_gives_login_with_client_ip() {
        let event = parse_one(AUTH_SUCCESS);
        assert_eq!(event.source, "iam-audit");
        assert_eq!(event.service, "issuer");
        assert_eq!(event.action, action::AUTH_LOGIN);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.username, "cms-vault-prod");
        assert_eq!(event.client_ip, "192.0.2.45");
        assert_eq!(event.session_id, "");
        assert_eq!(event.host, "iam01.example.org");
        assert_eq!(time(&event), "2025-03-14T09:12:03.396Z");
        assert_eq!(event.raw, AUTH_SUCCESS);
    }

    #[test]
    fn refresh_token_issued_is_its_own_token_issue_with_the_rt_jti() {
        let event = parse_one(REFRESH_TOKEN_ISSUED);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.jti, "1a85743d-adf9-4133-a6b2-22645c9da6f4");
        assert_eq!(
            event.token_exp.unwrap().to_rfc3339(),
            "2025-04-13T09:12:03.405Z"
        );
        assert_eq!(event.client_id, "cms-vault-prod");
        assert_eq!(event.username, "jdoe");
        assert_eq!(
            event.grant_type,
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert_eq!(event.scopes.len(), 5);
        assert_eq!(event.scopes[4], "storage.create:/store/user/jdoe");
        assert_eq!(event.iss, "");
        assert_eq!(event.sub, "");
        assert_eq!(event.parent_jti, "");
        assert_eq!(time(&event), "2025-03-14T09:12:03.409Z");
    }

    #[test]
    fn access_token_from_device_grant_carries_claims_and_its_refresh_token() {
        let event = parse_one(ACCESS_TOKEN_DEVICE);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.sub, "46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert_eq!(event.jti, "e9b4a053-7ad2-4581-99a5-53b02b661b2c");
        assert_eq!(event.client_id, "cms-vault-prod");
        assert_eq!(event.username, "jdoe");
        assert_eq!(
            event.grant_type,
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert_eq!(
            event.scopes,
            vec![
                "openid",
                "offline_access",
                "wlcg.groups",
                "storage.read:/",
                "storage.create:/store/user/jdoe"
            ]
        );
        assert_eq!(event.aud, vec!["https://wlcg.cern.ch/jwt/v1/any"]);
        assert_eq!(event.groups, vec!["/cms", "/cms/uscms"]);
        assert_eq!(
            event.token_iat.unwrap().to_rfc3339(),
            "2025-03-14T09:12:03.402Z"
        );
        assert_eq!(
            event.token_exp.unwrap().to_rfc3339(),
            "2025-03-14T10:12:03.391Z"
        );
        assert_eq!(event.parent_jti, "1a85743d-adf9-4133-a6b2-22645c9da6f4");
        assert_eq!(time(&event), "2025-03-14T09:12:03.417Z");
    }

    #[test]
    fn access_token_from_token_exchange_is_an_exchange() {
        let event = parse_one(ACCESS_TOKEN_EXCHANGE);
        assert_eq!(event.action, action::TOKEN_EXCHANGE);
        assert_eq!(event.client_id, "1850048a-0c74-4d53-b953-719f3ff36b13");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.sub, "46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert_eq!(event.jti, "284c1c00-5510-41df-b06b-d9727169547e");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.aud, vec!["https://xrootd.example.org"]);
        assert_eq!(event.scopes, vec!["storage.read:/store/data"]);
        assert_eq!(event.groups, vec!["/cms"]);
        assert_eq!(event.parent_jti, "");
        assert_eq!(time(&event), "2025-03-14T10:02:11.880Z");
    }

    #[test]
    fn access_token_from_client_credentials_names_the_client() {
        let event = parse_one(ACCESS_TOKEN_CLIENT_CREDENTIALS);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.grant_type, "client_credentials");
        assert_eq!(event.client_id, "88ebd8c7-45ea-499a-a666-8bdff75ef5af");
        assert_eq!(event.sub, "88ebd8c7-45ea-499a-a666-8bdff75ef5af");
        assert_eq!(event.jti, "7cebb595-496d-4f01-8518-f006d9ee392c");
        assert_eq!(event.iss, "https://wlcg.cloud.cnaf.infn.it");
        assert_eq!(event.scopes, vec!["compute.create", "compute.read"]);
        assert!(event.groups.is_empty());
        assert_eq!(
            event.token_exp.unwrap().to_rfc3339(),
            "2025-03-14T11:30:44.981Z"
        );
        assert_eq!(time(&event), "2025-03-14T10:30:45.002Z");
    }

    #[test]
    fn account_disabled_by_the_scheduler_disables_the_account() {
        let event = parse_one(ACCOUNT_DISABLED);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.sub, "46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.client_id, "");
        assert_eq!(time(&event), "2025-03-14T11:00:00.012Z");
    }

    #[test]
    fn active_replaced_false_disables_and_true_restores() {
        let event = parse_one(ACTIVE_REPLACED_FALSE);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
        assert_eq!(event.sub, "46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert_eq!(event.username, "jdoe");
        assert_eq!(time(&event), "2025-03-14T11:05:17.540Z");
        let restored = ACTIVE_REPLACED_FALSE
            .replace("\"active\":false", "\"active\":true")
            .replace("status: false", "status: true");
        assert_eq!(parse_one(&restored).action, action::ACCOUNT_RESTORE);
    }

    #[test]
    fn account_restored_and_removed_events() {
        let restored = format!(
            r#"{PREFIX}{{"@type":"AccountRestoredEvent","timestamp":1741950000012,"category":"ACCOUNT","principal":"admin","message":"Account 'jdoe' has been restored","account":{{"uuid":"4688","name":"jdoe"}},"source":"DefaultIamAccountService"}}"#
        );
        let event = parse_one(&restored);
        assert_eq!(event.action, action::ACCOUNT_RESTORE);
        assert_eq!(event.sub, "4688");
        let removed = restored.replace("AccountRestoredEvent", "AccountRemovedEvent");
        let event = parse_one(&removed);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
        assert_eq!(event.status, "removed");
        assert_eq!(event.username, "jdoe");
    }

    #[test]
    fn refresh_grant_is_a_refresh_whose_parent_is_the_refresh_token() {
        let line = format!(
            r#"{PREFIX}{{"@type":"AccessTokenIssuedEvent","timestamp":1741943523417,"category":"TOKEN","principal":"cms-vault-prod","message":"Issue access token","scopes":["openid"],"subject":"jdoe","grantType":"refresh_token","payload":{{"iss":"https://cms-auth.cern.ch/","sub":"4688","jti":"at-2","iat":1741943523402,"exp":1741947123391}},"refreshTokenJti":"rt-1","source":"IamTokenService"}}"#
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::TOKEN_REFRESH);
        assert_eq!(event.grant_type, "refresh_token");
        assert_eq!(event.jti, "at-2");
        assert_eq!(event.parent_jti, "rt-1");
        // No `scope` claim in the payload: the envelope's scopes are used.
        assert_eq!(event.scopes, vec!["openid"]);
    }

    #[test]
    fn body_is_read_like_payload() {
        let line = ACCESS_TOKEN_DEVICE.replace("\"payload\":", "\"body\":");
        let event = parse_one(&line);
        assert_eq!(event.jti, "e9b4a053-7ad2-4581-99a5-53b02b661b2c");
        assert_eq!(event.sub, "46889569-dbbb-42c1-a30b-853eeeeb9f9b");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
    }

    #[test]
    fn id_token_issued_is_a_token_issue() {
        let line = format!(
            r#"{PREFIX}{{"@type":"IdTokenIssuedEvent","timestamp":1741943523420,"category":"TOKEN","principal":"egi-notebooks","message":"Issue id token","grantType":"authorization_code","header":{{"kid":"rsa1","alg":"RS256"}},"payload":{{"iss":"https://cms-auth.cern.ch/","sub":"4688","aud":"egi-notebooks","jti":"id-1","iat":1741943523402,"exp":1741947123391}},"source":"IamTokenService"}}"#
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::TOKEN_ISSUE);
        assert_eq!(event.jti, "id-1");
        assert_eq!(event.aud, vec!["egi-notebooks"]);
        assert_eq!(event.client_id, "egi-notebooks");
        assert_eq!(event.grant_type, "authorization_code");
    }

    #[test]
    fn introspection_reads_response_claims_and_java_date_exp() {
        let line = format!(
            r#"{PREFIX}{{"@type":"IntrospectionEvent","timestamp":1741943523396,"category":"TOKEN","principal":"rucio-prod","message":"Introspection request","response":{{"active":true,"sub":"4688","scope":"openid storage.read:/","iss":"https://cms-auth.cern.ch/","token_type":"Bearer","exp":"Fri Mar 14 10:12:03 UTC 2025","client_id":"cms-vault-prod","jti":"e9b4a053","username":"jdoe"}},"tokenValue":"eyJraWQiOiJyc2ExIiwi...","tokenTypeHint":"access_token","source":"IamIntrospectionService"}}"#
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::TOKEN_INTROSPECT);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.jti, "e9b4a053");
        assert_eq!(event.sub, "4688");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.client_id, "cms-vault-prod");
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.scopes, vec!["openid", "storage.read:/"]);
        assert_eq!(
            event.token_exp.unwrap().to_rfc3339(),
            "2025-03-14T10:12:03.000Z"
        );
        let inactive = line.replace("\"active\":true", "\"active\":false");
        let event = parse_one(&inactive);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "inactive");
    }

    #[test]
    fn revocation_and_userinfo_events() {
        let revoke = format!(
            r#"{PREFIX}{{"@type":"RevocationEvent","timestamp":1741943523396,"category":"TOKEN","principal":"cms-vault-prod","message":"Token revocation request","tokenValue":"eyJraWQiOiJyc2ExIiwi...","tokenTypeHint":"refresh_token","source":"IamRevocationService"}}"#
        );
        let event = parse_one(&revoke);
        assert_eq!(event.action, action::TOKEN_REVOKE);
        assert_eq!(event.client_id, "cms-vault-prod");
        let userinfo = format!(
            r#"{PREFIX}{{"@type":"UserInfoEvent","timestamp":1741943523396,"category":"TOKEN","principal":"jdoe","message":"UserInfo request","authenticatedClientId":"egi-notebooks","returnedSub":"4688","source":"UserInfoEndpoint"}}"#
        );
        let event = parse_one(&userinfo);
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.client_id, "egi-notebooks");
        assert_eq!(event.sub, "4688");
    }

    #[test]
    fn authentication_and_authorization_failures_fail() {
        let failure = format!(
            r#"{PREFIX}{{"@type":"IamAuthenticationFailureEvent","timestamp":1741943523396,"category":"AUTHENTICATION","principal":"<unknown>","message":"Bad credentials","sourceEvent":null,"source":"UsernamePasswordAuthenticationToken"}}"#
        );
        let event = parse_one(&failure);
        assert_eq!(event.action, action::AUTH_FAIL);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.status, "Bad credentials");
        assert_eq!(event.username, "");
        let denied = format!(
            r#"{PREFIX}{{"@type":"IamAuthorizationFailureEvent","timestamp":1741943523396,"category":"AUTHORIZATION","principal":"jdoe","message":"Access is denied","sourceAuthzEvent":{{"principal":"jdoe","type":"AuthorizationFailureEvent","source":"FilterInvocation: URL: /scim/Users"}},"source":"FilterInvocation"}}"#
        );
        let event = parse_one(&denied);
        assert_eq!(event.action, action::AUTHZ_DENY);
        assert_eq!(event.outcome, outcome::FAIL);
        assert_eq!(event.username, "jdoe");
        assert_eq!(event.status, "Access is denied");
    }

    #[test]
    fn client_status_change_to_disabled_disables_the_client() {
        let line = format!(
            r#"{PREFIX}{{"@type":"ClientStatusChangedEvent","timestamp":1741943523396,"category":"CLIENT","principal":"admin","message":"Client disabled","client":{{"clientId":"cms-vault-prod","clientName":"CMS vault","dynamically_registered":false,"scope":["openid"],"grant_types":["refresh_token"],"token_endpoint_auth_method":"client_secret_basic"}},"source":"DefaultClientService"}}"#
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::CLIENT_DISABLE);
        assert_eq!(event.client_id, "cms-vault-prod");
        let enabled = line.replace("Client disabled", "Client enabled");
        assert_eq!(parse_one(&enabled).action, action::OTHER);
        let removed = line.replace("ClientStatusChangedEvent", "ClientRemovedEvent");
        let event = parse_one(&removed);
        assert_eq!(event.action, action::CLIENT_DISABLE);
        assert_eq!(event.status, "removed");
    }

    #[test]
    fn unknown_type_is_other_with_what_it_carries() {
        let line = format!(
            r#"{PREFIX}{{"@type":"GroupMembershipAddedEvent","timestamp":1741943523396,"category":"MEMBERSHIP","principal":"admin","message":"Add user to group","account":{{"uuid":"4688","name":"jdoe"}},"group":{{"uuid":"g1","name":"cms/higgs"}},"source":"X"}}"#
        );
        let event = parse_one(&line);
        assert_eq!(event.action, action::OTHER);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.sub, "4688");
        assert_eq!(event.username, "jdoe");
    }

    #[test]
    fn data_parsing_error_is_kept_as_malformed() {
        let line = format!("{PREFIX}Data parsing error: No serializer found for class X");
        let (events, stats) = parse_text(&line, None, context()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].source, "iam-audit");
        assert_eq!(events[0].status, "unparsed");
        assert_eq!(stats.formats["iam-audit"].errors, 1);
    }

    #[test]
    fn truncated_json_is_malformed() {
        let cut = &ACCESS_TOKEN_DEVICE[..ACCESS_TOKEN_DEVICE.len() - 40];
        let (events, stats) = parse_text(cut, None, context()).unwrap();
        assert_eq!(events[0].source, "iam-audit");
        assert_eq!(events[0].action, "");
        assert_eq!(stats.formats["iam-audit"].errors, 1);
        // The raw event still has the prefix time, read in the context zone.
        assert_eq!(time(&events[0]), "2025-03-14T08:12:03.417Z");
    }

    #[test]
    fn garbage_after_the_json_is_ignored() {
        let line = format!("{ACCOUNT_DISABLED} [trailing relay junk]");
        let event = parse_one(&line);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
    }

    #[test]
    fn missing_timestamp_falls_back_to_prefix_time_in_context_zone() {
        let line = ACCOUNT_DISABLED.replace("\"timestamp\":1741950000012,", "");
        let event = parse_one(&line);
        assert_eq!(time(&event), "2025-03-14T10:00:00.012Z");
    }

    #[test]
    fn spring_boot_3_prefix_with_offset_and_app_name_is_read() {
        let line = ACCOUNT_DISABLED
            .replace("\"timestamp\":1741950000012,", "")
            .replace(
                "2025-03-14 11:00:00.012  INFO 7 --- [   scheduling-1]",
                "2025-03-14T11:00:00.012+02:00  INFO 7 --- [iam-login-service] [scheduling-1]",
            );
        let event = parse_one(&line);
        assert_eq!(event.action, action::ACCOUNT_DISABLE);
        assert_eq!(time(&event), "2025-03-14T09:00:00.012Z");
    }

    #[test]
    fn full_thread_names_and_short_logger_padding_are_accepted() {
        let line = ACCOUNT_DISABLED.replace(
            "[   scheduling-1] AUDIT                                    : ",
            "[http-nio-8080-exec-10 worker] AUDIT : ",
        );
        assert_eq!(parse_one(&line).action, action::ACCOUNT_DISABLE);
    }

    #[test]
    fn ipv6_remote_address_is_normalised() {
        let line = AUTH_SUCCESS.replace(
            "\"remoteAddress\":\"192.0.2.45\",\"sessionId\":null",
            "\"remoteAddress\":\"2001:db8:0:0:0:0:0:1\",\"sessionId\":\"9F8E7D\"",
        );
        let event = parse_one(&line);
        assert_eq!(event.client_ip, "2001:db8::1");
        assert_eq!(event.session_id, "9F8E7D");
    }

    #[test]
    fn compose_and_journald_prefixes_are_removed_by_the_pipeline() {
        let compose = format!("iam-login-service  | {AUTH_SUCCESS}");
        let event = parse_all(&compose).remove(0);
        assert_eq!(event.source, "iam-audit");
        assert_eq!(event.client_ip, "192.0.2.45");
        let journald = format!("Mar 14 10:12:03 iam01 iam-login-service[812]: {ACCOUNT_DISABLED}");
        let (events, _) = parse_text(&journald, None, context()).unwrap();
        assert_eq!(events[0].source, "iam-audit");
        assert_eq!(events[0].host, "iam01");
        assert_eq!(events[0].action, action::ACCOUNT_DISABLE);
    }

    #[test]
    fn bare_json_event_without_prefix_is_read() {
        let json = &ACCOUNT_DISABLED[ACCOUNT_DISABLED.find('{').unwrap()..];
        assert!(sniff(json, "iam-audit.log"));
        let (events, _) = parse_text(json, None, context()).unwrap();
        assert_eq!(events[0].source, "iam-audit");
        assert_eq!(events[0].action, action::ACCOUNT_DISABLE);
    }

    #[test]
    fn sniff_is_specific() {
        assert!(sniff(AUTH_SUCCESS, ""));
        assert!(sniff(&format!("{PREFIX}Data parsing error: x"), ""));
        for other in [
            "2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] i.i.m.i.c.IamTokenService : Token issued",
            r#"{"time":"2025-03-14T09:25:01.123456Z","type":"request","request":{"id":"x"}}"#,
            r#"2025-03-14 09:20:11,532 INFO  [org.keycloak.events] (executor-thread-12) type="LOGIN", realmId="x""#,
            r#"{"@type":"Something","value":1}"#,
        ] {
            assert!(!sniff(other, ""), "{other}");
        }
    }

    #[test]
    fn lines_of_other_formats_are_not_mine() {
        let mut parser = (FORMAT.new_parser)(&context());
        let mut out = Vec::new();
        for other in [
            "2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] i.i.m.i.c.IamTokenService : Token issued",
            r#"{"time":"2025-03-14T09:25:01.123456Z","type":"request"}"#.trim_start_matches('{'),
            "Mar 14 09:12:03 AUDIT happened",
            r#"{"time":"2025-03-14T09:25:01.123456Z","type":"request","request":{"id":"x"}}"#,
            r#"{"@type":"X","value":1}"#,
        ] {
            assert_eq!(parser.feed(&Line::plain(other, 1, 0), &mut out), Feed::NotMine, "{other}");
        }
        assert!(out.is_empty());
    }

    #[test]
    fn hostile_lines_do_not_panic() {
        let mut parser = (FORMAT.new_parser)(&context());
        let mut out = Vec::new();
        for text in [
            "",
            " AUDIT",
            " AUDIT :",
            " AUDIT : {",
            "2025-03-14 09:12:03.396  INFO 7 --- [",
            "2025-03-14 \u{e9}\u{e9}:12:03.396  INFO 7 --- [x] AUDIT : {\"@type\":1}",
            "9999-99-99 99:99:99.999  INFO 7 --- [x] AUDIT : {\"@type\":\"X\",\"timestamp\":-1}",
            "{\"@type\":\"AccessTokenIssuedEvent\",\"payload\":[],\"scopes\":\"x\",\"timestamp\":1e99}",
        ] {
            let _ = parser.feed(&Line::plain(text, 1, 0), &mut out);
        }
    }

    #[test]
    fn fixture_file_parses_every_line() {
        let text = include_str!("../../../tests/fixtures/iam-audit/iam-audit.log");
        let (events, stats) = parse_text(text, None, context()).unwrap();
        assert_eq!(stats.formats.len(), 1, "{stats:?}");
        let counts = &stats.formats["iam-audit"];
        assert_eq!(counts.lines, text.lines().count() as u64);
        assert_eq!(counts.errors, 0);
        assert_eq!(counts.raw, 0);
        assert!(events.iter().all(|e| e.source == "iam-audit"));
    }
}

//! `fts-token`: the FTS3 token daemon log, `/var/log/fts3/fts3token.log` (logrotate daily).
//!
//! Line grammar: see [`fts_line`](crate::storage::fts_line). Messages read
//! (`src/tokens/executors/Token{Exchange,Refresh}Executor.cpp`):
//! - `Starting token-exchange: token_id=<id> expiration_time=<epoch> issuer=<iss>
//!   access_token=<first5>...<last5>` → `token.exchange` (no outcome yet);
//!   `Obtained exchanged token: token_id=<id> expiration_time=<epoch> access_token=…
//!   refresh_token=…` → `token.exchange` ok; `Failed to obtain refresh token: token_id=<id>
//!   response: '…'` (or `error: '…'`) → `token.exchange` fail with the reason as `status`.
//! - The same for refreshes: `Starting token-refresh:`, `Obtained refreshed access token:`,
//!   `Failed to refresh access token:` → `token.refresh`.
//!
//! Fields: `session_id` = FTS's `token_id`, `iss` (from the starting line, remembered per
//! token_id for the lines that do not repeat it), `token_exp` = `expiration_time`, `grant_type`
//! (`urn:ietf:params:oauth:grant-type:token-exchange` / `refresh_token`, the grants the executors
//! send). `token_id` is FTS's own key, the first 16 hex digits of SHA-1 over the raw access token
//! — not the token's `jti`, which FTS never logs — so `jti` stays empty; docs/conventions.md has
//! no field for it, and `session_id` is used because it ties the in-service life of one token
//! (exchange, refreshes, its use in `fts-transfer` logs) as a session id does. The
//! `<first5>...<last5>` fingerprints stay in `raw` only. Other lines are kept without action.

use std::collections::HashMap;

use crate::event::{action, outcome, Event, Service, Timestamp};
use crate::kv;
use crate::parser::{Context, Feed, Format, Line, LineParser};
use crate::storage::fts_line;

/// The `fts-token` format.
pub static FORMAT: Format = Format {
    id: "fts-token",
    service: Service::Transfer,
    summary: "FTS3 token daemon log (fts3token.log)",
    programs: &["fts_token", "fts-token"],
    sniff,
    new_parser: |_: &Context| {
        Box::new(Parser {
            issuers: HashMap::new(),
        })
    },
};

const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const REFRESH_GRANT: &str = "refresh_token";

/// (message prefix, action, outcome, grant).
const MESSAGES: &[(&str, &str, &str, &str)] = &[
    (
        "Starting token-exchange: ",
        action::TOKEN_EXCHANGE,
        "",
        EXCHANGE_GRANT,
    ),
    (
        "Obtained exchanged token: ",
        action::TOKEN_EXCHANGE,
        outcome::OK,
        EXCHANGE_GRANT,
    ),
    (
        "Failed to obtain refresh token: ",
        action::TOKEN_EXCHANGE,
        outcome::FAIL,
        EXCHANGE_GRANT,
    ),
    (
        "Starting token-refresh: ",
        action::TOKEN_REFRESH,
        "",
        REFRESH_GRANT,
    ),
    (
        "Obtained refreshed access token: ",
        action::TOKEN_REFRESH,
        outcome::OK,
        REFRESH_GRANT,
    ),
    (
        "Failed to refresh access token: ",
        action::TOKEN_REFRESH,
        outcome::FAIL,
        REFRESH_GRANT,
    ),
];

fn sniff(text: &str, file_name: &str) -> bool {
    let Some(line) = fts_line::parse(text) else {
        return false;
    };
    file_name.starts_with("fts3token")
        || MESSAGES
            .iter()
            .any(|(prefix, ..)| line.message.starts_with(prefix))
}

struct Parser {
    /// token_id → issuer, from the `Starting …` lines.
    issuers: HashMap<String, String>,
}

/// The reason of a failure line: the quoted text after `response:` or `error:`.
fn failure_reason(rest: &str) -> String {
    for marker in ["response: ", "error: "] {
        if let Some((_, reason)) = rest.split_once(marker) {
            return reason.trim().trim_matches('\'').to_string();
        }
    }
    rest.trim().to_string()
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, out: &mut Vec<Event>) -> Feed {
        let Some(parsed) = fts_line::parse(line.text) else {
            return Feed::NotMine;
        };
        let Some((prefix, name, result, grant)) = MESSAGES
            .iter()
            .find(|(prefix, ..)| parsed.message.starts_with(prefix))
        else {
            return Feed::Ignored;
        };
        let rest = &parsed.message[prefix.len()..];
        let pairs = kv::pairs(rest);
        let Some(token_id) = kv::get(&pairs, "token_id").filter(|id| !id.is_empty()) else {
            return Feed::Malformed;
        };
        let mut event = line.event(FORMAT.id, FORMAT.service);
        if parsed.time.is_some() {
            event.time = parsed.time;
        }
        event.action = (*name).into();
        event.outcome = (*result).into();
        event.grant_type = grant.to_string();
        event.session_id = token_id.to_string();
        event.token_exp = kv::get(&pairs, "expiration_time")
            .and_then(|epoch| epoch.parse::<i64>().ok())
            .map(Timestamp::from_secs);
        match kv::get(&pairs, "issuer").filter(|iss| !iss.is_empty()) {
            Some(issuer) => {
                event.iss = issuer.to_string();
                self.issuers
                    .insert(token_id.to_string(), issuer.to_string());
            }
            None => {
                if let Some(issuer) = self.issuers.get(token_id) {
                    event.iss = issuer.clone();
                }
            }
        }
        event.status = match *result {
            "" => "started".to_string(),
            outcome::FAIL => failure_reason(rest),
            _ => "obtained".to_string(),
        };
        out.push(event);
        Feed::Parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;

    const REFERENCE: &str = include_str!("../../../tests/fixtures/fts-token/fts3token.log");

    fn context() -> Context {
        Context {
            path: "/var/log/fts3/fts3token.log".into(),
            file_name: "fts3token.log".into(),
            ..Context::default()
        }
    }

    fn events() -> Vec<Event> {
        parse_text(REFERENCE, None, context()).unwrap().0
    }

    #[test]
    fn starting_exchange_gives_token_id_issuer_and_expiry() {
        let events = events();
        let event = &events[0];
        assert_eq!(event.source, "fts-token");
        assert_eq!(event.action, action::TOKEN_EXCHANGE);
        assert_eq!(event.session_id, "4e375621a6ebbe01");
        assert_eq!(event.iss, "https://atlas-auth.cern.ch");
        assert_eq!(event.token_exp, Some(Timestamp::from_secs(1_718_197_919)));
        assert_eq!(event.outcome, "");
        assert_eq!(event.status, "started");
        assert_eq!(event.jti, "");
        assert_eq!(event.grant_type, EXCHANGE_GRANT);
        assert_eq!(event.time.unwrap().to_rfc3339(), "2024-06-12T12:10:02.000Z");
        // The 5+5 fingerprint is not a usable token and stays in the line.
        assert!(event.raw.contains("access_token=eyJra...Qw9zA"));
    }

    #[test]
    fn obtained_exchange_keeps_the_issuer_of_its_token_id() {
        let events = events();
        let event = &events[1];
        assert_eq!(event.action, action::TOKEN_EXCHANGE);
        assert_eq!(event.outcome, outcome::OK);
        assert_eq!(event.iss, "https://atlas-auth.cern.ch");
        assert_eq!(event.token_exp, Some(Timestamp::from_secs(1_718_201_519)));
        assert_eq!(event.session_id, "4e375621a6ebbe01");
    }

    #[test]
    fn refresh_and_its_failure() {
        let events = events();
        assert_eq!(events[2].action, action::TOKEN_REFRESH);
        assert_eq!(events[2].outcome, "");
        assert_eq!(events[2].grant_type, REFRESH_GRANT);
        let failed = &events[3];
        assert_eq!(failed.action, action::TOKEN_REFRESH);
        assert_eq!(failed.outcome, outcome::FAIL);
        assert_eq!(failed.status, "invalid_grant: refresh token expired");
        assert_eq!(failed.iss, "https://cms-auth.cern.ch");
        // A banner line of the daemon is kept without an action.
        assert_eq!(events[4].action, "");
        assert_eq!(events[4].source, "fts-token");
    }

    #[test]
    fn full_token_in_a_token_request_line_is_redacted() {
        let signature = "c2lnbmF0dXJlLXNlY3JldC12YWx1ZS0xMjM0NTY3ODkw";
        let token = crate::jwt::encode_test_jwt(
            &serde_json::json!({"iss":"https://atlas-auth.cern.ch/","sub":"s","jti":"j-9"}),
            signature,
        );
        let text = format!("TOKEN   Wed, 12 Jun 2024 14:10:02 +0200; Starting token-exchange: token_id=4e375621a6ebbe01 expiration_time=1718197919 issuer=https://atlas-auth.cern.ch/ access_token={token}\n");
        let (events, _) = parse_text(&text, None, context()).unwrap();
        assert!(!events[0].raw.contains(signature));
        assert_eq!(events[0].jti, "j-9");
    }

    #[test]
    fn missing_token_id_is_malformed_and_transfer_lines_are_not_sniffed() {
        let (_, stats) = parse_text(
            "INFO    Wed, 12 Jun 2024 14:10:02 +0200; Starting token-exchange: expiration_time=1",
            None,
            context(),
        )
        .unwrap();
        assert_eq!(stats.formats["fts-token"].errors, 1);
        assert!(!sniff(
            "INFO    Wed, 12 Jun 2024 14:11:59 +0200; Job id: 6578529a",
            "2024-06-12-1211__a__b__1__6578529a"
        ));
        assert!(!sniff("240612 14:03:22 4711 XrootdXeq: x", "fts3token.log"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics_on_near_miss_lines(text in "(INFO|ERR)     ?[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{4} [0-9:]{8} [+-][0-9]{4}; (Starting token-exchange: |Obtained exchanged token: |Failed to refresh access token: )?(token_id=[0-9a-f]{0,16} )?\\PC{0,40}") {
            let context = Context::default();
            let _ = crate::stream::parse_text(&text, Some("fts-token"), context.clone()).unwrap();
            let _ = crate::stream::parse_text(&text, None, context).unwrap();
        }
    }
}

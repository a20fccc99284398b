//! Token-issuer lines: the INDIGO IAM audit log (`iam-audit`, Spring Boot 2 prefix + one JSON
//! object per line, key order as in the IAM code) and the Keycloak event log (`keycloak-event`,
//! quoted `key="value"` events). See `/work/shared/formats/issuer.md` §1.6 and §2.4; every
//! writer here copies the shape of one example line there. Times in the JSON are epoch ms.

use std::fmt::Write as _;

use super::core::{Ms, Tm};

/// An issued access token, with everything a log may print about it.
#[derive(Debug, Clone)]
pub struct Token {
    pub iss: &'static str,
    pub sub: String,
    pub jti: String,
    /// OAuth client that requested it (IAM `principal`, `client_id` claim).
    pub client_id: String,
    /// IAM `subject`: the user name, or the client id for client_credentials.
    pub username: String,
    pub scope: String,
    pub aud: Vec<String>,
    pub groups: Vec<String>,
    pub iat: Ms,
    pub exp: Ms,
    pub grant: &'static str,
    pub refresh_jti: Option<String>,
    /// `act.sub` for token exchange.
    pub actor: Option<String>,
}

/// Grant types as IAM logs them.
pub mod grant {
    pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
    pub const REFRESH: &str = "refresh_token";
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
}

/// `2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] AUDIT<35 spaces> : `
fn prefix(out: &mut String, time: Ms, thread: &str) {
    Tm::from_ms(time).iam(out);
    let tail = &thread[thread.len().saturating_sub(15)..];
    let _ = write!(out, "  INFO 7 --- [{tail:>15}] {:<40} : ", "AUDIT");
}

fn string_array(out: &mut String, items: impl IntoIterator<Item = impl AsRef<str>>) {
    out.push('[');
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\"", item.as_ref());
    }
    out.push(']');
}

/// `IamAuthenticationSuccessEvent` of a client at the token endpoint.
pub fn auth_success(out: &mut String, time: Ms, thread: &str, client: &str, address: &str) {
    prefix(out, time, thread);
    let _ = write!(
        out,
        "{{\"@type\":\"IamAuthenticationSuccessEvent\",\"timestamp\":{time},\"category\":\"AUTHENTICATION\",\"principal\":\"{client}\",\"message\":\"{client} authenticated succesfully\",\"sourceEvent\":{{\"principal\":\"{client}\",\"type\":\"AuthenticationSuccessEvent\",\"details\":{{\"remoteAddress\":\"{address}\",\"sessionId\":null}}}},\"source\":\"UsernamePasswordAuthenticationToken\"}}"
    );
}

/// `IamAuthenticationFailureEvent` (IAM logs neither the attempted name nor the address).
pub fn auth_failure(out: &mut String, time: Ms, thread: &str) {
    prefix(out, time, thread);
    let _ = write!(
        out,
        "{{\"@type\":\"IamAuthenticationFailureEvent\",\"timestamp\":{time},\"category\":\"AUTHENTICATION\",\"principal\":\"<unknown>\",\"message\":\"Bad credentials\",\"sourceEvent\":null,\"source\":\"UsernamePasswordAuthenticationToken\"}}"
    );
}

/// `RefreshTokenIssuedEvent`; its payload is only `exp` and `jti`.
#[allow(clippy::too_many_arguments)]
pub fn refresh_token_issued(
    out: &mut String,
    time: Ms,
    thread: &str,
    client: &str,
    username: &str,
    scopes: &str,
    grant_type: &str,
    jti: &str,
    exp: Ms,
) {
    prefix(out, time, thread);
    let _ = write!(
        out,
        "{{\"@type\":\"RefreshTokenIssuedEvent\",\"timestamp\":{time},\"category\":\"TOKEN\",\"principal\":\"{client}\",\"message\":\"Issue refresh token\",\"subject\":\"{username}\",\"scopes\":"
    );
    string_array(out, scopes.split(' '));
    let _ = write!(
        out,
        ",\"grantType\":\"{grant_type}\",\"payload\":{{\"exp\":{exp},\"jti\":\"{jti}\"}},\"source\":\"IamTokenService\"}}"
    );
}

/// `AccessTokenIssuedEvent` with the decoded payload (times in ms, `aud` an array).
pub fn access_token_issued(out: &mut String, time: Ms, thread: &str, token: &Token) {
    prefix(out, time, thread);
    let _ = write!(
        out,
        "{{\"@type\":\"AccessTokenIssuedEvent\",\"timestamp\":{time},\"category\":\"TOKEN\",\"principal\":\"{}\",\"message\":\"Issue access token\",\"scopes\":",
        token.client_id
    );
    string_array(out, token.scope.split(' '));
    let _ = write!(
        out,
        ",\"subject\":\"{}\",\"grantType\":\"{}\",\"header\":{{\"kid\":\"rsa1\",\"alg\":\"RS256\"}},\"payload\":{{\"iss\":\"{}\",\"iat\":{},\"exp\":{},\"sub\":\"{}\",\"jti\":\"{}\",\"client_id\":\"{}\"",
        token.username, token.grant, token.iss, token.iat, token.exp, token.sub, token.jti, token.client_id
    );
    if let Some(actor) = &token.actor {
        let _ = write!(out, ",\"act\":{{\"sub\":\"{actor}\"}}");
    }
    let _ = write!(
        out,
        ",\"nbf\":{},\"scope\":\"{}\",\"wlcg.ver\":\"1.0\"",
        token.iat, token.scope
    );
    if !token.groups.is_empty() {
        out.push_str(",\"wlcg.groups\":");
        string_array(out, &token.groups);
    }
    out.push_str(",\"aud\":");
    string_array(out, &token.aud);
    out.push('}');
    if let Some(refresh) = &token.refresh_jti {
        let _ = write!(out, ",\"refreshTokenJti\":\"{refresh}\"");
    }
    out.push_str(",\"source\":\"IamTokenService\"}");
}

/// `ActiveReplacedEvent`: an administrator suspends the account.
pub fn active_replaced(out: &mut String, time: Ms, thread: &str, username: &str, uuid: &str) {
    prefix(out, time, thread);
    let _ = write!(
        out,
        "{{\"@type\":\"ActiveReplacedEvent\",\"timestamp\":{time},\"category\":\"ACCOUNT\",\"principal\":\"admin\",\"message\":\"Replace user active status: false\",\"account\":{{\"uuid\":\"{uuid}\",\"name\":\"{username}\"}},\"updaterType\":\"ACCOUNT_REPLACE_ACTIVE\",\"active\":false,\"source\":\"ScimUserProvisioning\"}}"
    );
}

/// `AccountDisabledEvent`.
pub fn account_disabled(out: &mut String, time: Ms, username: &str, uuid: &str) {
    prefix(out, time, "scheduling-1");
    let _ = write!(
        out,
        "{{\"@type\":\"AccountDisabledEvent\",\"timestamp\":{time},\"category\":\"ACCOUNT\",\"principal\":\"<unknown>\",\"message\":\"Account '{username}' has been disabled\",\"account\":{{\"uuid\":\"{uuid}\",\"name\":\"{username}\"}},\"source\":\"DefaultIamAccountService\"}}"
    );
}

/// The JWT payload as the issuer encoded it (seconds; IAM escapes `/` as `\/`; a single
/// audience is a string), as HTCondor prints it in `Examining SciToken with payload`.
pub fn jwt_payload(out: &mut String, token: &Token) {
    let escaped = |text: &str| text.replace('/', "\\/");
    let _ = write!(
        out,
        "{{\"wlcg.ver\":\"1.0\",\"sub\":\"{}\",\"aud\":",
        token.sub
    );
    if token.aud.len() == 1 {
        let _ = write!(out, "\"{}\"", escaped(&token.aud[0]));
    } else {
        string_array(out, token.aud.iter().map(|aud| escaped(aud)));
    }
    let _ = write!(
        out,
        ",\"nbf\":{},\"scope\":\"{}\",\"iss\":\"{}\",\"exp\":{},\"iat\":{},\"jti\":\"{}\",\"client_id\":\"{}\"",
        token.iat / 1000,
        escaped(&token.scope),
        escaped(token.iss),
        token.exp / 1000,
        token.iat / 1000,
        token.jti,
        token.client_id
    );
    if !token.groups.is_empty() {
        out.push_str(",\"wlcg.groups\":");
        string_array(out, token.groups.iter().map(|group| escaped(group)));
    }
    out.push('}');
}

/// The claims of `token` as JSON, for building a JWT string with `encode_test_jwt`.
pub fn claims_json(token: &Token) -> serde_json::Value {
    serde_json::json!({
        "wlcg.ver": "1.0",
        "sub": token.sub,
        "aud": token.aud,
        "nbf": token.iat / 1000,
        "scope": token.scope,
        "iss": token.iss,
        "exp": token.exp / 1000,
        "iat": token.iat / 1000,
        "jti": token.jti,
        "client_id": token.client_id,
        "wlcg.groups": token.groups,
    })
}

/// Keycloak realm used by the second issuer.
pub const KEYCLOAK_REALM_ID: &str = "986f1920-4f71-4fba-844b-ef12f1091cb3";

fn keycloak_prefix(out: &mut String, time: Ms, level: &str, thread: u32) {
    Tm::from_ms(time).keycloak(out);
    let _ = write!(
        out,
        " {level:<5} [org.keycloak.events] (executor-thread-{thread}) "
    );
}

/// Keycloak `CODE_TO_TOKEN` (an authorization-code login of a user).
#[allow(clippy::too_many_arguments)]
pub fn keycloak_code_to_token(
    out: &mut String,
    time: Ms,
    thread: u32,
    client: &str,
    user_id: &str,
    session: &str,
    address: &str,
    token_id: &str,
    refresh_id: &str,
) {
    keycloak_prefix(out, time, "INFO", thread);
    let _ = write!(
        out,
        "type=\"CODE_TO_TOKEN\", realmId=\"{KEYCLOAK_REALM_ID}\", realmName=\"egi\", clientId=\"{client}\", userId=\"{user_id}\", sessionId=\"{session}\", ipAddress=\"{address}\", token_id=\"{token_id}\", grant_type=\"authorization_code\", refresh_token_type=\"Refresh\", scope=\"openid profile email eduperson_entitlement\", refresh_token_id=\"{refresh_id}\", code_id=\"{session}\", client_auth_method=\"client-secret\""
    );
}

/// Keycloak `REFRESH_TOKEN`.
#[allow(clippy::too_many_arguments)]
pub fn keycloak_refresh(
    out: &mut String,
    time: Ms,
    thread: u32,
    client: &str,
    user_id: &str,
    session: &str,
    address: &str,
    token_id: &str,
    refresh_id: &str,
    new_refresh_id: &str,
) {
    keycloak_prefix(out, time, "INFO", thread);
    let _ = write!(
        out,
        "type=\"REFRESH_TOKEN\", realmId=\"{KEYCLOAK_REALM_ID}\", realmName=\"egi\", clientId=\"{client}\", userId=\"{user_id}\", sessionId=\"{session}\", ipAddress=\"{address}\", token_id=\"{token_id}\", grant_type=\"refresh_token\", refresh_token_type=\"Refresh\", scope=\"openid profile email eduperson_entitlement\", refresh_token_id=\"{refresh_id}\", updated_refresh_token_id=\"{new_refresh_id}\", client_auth_method=\"client-secret\", refresh_token_sub=\"{user_id}\""
    );
}

/// Keycloak `LOGIN_ERROR` for an unknown user (noise: no user id).
pub fn keycloak_login_error(out: &mut String, time: Ms, thread: u32, address: &str, code: &str) {
    keycloak_prefix(out, time, "WARN", thread);
    let _ = write!(
        out,
        "type=\"LOGIN_ERROR\", realmId=\"{KEYCLOAK_REALM_ID}\", realmName=\"egi\", clientId=\"egi-notebooks\", userId=\"null\", ipAddress=\"{address}\", error=\"user_not_found\", auth_method=\"openid-connect\", auth_type=\"code\", redirect_uri=\"https://notebooks.example.org/hub/oauth_callback\", code_id=\"{code}\", username=\"guest\""
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_prefix_matches_reference_example() {
        let mut line = String::new();
        prefix(&mut line, 1_741_943_523_396, "http-nio-8080-exec-4");
        assert_eq!(
            line,
            "2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] AUDIT                                    : "
        );
        line.clear();
        prefix(&mut line, 1_741_950_000_012, "scheduling-1");
        assert!(line.contains("[   scheduling-1] AUDIT"));
    }
}

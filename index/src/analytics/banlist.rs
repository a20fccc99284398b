//! Ban lists: the watchlist exported for enforcement and sharing.
//!
//! - `json`: the feed other sites poll — `{"schema": "tokentrail-banlist", "version": 1,
//!   "generated": <RFC 3339>, "entries": [{"kind", "value", "iss", "reason", "added"}]}`.
//! - `csv`: `kind,value,iss,reason,added`.
//! - `misp`: a MISP event (`{"Event": {..., "Attribute": [...]}}`): addresses as `ip-src`,
//!   token ids, subjects and clients as `text` with a comment naming what they are.
//! - `gplazma`: a dCache gPlazma `banfile` plugin file (`/etc/dcache/ban.conf`): `alias` lines
//!   naming principal classes, `ban alias:value` lines. Subjects are banned as
//!   `org.dcache.auth.OidcSubjectPrincipal` (`sub@op-alias`: replace `OP` with the alias your
//!   `gplazma.oidc.provider!…` uses); other kinds cannot be banned there and are listed as
//!   comments. Confidence: medium — the file syntax is
//!   the documented one; the principal class and its name form should be checked against the
//!   site's dCache version (`dcache check-config`, a test login).
//! - `htcondor`: an HTCondor(-CE) mapfile snippet mapping banned token subjects to one
//!   unprivileged name (`SCITOKENS /^<iss>,<sub>$/ tokentrail-banned`, put first, e.g.
//!   `/etc/condor-ce/mapfiles.d/00-tokentrail-ban.conf`) plus `DENY_WRITE`/`DENY_READ` lines
//!   denying that name and the banned addresses. Confidence: medium-high (mapfile syntax as in
//!   ce.md §3; first matching line wins).
//! - `nftables`: an nftables set of the banned addresses, for any service (XRootD, StoRM
//!   WebDAV, FTS), which have no list-based token ban of their own: XRootD's token
//!   authorisation (`xrootd-scitokens`) and StoRM WebDAV decide from issuer and scopes only.

use std::fmt::Write as _;

use serde_json::json;
use tokentrail_parsers::Timestamp;

use super::watchlist::{EntryKind, WatchEntry, Watchlist};
use super::AnalyticsError;

type Result<T> = std::result::Result<T, AnalyticsError>;

/// Export formats.
pub const FORMATS: &[&str] = &["json", "csv", "misp", "gplazma", "htcondor", "nftables"];

/// Renders `watchlist` in `format` (see [`FORMATS`]).
pub fn export(watchlist: &Watchlist, format: &str, generated: Timestamp) -> Result<String> {
    Ok(match format {
        "json" => json_feed(watchlist, generated)?,
        "csv" => csv(watchlist),
        "misp" => misp(watchlist, generated)?,
        "gplazma" => gplazma(watchlist, generated),
        "htcondor" => htcondor(watchlist, generated),
        "nftables" => nftables(watchlist, generated),
        other => return Err(AnalyticsError::UnknownFormat(other.to_string())),
    })
}

fn json_feed(watchlist: &Watchlist, generated: Timestamp) -> Result<String> {
    let entries: Vec<_> = watchlist
        .entries
        .iter()
        .map(|entry| {
            json!({
                "kind": entry.kind,
                "value": entry.value,
                "iss": entry.iss,
                "reason": entry.reason,
                "added": entry.added,
            })
        })
        .collect();
    let feed = json!({
        "schema": "tokentrail-banlist",
        "version": 1,
        "generated": generated,
        "entries": entries,
    });
    Ok(serde_json::to_string_pretty(&feed)? + "\n")
}

fn csv(watchlist: &Watchlist) -> String {
    let mut out = String::from("kind,value,iss,reason,added\n");
    for entry in &watchlist.entries {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            entry.kind.as_str(),
            tokentrail_parsers::csv::csv_cell(&entry.value),
            tokentrail_parsers::csv::csv_cell(&entry.iss),
            tokentrail_parsers::csv::csv_cell(&entry.reason),
            entry.added
        );
    }
    out
}

/// A stable UUID-shaped id from text (MISP wants UUIDs; the same list gives the same ids).
fn uuid_of(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn misp(watchlist: &Watchlist, generated: Timestamp) -> Result<String> {
    let seconds = (generated.millis() / 1000).to_string();
    let attributes: Vec<_> = watchlist
        .entries
        .iter()
        .map(|entry| {
            let (kind, category, what) = match entry.kind {
                EntryKind::Address => ("ip-src", "Network activity", "address"),
                EntryKind::Jti => ("text", "Other", "token jti"),
                EntryKind::Identity => ("text", "Other", "token subject (sub)"),
                EntryKind::Client => ("text", "Other", "OAuth client_id"),
            };
            let issuer = if entry.iss.is_empty() {
                String::new()
            } else {
                format!(" of issuer {}", entry.iss)
            };
            json!({
                "uuid": uuid_of(&format!("{}:{}:{}", entry.kind.as_str(), entry.iss, entry.value)),
                "type": kind,
                "category": category,
                "value": entry.value,
                "comment": format!("{what}{issuer}: {}", entry.reason),
                "to_ids": entry.kind == EntryKind::Address,
                "timestamp": (entry.added.millis() / 1000).to_string(),
                "distribution": "5",
            })
        })
        .collect();
    let event = json!({
        "Event": {
            "uuid": uuid_of(&format!("tokentrail-banlist:{}", generated.millis())),
            "info": "tokentrail watchlist: compromised or banned token identities, token ids and addresses",
            "date": generated.to_datetime().format("%Y-%m-%d").to_string(),
            "timestamp": seconds,
            "threat_level_id": "2",
            "analysis": "1",
            "distribution": "1",
            "published": false,
            "Tag": [{"name": "tlp:amber"}],
            "Attribute": attributes,
        }
    });
    Ok(serde_json::to_string_pretty(&event)? + "\n")
}

/// A `\`-escaped regex literal for an HTCondor mapfile.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':' || c == '@' {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

/// A value safe on one config line (no line breaks, no comment starts).
fn config_value(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && *c != '#' && !c.is_whitespace())
        .collect()
}

fn comment(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn gplazma(watchlist: &Watchlist, generated: Timestamp) -> String {
    let mut out = format!(
        "# dCache gPlazma banfile generated by tokentrail at {generated}\n\
         # gplazma.conf: account requisite banfile   (gplazma.banfile.path=/etc/dcache/ban.conf)\n\
         # Replace OP with the OP alias of gplazma.oidc.provider!OP for each issuer.\n\
         alias oidc=org.dcache.auth.OidcSubjectPrincipal\n"
    );
    for entry in &watchlist.entries {
        let _ = writeln!(
            out,
            "# {} {}: {}",
            entry.kind.as_str(),
            comment(&entry.value),
            comment(&entry.reason)
        );
        match entry.kind {
            EntryKind::Identity => {
                let _ = writeln!(out, "ban oidc:{}@OP", config_value(&entry.value));
            }
            _ => {
                let _ = writeln!(
                    out,
                    "#   (not bannable in gPlazma; see the htcondor/nftables exports)"
                );
            }
        }
    }
    out
}

fn htcondor(watchlist: &Watchlist, generated: Timestamp) -> String {
    let mut out = format!(
        "# HTCondor(-CE) ban snippet generated by tokentrail at {generated}\n\
         # 1. mapfile, read before the VO rules (e.g. /etc/condor-ce/mapfiles.d/00-tokentrail-ban.conf):\n"
    );
    let identities: Vec<&WatchEntry> = watchlist
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Identity)
        .collect();
    for entry in &identities {
        let issuer = if entry.iss.is_empty() {
            "[^,]*".to_string()
        } else {
            format!("{}\\/?", regex_literal(entry.iss.trim_end_matches('/')))
        };
        let _ = writeln!(out, "# {}", comment(&entry.reason));
        let _ = writeln!(
            out,
            "SCITOKENS /^{issuer},{}$/ tokentrail-banned",
            regex_literal(&config_value(&entry.value))
        );
    }
    out.push_str("# 2. configuration (e.g. /etc/condor-ce/config.d/99-tokentrail-ban.conf):\n");
    let addresses: Vec<String> = watchlist
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Address)
        .map(|e| format!("*/{}", config_value(&e.value)))
        .collect();
    let mut denied = Vec::new();
    if !identities.is_empty() {
        denied.push("tokentrail-banned@*/*".to_string());
    }
    denied.extend(addresses);
    if !denied.is_empty() {
        let list = denied.join(", ");
        let _ = writeln!(out, "DENY_WRITE = $(DENY_WRITE), {list}");
        let _ = writeln!(out, "DENY_READ = $(DENY_READ), {list}");
    }
    for entry in watchlist
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Jti | EntryKind::Client))
    {
        let _ = writeln!(
            out,
            "# {} {} cannot be denied by HTCondor: disable it at the issuer ({})",
            entry.kind.as_str(),
            comment(&entry.value),
            comment(&entry.reason)
        );
    }
    out
}

fn nftables(watchlist: &Watchlist, generated: Timestamp) -> String {
    let (v4, v6): (Vec<String>, Vec<String>) = watchlist
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Address)
        .filter_map(|e| e.value.parse::<std::net::IpAddr>().ok())
        .partition_map_ip();
    let mut out = format!(
        "# nftables sets generated by tokentrail at {generated}\n\
         # nft -f this-file; then: nft add rule inet filter input ip saddr @tokentrail_banned4 drop\n\
         #                          nft add rule inet filter input ip6 saddr @tokentrail_banned6 drop\n"
    );
    let _ = writeln!(
        out,
        "add set inet filter tokentrail_banned4 {{ type ipv4_addr; }}\nflush set inet filter tokentrail_banned4"
    );
    if !v4.is_empty() {
        let _ = writeln!(
            out,
            "add element inet filter tokentrail_banned4 {{ {} }}",
            v4.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "add set inet filter tokentrail_banned6 {{ type ipv6_addr; }}\nflush set inet filter tokentrail_banned6"
    );
    if !v6.is_empty() {
        let _ = writeln!(
            out,
            "add element inet filter tokentrail_banned6 {{ {} }}",
            v6.join(", ")
        );
    }
    out
}

trait PartitionIp {
    fn partition_map_ip(self) -> (Vec<String>, Vec<String>);
}

impl<I: Iterator<Item = std::net::IpAddr>> PartitionIp for I {
    fn partition_map_ip(self) -> (Vec<String>, Vec<String>) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for ip in self {
            if ip.is_ipv4() {
                v4.push(ip.to_string());
            } else {
                v6.push(ip.to_string());
            }
        }
        (v4, v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Watchlist {
        let mut list = Watchlist::default();
        for (kind, value, iss) in [
            (EntryKind::Address, "203.0.113.66", ""),
            (EntryKind::Address, "2001:db8::66", ""),
            (
                EntryKind::Identity,
                "f50c3ff1",
                "https://cms-auth.example.org/",
            ),
            (EntryKind::Jti, "a2ae", ""),
            (EntryKind::Client, "=cmd", ""),
        ] {
            list.add(WatchEntry {
                kind,
                value: value.into(),
                iss: iss.into(),
                reason: "stolen, \"ticket\" 42".into(),
                added: Timestamp(1_741_600_000_000),
                added_by: String::new(),
            });
        }
        list
    }

    #[test]
    fn exports_every_format() {
        let list = list();
        let at = Timestamp(1_741_600_000_000);
        let feed: serde_json::Value =
            serde_json::from_str(&export(&list, "json", at).unwrap()).unwrap();
        assert_eq!(feed["version"], 1);
        assert_eq!(feed["entries"].as_array().unwrap().len(), 5);
        let csv = export(&list, "csv", at).unwrap();
        assert!(csv.contains("client,'=cmd,,\"stolen, \"\"ticket\"\" 42\""));
        let misp: serde_json::Value =
            serde_json::from_str(&export(&list, "misp", at).unwrap()).unwrap();
        let attributes = misp["Event"]["Attribute"].as_array().unwrap();
        assert_eq!(attributes[0]["type"], "ip-src");
        assert_eq!(attributes[3]["type"], "text");
        assert!(attributes[2]["comment"]
            .as_str()
            .unwrap()
            .contains("subject"));
        let gplazma = export(&list, "gplazma", at).unwrap();
        assert!(gplazma.contains("ban oidc:f50c3ff1@OP"));
        let condor = export(&list, "htcondor", at).unwrap();
        assert!(condor.contains(
            "SCITOKENS /^https:\\/\\/cms-auth\\.example\\.org\\/?,f50c3ff1$/ tokentrail-banned"
        ));
        assert!(condor.contains("*/203.0.113.66"));
        let nft = export(&list, "nftables", at).unwrap();
        assert!(nft.contains("{ 203.0.113.66 }") && nft.contains("{ 2001:db8::66 }"));
        assert!(export(&list, "xml", at).is_err());
    }
}

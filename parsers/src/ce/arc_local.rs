//! `arc-local`: the ARC CE per-job control file `local` (ARC 6 `<controldir>/job.<id>.local`,
//! ARC 7 `<controldir>/jobs/7af/e2f/f94/787/local`).
//!
//! Grammar: `key=value` lines, the value being the rest of the line (`subject=<iss>/<sub>`,
//! `localid=7734121`, `clientname=192.0.2.81:50432`, `starttime=20250304101508Z` in MDSTime
//! UTC, ARC 7 `tokenclaim.<claim>=<value>`, repeated for array claims).
//!
//! The whole file is one record: lines are `Pending` and one `job.submit` is emitted at the end
//! of the stream (origin = first line, raw = all lines), at `starttime`, with `job_id` =
//! `<stream host>#<arc id>` (the id from the file name or path, else `globalid`),
//! `batch_job_id` = `<lrms>:<localid>`, `client_ip` from `clientname`, and the token identity
//! from the `tokenclaim.*` lines (`iss`, `sub`, `jti`, `client_id`, `scope`, `aud`,
//! `wlcg.groups`, `preferred_username` → `username`), else `iss`/`sub` from `subject`.

use serde_json::{Map, Value};

use crate::ce::arc;
use crate::event::{action, outcome, Event, Origin, Service};
use crate::jwt::Claims;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `arc-local` format.
pub static FORMAT: Format = Format {
    id: "arc-local",
    service: Service::Ce,
    summary: "ARC CE per-job control file job.<id>.local",
    programs: &[],
    sniff,
    new_parser: |context: &Context| {
        Box::new(Parser {
            host: context.host.clone(),
            file_id: arc::id_from_file(&context.file_name, &context.path, "local"),
            origin: None,
            lines: Vec::new(),
            pairs: Vec::new(),
        })
    },
};

/// Keys A-REX writes into `local` (ControlFileContent.cpp), lower case.
const KEYS: &[&str] = &[
    "jobreport",
    "globalid",
    "headnode",
    "headhost",
    "globalurl",
    "interface",
    "lrms",
    "queue",
    "localid",
    "args",
    "argscode",
    "pre",
    "post",
    "subject",
    "starttime",
    "lifetime",
    "notify",
    "processtime",
    "exectime",
    "rerun",
    "jobname",
    "projectname",
    "gmlog",
    "cleanuptime",
    "delegexpiretime",
    "clientname",
    "clientsoftware",
    "delegationid",
    "sessiondir",
    "diskspace",
    "failedstate",
    "failedcause",
    "credentialserver",
    "freestagein",
    "localvo",
    "voms",
    "activityid",
    "transfershare",
    "priority",
    "dryrun",
    "migrateactivityid",
    "forcemigration",
];

fn is_local_file(file_name: &str) -> bool {
    file_name == "local" || file_name.ends_with(".local")
}

fn sniff(text: &str, file_name: &str) -> bool {
    if !is_local_file(file_name) {
        return false;
    }
    match text.split_once('=') {
        Some((key, _)) => key.starts_with("tokenclaim.") || KEYS.contains(&key),
        None => false,
    }
}

struct Parser {
    host: String,
    file_id: Option<String>,
    origin: Option<Origin>,
    lines: Vec<String>,
    pairs: Vec<(String, String)>,
}

impl LineParser for Parser {
    fn feed(&mut self, line: &Line<'_>, _out: &mut Vec<Event>) -> Feed {
        let Some((key, value)) = line.text.split_once('=') else {
            return Feed::NotMine;
        };
        let plausible_key = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
        if !plausible_key {
            return Feed::NotMine;
        }
        if self.origin.is_none() {
            self.origin = Some(line.origin());
        }
        self.lines.push(line.raw.to_string());
        self.pairs.push((key.to_string(), value.to_string()));
        Feed::Pending
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        let Some(origin) = self.origin.take() else {
            return;
        };
        let mut event = Event::new(FORMAT.id, Service::Ce);
        event.origin = origin;
        event.raw = self.lines.join("\n");
        let value = |name: &str| {
            self.pairs
                .iter()
                .find(|(key, value)| key == name && !value.is_empty())
                .map(|(_, value)| value.as_str())
        };
        let arc_id = self.file_id.clone().or_else(|| {
            value("globalid")
                .and_then(|global| global.rsplit('/').next())
                .filter(|id| arc::is_arc_id(id))
                .map(str::to_string)
        });
        let Some(arc_id) = arc_id else {
            // Not enough to name a job: keep the lines as one event.
            event.action = action::OTHER.into();
            out.push(event);
            return;
        };
        event.action = action::JOB_SUBMIT.into();
        event.outcome = outcome::OK.into();
        event.job_id = arc::job_id(&self.host, &arc_id);
        event.time = value("starttime").and_then(arc::mds_time);
        if let (Some(lrms), Some(local_id)) = (value("lrms"), value("localid")) {
            event.batch_job_id = format!("{lrms}:{local_id}");
        }
        if let Some(client) = value("clientname") {
            event.client_ip = arc::address_without_port(client);
        }
        token_claims(&self.pairs).fill(&mut event);
        if event.sub.is_empty() {
            if let Some(subject) = value("subject") {
                arc::fill_owner(subject, &mut event);
            }
        }
        out.push(event);
    }
}

/// The `tokenclaim.*` lines as claims: a claim written once is a string, a repeated one an
/// array (ARC writes one line per array element).
fn token_claims(pairs: &[(String, String)]) -> Claims {
    let mut claims = Map::new();
    for (key, value) in pairs {
        let Some(name) = key.strip_prefix("tokenclaim.") else {
            continue;
        };
        let value = Value::String(value.clone());
        match claims.get_mut(name) {
            None => {
                claims.insert(name.to_string(), value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    Claims::from_json(&Value::Object(claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::parse_text;
    use crate::time::{TimeContext, Zone};

    fn context(path: &str) -> Context {
        Context {
            time: TimeContext {
                zone: Zone::Utc,
                year_override: None,
                reference_date: None,
            },
            host: "arc01.example.org".into(),
            path: path.into(),
            file_name: path.rsplit('/').next().unwrap_or(path).into(),
            ..Context::default()
        }
    }

    fn parse(text: &str, path: &str) -> Vec<Event> {
        parse_text(text, None, context(path)).unwrap().0
    }

    const EXAMPLE: &str = include_str!("../../../tests/fixtures/arc-local/job.7afe2ff94787.local");

    #[test]
    fn local_example_gives_one_submit_with_token_identity_and_lrms_id() {
        let (events, stats) = parse_text(
            EXAMPLE,
            None,
            context("/var/spool/arc/jobstatus/job.7afe2ff94787.local"),
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(stats.formats["arc-local"].parsed, 22);
        let event = &events[0];
        assert_eq!(event.source, "arc-local");
        assert_eq!(event.action, "job.submit");
        assert_eq!(event.job_id, "arc01.example.org#7afe2ff94787");
        assert_eq!(event.batch_job_id, "slurm:7734121");
        assert_eq!(event.iss, "https://cms-auth.cern.ch");
        assert_eq!(event.sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
        assert_eq!(event.jti, "034a2f47-eaad-4f5d-bb98-abf569609366");
        assert_eq!(event.client_id, "cf36cdcd-b905-422b-a906-065d1ae8fbd6");
        assert_eq!(
            event.scopes,
            [
                "compute.create",
                "compute.read",
                "compute.modify",
                "compute.cancel"
            ]
        );
        assert_eq!(event.aud, ["https://arc01.example.org"]);
        assert_eq!(event.groups, ["/cms", "/cms/pilot"]);
        assert_eq!(event.client_ip, "192.0.2.81");
        assert_eq!(event.time.unwrap().to_rfc3339(), "2025-03-04T10:15:08.000Z");
        assert_eq!(event.origin.line, 1);
        assert_eq!(event.origin.offset, 0);
        assert_eq!(
            event.origin.file,
            "/var/spool/arc/jobstatus/job.7afe2ff94787.local"
        );
        assert_eq!(event.raw, EXAMPLE.trim_end());
        assert_eq!(event.host, "arc01.example.org");
    }

    #[test]
    fn arc7_path_names_the_job_and_subject_gives_identity_without_claims() {
        let text = "globalid=0123456789ab\nlrms=condor\nlocalid=56.0\nsubject=https://wlcg.cloud.cnaf.infn.it//8f67ea7b-71e7-4394-bbcf-8963ab1a175e\nclientname=[2001:db8::7]:40112\n";
        let events = parse(text, "/var/spool/arc/control/jobs/012/345/678/9ab/local");
        assert_eq!(events[0].job_id, "arc01.example.org#0123456789ab");
        assert_eq!(events[0].batch_job_id, "condor:56.0");
        assert_eq!(events[0].iss, "https://wlcg.cloud.cnaf.infn.it");
        assert_eq!(events[0].sub, "8f67ea7b-71e7-4394-bbcf-8963ab1a175e");
        assert_eq!(events[0].client_ip, "2001:db8::7");
        assert_eq!(events[0].jti, "");
        assert_eq!(events[0].time, None);
    }

    #[test]
    fn job_id_falls_back_to_globalid_and_lines_survive_without_one() {
        let events = parse("globalid=abcdef012345\nlrms=slurm\n", "local");
        assert_eq!(events[0].job_id, "arc01.example.org#abcdef012345");
        let events = parse("lrms=slurm\nqueue=grid\n", "local");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "other");
        assert_eq!(events[0].raw, "lrms=slurm\nqueue=grid");
    }

    #[test]
    fn sniff_needs_the_file_name_and_a_known_key() {
        assert!(sniff("globalid=7afe2ff94787", "job.7afe2ff94787.local"));
        assert!(sniff("tokenclaim.sub=x", "local"));
        assert!(!sniff("globalid=7afe2ff94787", "arex.log"));
        assert!(!sniff("nodename=wn042", "job.x.local"));
        assert!(!sniff("user=root", "job.x.local"));
    }

    #[test]
    fn foreign_lines_are_not_mine_and_garbage_never_panics() {
        let mut parser = (FORMAT.new_parser)(&context("job.abc.local"));
        let mut out = Vec::new();
        let line = Line::plain("this is not a key value line", 1, 0);
        assert_eq!(parser.feed(&line, &mut out), Feed::NotMine);
        let line = Line::plain("a b=c", 2, 0);
        assert_eq!(parser.feed(&line, &mut out), Feed::NotMine);
        parser.finish(&mut out);
        assert!(out.is_empty());
        let _ = parse("starttime=2025é\nclientname=:\nlocalid=\n", "job.abc.local");
    }
}

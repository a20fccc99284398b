//! Shared helpers for the ARC CE formats (`arc-jobs`, `arc-local`, `arc-diag`, `arc-arex`):
//! the `<iss>/<sub>` token owner, job ids (`<ce host>#<arc id>`, `<lrms>:<local id>`), MDSTime
//! (`20250304101508Z`, UTC), `Arc::Time` (`2025-03-04 10:15:08`, local), and the ARC job id in
//! a control file's name (`job.<id>.local`, `<id>.diag`, ARC 7 `jobs/7af/e2f/f94/787/local`).

use chrono::{NaiveDateTime, NaiveTime};

use crate::event::{Event, Timestamp};
use crate::time::TimeContext;

/// Splits an ARC token owner `<iss>/<sub>` (ARC concatenates with `/`, so an issuer with a
/// trailing slash gives `//`) at the last `/`; `None` for an X.509 DN or anything that is not
/// an issuer URL followed by a subject.
pub fn split_owner(owner: &str) -> Option<(&str, &str)> {
    if !owner.starts_with("https://") && !owner.starts_with("http://") {
        return None;
    }
    let (iss, sub) = owner.rsplit_once('/')?;
    if sub.is_empty() || !iss.contains("://") || iss.ends_with(":/") {
        return None;
    }
    Some((iss, sub))
}

/// Fills `iss`/`sub` from an `<iss>/<sub>` owner.
pub fn fill_owner(owner: &str, event: &mut Event) {
    if let Some((iss, sub)) = split_owner(owner) {
        event.iss = iss.to_string();
        event.sub = sub.to_string();
    }
}

/// `<ce host>#<arc id>`; the bare ARC id when the stream's host is unknown (ARC ids are 12
/// random hex digits, unique enough to join on).
pub fn job_id(host: &str, arc_id: &str) -> String {
    if host.is_empty() {
        arc_id.to_string()
    } else {
        format!("{host}#{arc_id}")
    }
}

/// Whether `text` looks like an ARC job id (letters and digits only).
pub fn is_arc_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The ARC job id in a control file's name or path: `job.<id>.<suffix>` (ARC 6),
/// `<id>.<suffix>`, or ARC 7's `…/jobs/<id[0:3]>/<id[3:6]>/<id[6:9]>/<id[9:]>/<suffix>`.
pub fn id_from_file(file_name: &str, path: &str, suffix: &str) -> Option<String> {
    if file_name == suffix {
        let parts: Vec<&str> = path.split(['/', '\\']).collect();
        let directories = parts
            .len()
            .checked_sub(5)
            .map(|start| &parts[start..parts.len() - 1])?;
        if directories[..3].iter().all(|part| part.len() == 3) {
            let id = directories.concat();
            return is_arc_id(&id).then_some(id);
        }
        return None;
    }
    let stem = file_name.strip_suffix(suffix)?.strip_suffix('.')?;
    let id = stem.strip_prefix("job.").unwrap_or(stem);
    is_arc_id(id).then(|| id.to_string())
}

/// MDSTime `YYYYMMDDHHMMSSZ` (UTC).
pub fn mds_time(text: &str) -> Option<Timestamp> {
    let digits = text.trim().strip_suffix('Z')?;
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M%S").ok()?;
    Some(Timestamp(naive.and_utc().timestamp_millis()))
}

/// `YYYY-MM-DD HH:MM:SS` at the start of `text`, in the log's zone: (time, rest of the line).
pub fn arc_time<'a>(text: &'a str, context: &TimeContext) -> Option<(Timestamp, &'a str)> {
    let stamp = text.get(..19)?;
    let date = crate::time::date_at(stamp)?;
    if stamp.as_bytes().get(10) != Some(&b' ') {
        return None;
    }
    let time = NaiveTime::parse_from_str(stamp.get(11..)?, "%H:%M:%S").ok()?;
    Some((context.local(NaiveDateTime::new(date, time)), &text[19..]))
}

/// `<ip>:<port>`, `[<ipv6>]:<port>` or a bare address → the address.
pub fn address_without_port(text: &str) -> String {
    let text = text.trim();
    if let Some(bracketed) = text.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default().to_string();
    }
    if text.parse::<std::net::IpAddr>().is_ok() {
        return text.to_string();
    }
    match text.rsplit_once(':') {
        Some((address, port)) if port.bytes().all(|b| b.is_ascii_digit()) => address.to_string(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_splits_at_the_last_slash() {
        assert_eq!(
            split_owner("https://cms-auth.cern.ch//95851aad"),
            Some(("https://cms-auth.cern.ch/", "95851aad"))
        );
        assert_eq!(
            split_owner("https://iam.example.org/realm/sub1"),
            Some(("https://iam.example.org/realm", "sub1"))
        );
        assert_eq!(split_owner("/DC=ch/DC=cern/CN=someone"), None);
        assert_eq!(split_owner("https://issuer.example.org/"), None);
        assert_eq!(split_owner("https://x"), None);
    }

    #[test]
    fn job_ids_come_from_arc6_and_arc7_control_file_names() {
        assert_eq!(
            id_from_file("job.7afe2ff94787.local", "", "local").as_deref(),
            Some("7afe2ff94787")
        );
        assert_eq!(
            id_from_file("7afe2ff94787.diag", "", "diag").as_deref(),
            Some("7afe2ff94787")
        );
        assert_eq!(
            id_from_file("local", "control/jobs/7af/e2f/f94/787/local", "local").as_deref(),
            Some("7afe2ff94787")
        );
        assert_eq!(id_from_file("local", "local", "local"), None);
        assert_eq!(id_from_file("x.local", "", "diag"), None);
    }

    #[test]
    fn addresses_lose_their_port() {
        assert_eq!(address_without_port("192.0.2.81:50432"), "192.0.2.81");
        assert_eq!(address_without_port("[2001:db8::1]:50432"), "2001:db8::1");
        assert_eq!(address_without_port("2001:db8::1"), "2001:db8::1");
        assert_eq!(address_without_port("192.0.2.81"), "192.0.2.81");
    }

    #[test]
    fn mds_time_is_utc() {
        assert_eq!(
            mds_time("20250304101508Z").unwrap().to_rfc3339(),
            "2025-03-04T10:15:08.000Z"
        );
        assert_eq!(mds_time("2025030410150Z"), None);
        assert_eq!(mds_time("20251304101508Z"), None);
    }

    /// The files of one ARC job, detected by content and name, agree on the job and identity.
    #[test]
    fn local_diag_and_jobs_log_of_one_job_agree() {
        use crate::parser::Context;
        use crate::stream::parse_text;
        use crate::time::Zone;

        let read = |path: &str, text: &str| {
            let context = Context {
                time: TimeContext {
                    zone: Zone::Utc,
                    year_override: None,
                    reference_date: None,
                },
                host: "arc01.example.org".into(),
                path: path.into(),
                file_name: path.rsplit('/').next().unwrap_or(path).into(),
                ..Context::default()
            };
            parse_text(text, None, context).unwrap().0
        };
        let local = read(
            "control/job.7afe2ff94787.local",
            include_str!("../../../tests/fixtures/arc-local/job.7afe2ff94787.local"),
        );
        let diag = read(
            "control/job.7afe2ff94787.diag",
            include_str!("../../../tests/fixtures/arc-diag/job.7afe2ff94787.diag"),
        );
        let jobs = read(
            "log/arex-jobs.log",
            include_str!("../../../tests/fixtures/arc-jobs/arex-jobs.log"),
        );
        let arex = read(
            "log/arex.log",
            include_str!("../../../tests/fixtures/arc-arex/arex.log"),
        );
        assert!(local.iter().all(|e| e.source == "arc-local"));
        assert!(diag.iter().all(|e| e.source == "arc-diag"));
        assert!(jobs.iter().all(|e| e.source == "arc-jobs"));
        assert!(arex.iter().all(|e| e.source == "arc-arex"));

        let job = "arc01.example.org#7afe2ff94787";
        let all: Vec<&Event> = local
            .iter()
            .chain(&diag)
            .chain(&jobs)
            .chain(&arex)
            .filter(|e| e.job_id == job)
            .collect();
        assert_eq!(all.len(), 1 + 2 + 2 + 4);
        for event in all.iter().filter(|e| !e.sub.is_empty()) {
            assert_eq!(event.iss, "https://cms-auth.cern.ch");
            assert_eq!(event.sub, "95851aad-083d-49e5-8c3a-61d0438d201e");
        }
        assert_eq!(all.iter().filter(|e| !e.sub.is_empty()).count(), 3);
        let batch: std::collections::BTreeSet<_> = all
            .iter()
            .map(|e| e.batch_job_id.as_str())
            .filter(|id| !id.is_empty())
            .collect();
        assert_eq!(batch.into_iter().collect::<Vec<_>>(), ["slurm:7734121"]);
        assert_eq!(local[0].jti, "034a2f47-eaad-4f5d-bb98-abf569609366");
        // Run window on the worker node, inside the CE's submit/finish.
        assert_eq!(diag[0].worker_node, "wn042.example.org");
        assert!(local[0].time < diag[0].time && diag[1].time < jobs[1].time);
    }
}

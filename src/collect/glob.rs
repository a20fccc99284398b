//! Glob expansion for the tailer: `*`, `?` and `[…]` (with `!` negation and ranges) within
//! one path component, e.g. `/var/log/xrootd/*/xrootd.log`. Hidden entries only match a
//! pattern component that starts with `.`. No `**`: a site's log layout is shallow.

use std::path::{Component, Path, PathBuf};

/// The existing regular files (or symbolic links to them) matching `pattern`, sorted.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for component in path.components() {
        let text = match component {
            Component::Normal(part) => part.to_string_lossy().into_owned(),
            other => {
                for base in &mut current {
                    base.push(other.as_os_str());
                }
                continue;
            }
        };
        let mut next = Vec::new();
        if !has_wildcard(&text) {
            for base in current {
                next.push(base.join(&text));
            }
        } else {
            for base in current {
                let directory = if base.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    base.clone()
                };
                let Ok(entries) = std::fs::read_dir(&directory) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with('.') && !text.starts_with('.') {
                        continue;
                    }
                    if matches(text.as_bytes(), name.as_bytes()) {
                        next.push(base.join(name.as_ref()));
                    }
                }
            }
        }
        current = next;
    }
    let mut files: Vec<PathBuf> = current
        .into_iter()
        .filter(|candidate| std::fs::metadata(candidate).is_ok_and(|m| m.is_file()))
        .collect();
    files.sort();
    files.dedup();
    files
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Whether `name` matches the one-component `pattern`.
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last `*`.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, length)) = class(&pattern[p..], name[n]) {
                        if matched {
                            p += length;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                literal if literal == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((star_p, star_n)) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// A `[…]` class at the start of `pattern`: (does `byte` match, length of the class).
fn class(pattern: &[u8], byte: u8) -> Option<(bool, usize)> {
    let mut index = 1;
    let negated = matches!(pattern.get(index), Some(b'!') | Some(b'^'));
    if negated {
        index += 1;
    }
    let mut matched = false;
    let mut first = true;
    while index < pattern.len() {
        let c = pattern[index];
        if c == b']' && !first {
            return Some((matched != negated, index + 1));
        }
        first = false;
        if index + 2 < pattern.len() && pattern[index + 1] == b'-' && pattern[index + 2] != b']' {
            if (c..=pattern[index + 2]).contains(&byte) {
                matched = true;
            }
            index += 3;
        } else {
            if c == byte {
                matched = true;
            }
            index += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_stars_questions_and_classes() {
        assert!(matches(b"AuditLog*", b"AuditLog"));
        assert!(matches(b"AuditLog*", b"AuditLog.20261122T000000"));
        assert!(!matches(b"AuditLog*", b"SchedLog"));
        assert!(matches(b"*.access", b"door.access"));
        assert!(!matches(b"*.access", b"door.access.1"));
        assert!(matches(b"x?.log", b"x1.log"));
        assert!(matches(b"x[0-9].log", b"x7.log"));
        assert!(!matches(b"x[!0-9].log", b"x7.log"));
        assert!(matches(b"*a*b", b"xxaxxbxab"));
    }

    #[test]
    fn expands_directory_wildcards() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b", ".hidden"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("xrootd.log"), "x").unwrap();
        }
        let pattern = format!("{}/*/xrootd.log", dir.path().display());
        let found = expand(&pattern);
        assert_eq!(found.len(), 2);
        assert!(found[0].ends_with("a/xrootd.log"));
    }
}

//! Plain-text helpers of the fleet commands: aligned columns, short durations, timestamps.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Rows as columns padded to their widest cell, two spaces apart, without trailing blanks.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A duration as kubectl shows ages: `45s`, `3m12s`, `2h5m`, `3d4h`. Negative durations
/// (clock skew) count as zero.
pub fn short(d: SignedDuration) -> String {
    let s = d.as_secs().max(0);
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if s >= 3600 {
        format!("{}h{minutes}m", s / 3600)
    } else if s >= 60 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// A timestamp to the second, UTC, RFC 3339.
pub fn at(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `at(t)` followed by how long ago it was: `2026-12-06T09:00:00Z (3m12s ago)`.
pub fn at_ago(t: Timestamp, now: Timestamp) -> String {
    format!("{} ({} ago)", at(t), short(now.duration_since(t)))
}

/// One line of free text: newlines folded, at most `max` characters (ellipsis when cut).
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_trailing_blanks() {
        let out = table(
            &["NAME", "STATE"],
            &[
                vec!["node-0".into(), "available".into()],
                vec!["n".into(), "".into()],
            ],
        );
        assert_eq!(out, "NAME    STATE\nnode-0  available\nn\n");
    }

    #[test]
    fn durations_read_like_kubectl_ages() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (192, "3m12s"),
            (7500, "2h5m"),
            (273_600, "3d4h"),
            (-5, "0s"),
        ];
        for (secs, want) in cases {
            assert_eq!(short(SignedDuration::from_secs(secs)), want, "{secs}");
        }
    }

    #[test]
    fn timestamps_are_utc_to_the_second() {
        let t: Timestamp = "2026-12-06T09:00:00.123Z".parse().expect("time");
        let now: Timestamp = "2026-12-06T09:03:12Z".parse().expect("time");
        assert_eq!(at_ago(t, now), "2026-12-06T09:00:00Z (3m11s ago)");
    }

    #[test]
    fn free_text_is_folded_and_cut() {
        assert_eq!(one_line("a\n  b", 10), "a b");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
    }
}

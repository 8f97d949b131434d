//! Progress of a long install script (the Go build of kube-apiserver, etcd and kubectl takes
//! minutes): which step it is on and for how long, so a quiet build does not look hung.
//!
//! The install scripts log their steps as `<script>: <what> (<remark>)` on stderr, e.g.
//! `control-plane: building kube-apiserver v1.34.4 (several minutes on 2 cores)`. A line of
//! that form, with the script's own name, starts a step; while a step runs, a line such as
//! `control-plane: building kube-apiserver v1.34.4 … 2m10s` is shown every [`TICK`]. Pure
//! logic: the caller reads the lines and keeps the time.

use std::time::Duration;

/// How often a running step's progress is shown.
pub const TICK: Duration = Duration::from_secs(10);

/// A step of an install script, from one of its log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The script's name, as it prefixes its lines (`control-plane`).
    pub script: String,
    /// What it does, without the remark in parentheses (`building kube-apiserver v1.34.4`).
    pub what: String,
}

impl Step {
    /// The step a log line of the script logging as `script` starts: `<script>: <what>`;
    /// `None` for anything else (compiler output, versions, other tools' `go: …` lines).
    pub fn parse(line: &str, script: &str) -> Option<Self> {
        let rest = line.strip_prefix(script)?.strip_prefix(": ")?;
        let what = match rest.find('(') {
            Some(at) => &rest[..at],
            None => rest,
        };
        let what = what.trim();
        if what.is_empty() {
            return None;
        }
        Some(Self {
            script: script.into(),
            what: what.into(),
        })
    }

    /// The progress line after `elapsed` in this step.
    pub fn progress(&self, elapsed: Duration) -> String {
        format!("{}: {} … {}", self.script, self.what, duration(elapsed))
    }
}

/// A duration as people read it on a progress line: `45s`, `2m10s`, `1h05m00s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_names_the_step_without_its_remark() {
        let step = Step::parse(
            "control-plane: building kube-apiserver v1.34.4 (several minutes on 2 cores)",
            "control-plane",
        )
        .expect("a step");
        assert_eq!(step.script, "control-plane");
        assert_eq!(step.what, "building kube-apiserver v1.34.4");
        assert_eq!(
            Step::parse("control-plane: building etcd v3.6.4", "control-plane").map(|s| s.what),
            Some("building etcd v3.6.4".into())
        );
    }

    #[test]
    fn other_output_starts_no_step() {
        for line in [
            "Kubernetes v1.34.4",
            "go: downloading k8s.io/api v0.34.4",
            "main.go:12: undefined: x",
            "etcd Version: 3.6.4",
            "ironic: creating the virtualenv",
            "control-plane: ",
            "control-plane: (nothing)",
            "control-planes: building",
        ] {
            assert_eq!(Step::parse(line, "control-plane"), None, "{line}");
        }
    }

    #[test]
    fn progress_shows_the_step_and_its_elapsed_time() {
        let step = Step {
            script: "control-plane".into(),
            what: "building kube-apiserver v1.34.4".into(),
        };
        assert_eq!(
            step.progress(Duration::from_secs(130)),
            "control-plane: building kube-apiserver v1.34.4 … 2m10s"
        );
    }

    #[test]
    fn durations_read_as_seconds_minutes_and_hours() {
        let cases = [
            (0, "0s"),
            (9, "9s"),
            (59, "59s"),
            (60, "1m00s"),
            (130, "2m10s"),
            (3599, "59m59s"),
            (3600, "1h00m00s"),
            (3900, "1h05m00s"),
        ];
        for (secs, shown) in cases {
            assert_eq!(duration(Duration::from_secs(secs)), shown, "{secs}");
        }
        assert_eq!(duration(Duration::from_millis(10_900)), "10s");
    }
}

//! What the agent says on its console. As PID 1 the console is the host's serial console
//! (the kernel's `console=ttyS0`), which the BMC and whoever watches the host see: every line
//! says it is the agent's, and nothing secret (token, user data) is ever passed here.

/// Prints one line, prefixed `metal3-agent: `, on standard output.
pub fn say(line: impl AsRef<str>) {
    println!("metal3-agent: {}", line.as_ref());
}

/// Prints one line, prefixed `metal3-agent: error: `, on standard error.
pub fn error(line: impl AsRef<str>) {
    eprintln!("metal3-agent: error: {}", line.as_ref());
}

/// `text` with every quoted literal (`"…"` or `` `…` ``) replaced by `…`: parser messages
/// quote the values they choke on, and such a value may be a token.
pub fn redact_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    for c in text.chars() {
        match open {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if c == '"' || c == '`' {
                    open = Some(c);
                }
            }
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            redact_literals(r#"invalid type: string "s3cr3t", expected u64 at line 3"#),
            r#"invalid type: string "…", expected u64 at line 3"#
        );
        assert_eq!(
            redact_literals("invalid type: integer `42`, expected a string"),
            "invalid type: integer `…`, expected a string"
        );
        assert_eq!(redact_literals("unterminated \"abc"), "unterminated \"…");
        assert_eq!(redact_literals("nothing quoted"), "nothing quoted");
    }
}

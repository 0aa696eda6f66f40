//! A failure's fingerprint: what groups failures that are "the same":
//! the job's name, the kind of error, and its message with the parts that
//! change from job to job (numbers, ids, quoted values) taken out.

use crate::job::FailedJob;

/// The kind of error a reason tells (the worker writes these prefixes).
pub(crate) fn kind(reason: &str) -> &'static str {
    let lower = reason.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("timeout") {
        "timeout"
    } else if lower.contains("panicked") || lower.contains("panic") {
        "panic"
    } else if lower.contains("cannot be read")
        || lower.contains("not a job envelope")
        || lower.contains("cannot rebuild")
        || lower.contains("unknown")
    {
        "unreadable"
    } else if lower.contains("middleware") {
        "middleware"
    } else {
        "error"
    }
}

/// The message with what varies taken out: an id-like word (8 or more
/// letters and digits, some of them digits) becomes `*`, other runs of
/// digits `#`, quoted or back-ticked text `"…"`; spaces collapse. Only the
/// first line counts, at most 200 characters.
pub(crate) fn normalise(reason: &str) -> String {
    fn flush(word: &mut String, out: &mut String) {
        if word.is_empty() {
            return;
        }
        let has_digit = word.chars().any(|c| c.is_ascii_digit());
        if has_digit && word.len() >= 8 && word.chars().any(|c| c.is_alphabetic()) {
            out.push('*');
        } else {
            let mut digits = false;
            for c in word.chars() {
                if c.is_ascii_digit() {
                    if !digits {
                        out.push('#');
                    }
                    digits = true;
                } else {
                    digits = false;
                    out.push(c);
                }
            }
        }
        word.clear();
    }
    let first = reason.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(first.len());
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut prev_alnum = false;
    for c in first.chars() {
        let after_word = std::mem::replace(&mut prev_alnum, c.is_alphanumeric());
        if let Some(q) = quote {
            if c == q {
                quote = None;
                out.push_str("\"…\"");
            }
            continue;
        }
        if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        match c {
            '"' | '`' => quote = Some(c),
            // An apostrophe inside a word (`can't`) is no quote.
            '\'' if !after_word => quote = Some(c),
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    flush(&mut word, &mut out);
    out.trim().chars().take(200).collect()
}

/// The job's name in groups and filters.
pub(crate) fn name_of(job: &FailedJob) -> &str {
    job.payload
        .listener
        .as_deref()
        .unwrap_or(&job.payload.event)
}

/// The group key of a failure: 16 hex digits of a stable hash (FNV-1a, the
/// same in every build and on every machine) of name, kind and message.
pub fn fingerprint(job: &FailedJob) -> String {
    let text = format!(
        "{}\n{}\n{}",
        name_of(job),
        kind(&job.reason),
        normalise(&job.reason)
    );
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_varies_is_taken_out() {
        assert_eq!(
            normalise("card declined for order 7"),
            "card declined for order #"
        );
        assert_eq!(
            normalise("card declined for order 1234"),
            "card declined for order #"
        );
        assert_eq!(
            normalise("no user `alice` (id 01J9Z3K6Q8V0C2M4N6P8R0T2V4)"),
            "no user \"…\" (id *)"
        );
        assert_eq!(normalise("can't reach 'db-7'"), "can't reach \"…\"");
        assert_eq!(kind("job timed out after 30s"), "timeout");
        assert_eq!(kind("listener panicked: index out of bounds"), "panic");
        assert_eq!(kind("card declined"), "error");
    }
}

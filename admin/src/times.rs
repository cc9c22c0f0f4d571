//! Times as administrators read them: Japan Standard Time, to the second.

use time::macros::{format_description, offset};
use time::OffsetDateTime;

fn jst(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .map(|t| t.to_offset(offset!(+9)))
}

/// `2026-04-01 10:00:03` (JST), for tables.
pub fn jst_display(millis: i64) -> String {
    jst(millis)
        .and_then(|t| {
            t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
                .ok()
        })
        .unwrap_or_else(|| format!("epoch-ms {millis}"))
}

/// `2026-04-01T10:00:03+09:00`, for JSON output: readable and machine-parseable.
pub fn jst_iso(millis: i64) -> String {
    jst(millis)
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]+09:00"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("epoch-ms {millis}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_japan_time() {
        // 2026-04-01T01:00:03Z
        assert_eq!(jst_display(1_775_005_203_250), "2026-04-01 10:00:03");
        assert_eq!(jst_iso(1_775_005_203_250), "2026-04-01T10:00:03+09:00");
    }
}

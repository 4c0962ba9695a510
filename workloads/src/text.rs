//! Text helpers for error messages.

/// At most the last `max` bytes of `text`, trimmed, cut at a character boundary (`…` marks
/// a cut): the end of a tool's output, where its error is.
pub fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let start = text.len().saturating_sub(max);
    let start = (start..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    if start > 0 {
        format!("…{}", &text[start..])
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("  short \n", 100), "short");
        let t = tail("ééééé", 3);
        assert!(t.starts_with('…') && t.ends_with('é'), "{t}");
    }
}

//! Text the host prints for people comes through here: whatever a source, a component or a file put in it,
//! control characters are shown escaped, so nothing printed can forge the host's own lines, hide text with
//! a carriage return, drive a terminal with escape sequences, or reorder what a reader sees with Unicode's
//! bidirectional controls.

/// Whether `c` may change how the text around it reads rather than being read itself: a control character,
/// or one of Unicode's bidirectional formatting characters (U+202E shows what follows it backwards).
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with unsafe characters (`is_unsafe`) escaped (tabs kept), and at most `max` bytes of it.
pub fn printable(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let shown: String = text[..end].chars().map(|c| if is_unsafe(c) && c != '\t' { c.escape_default().to_string() } else { c.to_string() }).collect();
    if end < text.len() { format!("{shown}… ({} more bytes)", text.len() - end) } else { shown }
}

/// A message as one printable line: line breaks become spaces, other control characters are escaped.
pub fn one_line(text: &str) -> String {
    printable(&text.replace("\r\n", " ").replace('\n', " "), usize::MAX)
}

/// Epoch milliseconds as a UTC clock time to the second: `2026-12-04T14:05:09Z`.
pub fn clock_time(at_ms: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms.max(0) as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("ok\nbut\u{7}ééé", 9), "ok\\nbut\\u{7}é… (4 more bytes)");
        assert_eq!(printable("id\u{1b}[2J\r\0x", usize::MAX), "id\\u{1b}[2J\\r\\u{0}x");
        assert_eq!(one_line("a\nb\r\nc\u{1b}"), "a b c\\u{1b}");
        assert_eq!(printable("Ada \u{202e}txt.exe\u{2066}", usize::MAX), "Ada \\u{202e}txt.exe\\u{2066}", "bidirectional controls too");
        assert_eq!(printable("Nguyễn 李 עברית", usize::MAX), "Nguyễn 李 עברית", "right-to-left text itself is kept");
    }
}

//! What may stand in an XML 1.0 document. quick-xml escapes `<`, `&` and
//! quotes, but control characters (U+0000 to U+001F but tab, line feed and
//! carriage return; U+FFFE, U+FFFF) are not allowed in XML at all, not even
//! as character references. A value a client sent (a device name with a
//! control character, say) and the server echoes back would make the whole
//! answer unreadable; every document emlab writes goes through
//! [`well_formed`], which puts U+FFFD (the replacement character) in their
//! place.

/// Whether `c` may appear in an XML 1.0 document.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// `xml` with every character XML 1.0 forbids replaced by U+FFFD.
pub fn well_formed(xml: String) -> String {
    if xml.chars().all(allowed) {
        return xml;
    }
    xml.chars()
        .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced_and_the_rest_kept() {
        assert_eq!(
            well_formed("<a>x\u{1}y\u{1b}</a>".into()),
            "<a>x\u{FFFD}y\u{FFFD}</a>"
        );
        assert_eq!(well_formed("<a>\tok\r\n é</a>".into()), "<a>\tok\r\n é</a>");
    }
}
